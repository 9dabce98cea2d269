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
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaseInput, type Expected, loadManifest, maxAbsDiff, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir } from "../support/paths.js";
import type { FixtureJob, FixtureResult } from "./pages/fixture_page.js";
import { browserSkip, openPage, pageSuite, runInPage, type TestPage } from "./support/index.js";

const TOL = 1e-4;
const manifest = loadManifest();

const MODES = [
  { title: "wasm, 2 threads, isolated page", isolated: true, threads: 2 },
  { title: "wasm, 1 thread, page not isolated", isolated: false, threads: 1 },
] as const;

describe("model fixtures in Chromium", { skip: browserSkip || (manifest.length === 0 && "no fixtures"), timeout: 600_000 }, () => {
  // The backend finds its compute worker as worker.js beside the bundle that creates it.
  const s = pageSuite(
    {
      fixture_page: "test/browser/pages/fixture_page.js",
      fixture_worker: "test/browser/pages/fixture_worker.js",
      worker: "src/backends/wasm/worker.js",
    },
    { mounts: { "/fixtures/": fixturesDir } },
  );

  test("the bundles import no Node built-in", () => {
    assert.deepEqual(s.pages.nodeImports, []);
  });

  for (const mode of MODES) {
    describe(mode.title, () => {
      let page: TestPage;
      before(async () => {
        s.server.isolated = mode.isolated;
        page = await openPage(s.browser, `${s.server.origin}/`);
      });
      after(() => page?.close());

      for (const fx of manifest) {
        test(`${mode.title}: fixture ${fx.name}`, async () => {
          const cases = readFixtureJson<CaseInput[]>(fx.cases);
          const expected = readFixtureJson<Expected>(fx.expected);
          const job: FixtureJob = {
            folderUrl: `${s.server.origin}/fixtures/${fx.model}/`,
            files: readdirSync(join(fixturesDir, fx.model)),
            cases,
            fullLogits: expected.cases.filter((e) => e.rows.some((r) => r.full_logits)).map((e) => e.name),
            // Ask for two everywhere: the page without COOP/COEP must fall back to one by itself.
            threads: 2,
          };
          const warningsBefore = page.console.filter((m) => m.type === "warning").length;
          const result = await runInPage(
            page.page,
            `${s.server.origin}/bundle/${s.pages.files.fixture_page}`,
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
