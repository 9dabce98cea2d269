/**
 * Every model fixture (QWEN2_FIXTURES, default ../shared/fixtures/qwen2) on the wasm backend in
 * Chromium, inside a module Web Worker: multi-threaded on a cross-origin-isolated page (two
 * compute threads sharing one memory) and single-threaded on a page without COOP/COEP (one
 * warning naming the headers). Per case, as in Node (test/backends/wasm_fixtures.test.ts):
 * last-position logits within 1e-4 of Hugging Face's float64 ones, full logits where given,
 * and every greedy token.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { type CaseInput, type Expected, loadManifest, maxAbsDiff, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir, repoRoot } from "../support/paths.js";
import type { FixtureJob, FixtureResult } from "./pages/fixture_page.js";
import {
  browserSkip,
  type Bundle,
  bundle,
  launchChromium,
  openPage,
  runInPage,
  startTestServer,
  type TestPage,
  type TestServer,
} from "./support/index.js";

const TOL = 1e-4;
const manifest = loadManifest();

const MODES = [
  { title: "wasm, 2 threads, isolated page", isolated: true, threads: 2 },
  { title: "wasm, 1 thread, page not isolated", isolated: false, threads: 1 },
] as const;

describe("model fixtures in Chromium", { skip: browserSkip || (manifest.length === 0 && "no fixtures"), timeout: 600_000 }, () => {
  let browser: Browser;
  let server: TestServer;
  let pages: Bundle;

  before(async () => {
    const dist = (path: string): string => resolve(repoRoot, "dist", path);
    // The backend finds its compute worker as worker.js beside the bundle that creates it.
    pages = await bundle({
      fixture_page: dist("test/browser/pages/fixture_page.js"),
      fixture_worker: dist("test/browser/pages/fixture_worker.js"),
      worker: dist("src/backends/wasm/worker.js"),
    });
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestServer({ mounts: { "/bundle/": pages.dir, "/fixtures/": fixturesDir } }),
    ]);
    server.route("/favicon.ico", (_req, res) => void res.writeHead(204).end());
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    pages?.dispose();
  });

  test("the bundles import no Node built-in", () => {
    assert.deepEqual(pages.nodeImports, []);
  });

  for (const mode of MODES) {
    describe(mode.title, () => {
      let page: TestPage;
      before(async () => {
        server.isolated = mode.isolated;
        page = await openPage(browser, `${server.origin}/`);
      });
      after(() => page?.close());

      for (const fx of manifest) {
        test(`${mode.title}: fixture ${fx.name}`, async () => {
          const cases = readFixtureJson<CaseInput[]>(fx.cases);
          const expected = readFixtureJson<Expected>(fx.expected);
          const job: FixtureJob = {
            folderUrl: `${server.origin}/fixtures/${fx.model}/`,
            files: readdirSync(join(fixturesDir, fx.model)),
            cases,
            fullLogits: expected.cases.filter((e) => e.rows.some((r) => r.full_logits)).map((e) => e.name),
            // Ask for two everywhere: the page without COOP/COEP must fall back to one by itself.
            threads: 2,
          };
          const warningsBefore = page.console.filter((m) => m.type === "warning").length;
          const result = await runInPage(
            page.page,
            `${server.origin}/bundle/${pages.files.fixture_page}`,
            (m: { runFixture(j: FixtureJob): Promise<FixtureResult> }, j) => m.runFixture(j),
            job,
            300_000,
          );

          assert.match(result.backend, /^wasm-(simd|relaxed)$/);
          assert.equal(result.threads, mode.threads);
          const warnings = page.console
            .filter((m) => m.type === "warning")
            .slice(warningsBefore)
            .map((m) => m.text);
          if (mode.isolated) assert.deepEqual(warnings, []);
          else {
            assert.equal(warnings.length, 1, JSON.stringify(warnings));
            assert.ok(
              warnings[0]!.includes("Cross-Origin-Opener-Policy: same-origin") &&
                warnings[0]!.includes("Cross-Origin-Embedder-Policy: require-corp"),
              warnings[0],
            );
          }
          assert.deepEqual(page.errors(), []);

          for (const c of cases) {
            const got = result.cases.find((r) => r.name === c.name)!;
            const exp = expected.cases.find((e) => e.name === c.name)!;
            for (const row of exp.rows) {
              const d = maxAbsDiff(got.last[row.row]!, row.last_logits.f64);
              assert.ok(d <= TOL, `${c.name} row ${row.row}: last logits differ from f64 by ${d}`);
              row.full_logits?.f64.forEach((want, p) => {
                const dp = maxAbsDiff(got.full![row.row]![p]!, want);
                assert.ok(dp <= TOL, `${c.name} row ${row.row} position ${p}: logits differ by ${dp}`);
              });
              if (c.max_new_tokens > 0) assert.deepEqual(got.tokens[row.row], row.greedy!.f64, `${c.name} row ${row.row}: greedy tokens`);
            }
          }
        });
      }
    });
  }
});
