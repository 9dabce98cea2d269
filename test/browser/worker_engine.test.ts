/**
 * WorkerEngine in Chromium, on a cross-origin-isolated page: the model loads from a URL in a
 * module Web Worker (with progress) and from File objects, generates Hugging Face's greedy tokens for a fixture case
 * while the page's own timers keep running, an abort ends generation in the worker, and a
 * missing model arrives as an Error with its name and a message naming the URL.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { type CaseInput, type Expected, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir, repoRoot } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import type { EngineJob, EngineReport } from "./pages/engine_page.js";
import {
  browserSkip,
  type Bundle,
  bundle,
  launchChromium,
  openPage,
  runInPage,
  startTestServer,
  type TestServer,
} from "./support/index.js";

const FIXTURE = "a_tiny_f32";

describe("WorkerEngine in Chromium", { skip: browserSkip || needsShared("fixtures"), timeout: 300_000 }, () => {
  let browser: Browser;
  let server: TestServer;
  let pages: Bundle;

  before(async () => {
    const dist = (path: string): string => resolve(repoRoot, "dist", path);
    // The engine and the backend find their workers beside the bundles that spawn them.
    pages = await bundle({
      engine_page: dist("test/browser/pages/engine_page.js"),
      engine_worker: dist("src/runtime/worker_engine/engine_worker.js"),
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

  test(`wasm, 2 threads, isolated page: fixture ${FIXTURE} through WorkerEngine`, async () => {
    const c = readFixtureJson<CaseInput[]>(`cases/${FIXTURE}.json`).find((x) => x.name === "short5")!;
    const exp = readFixtureJson<Expected>(`expected/${FIXTURE}.json`).cases.find((e) => e.name === c.name)!;
    const job: EngineJob = {
      modelUrl: `${server.origin}/fixtures/models/${FIXTURE}/`,
      files: readdirSync(join(fixturesDir, "models", FIXTURE)),
      missingUrl: `${server.origin}/fixtures/models/no_such_model/`,
      ids: c.input_ids as number[],
      maxNewTokens: c.max_new_tokens,
      threads: 2,
    };
    server.isolated = true;
    const page = await openPage(browser, `${server.origin}/`);
    try {
      const report = await runInPage(
        page.page,
        `${server.origin}/bundle/${pages.files.engine_page}`,
        (m: { runEngine(j: EngineJob): Promise<EngineReport> }, j) => m.runEngine(j),
        job,
      );
      assert.match(report.backend, /^wasm-(simd|relaxed)$/);
      assert.ok(report.progressEvents > 0, "progress events");
      assert.deepEqual(report.ids, exp.rows[0]!.greedy!.f64, `${c.name}: greedy tokens`);
      assert.deepEqual(report.fromFiles, exp.rows[0]!.greedy!.f64, `${c.name}: greedy tokens, model from File objects`);
      assert.ok(report.ticksWhileGenerating > 0, "the page's timers ran while the worker generated");
      assert.equal(report.abortedFinish, "abort");
      assert.ok(report.abortedTokens < 400, `${report.abortedTokens} tokens after the abort`);
      assert.equal(report.missing.name, "FormatError", JSON.stringify(report.missing));
      assert.ok(report.missing.message.includes("/fixtures/models/no_such_model/"), report.missing.message);
      assert.deepEqual(
        page.errors().filter((e) => !e.includes("404")),
        [],
      );
    } finally {
      await page.close();
    }
  });
});
