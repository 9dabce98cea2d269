/**
 * WorkerEngine in Chromium, on a cross-origin-isolated page: the model loads from a URL in a
 * module Web Worker (with progress) and from File objects, generates Hugging Face's greedy tokens for a fixture case
 * while the page's own timers keep running, an abort ends generation in the worker, and a
 * missing model arrives as an Error with its name and a message naming the URL.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type CaseInput, type Expected, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import type { EngineJob, EngineReport } from "./pages/engine_page.js";
import { browserSkip, openPage, pageSuite, runInPage } from "./support/index.js";

const FIXTURE = "a_tiny_f32";

describe("WorkerEngine in Chromium", { skip: browserSkip || needsShared("fixtures"), timeout: 300_000 }, () => {
  // The engine and the backend find their workers beside the bundles that spawn them.
  const s = pageSuite(
    {
      engine_page: "test/browser/pages/engine_page.js",
      engine_worker: "src/runtime/worker_engine/engine_worker.js",
      worker: "src/backends/wasm/worker.js",
    },
    { mounts: { "/fixtures/": fixturesDir } },
  );

  test("the bundles import no Node built-in", () => {
    assert.deepEqual(s.pages.nodeImports, []);
  });

  test(`wasm, 2 threads, isolated page: fixture ${FIXTURE} through WorkerEngine`, async () => {
    const c = readFixtureJson<CaseInput[]>(`cases/${FIXTURE}.json`).find((x) => x.name === "short5")!;
    const exp = readFixtureJson<Expected>(`expected/${FIXTURE}.json`).cases.find((e) => e.name === c.name)!;
    const job: EngineJob = {
      modelUrl: `${s.server.origin}/fixtures/models/${FIXTURE}/`,
      files: readdirSync(join(fixturesDir, "models", FIXTURE)),
      missingUrl: `${s.server.origin}/fixtures/models/no_such_model/`,
      ids: c.input_ids as number[],
      maxNewTokens: c.max_new_tokens,
      threads: 2,
    };
    s.server.isolated = true;
    const page = await openPage(s.browser, `${s.server.origin}/`);
    try {
      const report = await runInPage(
        page.page,
        `${s.server.origin}/bundle/${s.pages.files.engine_page}`,
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
