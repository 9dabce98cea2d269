/**
 * The wasm backend's threads in Chromium: in a module Web Worker on a cross-origin-isolated
 * page it runs two compute threads (Web Workers sharing one WebAssembly.Memory); on a page
 * without COOP/COEP it runs one thread on an ordinary memory and warns once, naming the
 * headers; on an isolated page's main thread (which may not block, and need not: it only
 * awaits the compute workers) it runs two threads without a warning. Every run computes
 * matrix products within float32 rounding of float64.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { browserSkip, openPage, pageSuite, runInPage, type TestPage } from "./support/index.js";

interface ProbeResult {
  name: string;
  threads: number;
  maxDiff: number;
}
interface ProbeModule {
  probe(threads?: number): Promise<ProbeResult>;
  probeInWorker(threads?: number): Promise<ProbeResult>;
}

const COOP = "Cross-Origin-Opener-Policy: same-origin";
const COEP = "Cross-Origin-Embedder-Policy: require-corp";

describe("wasm backend threads in Chromium", { skip: browserSkip, timeout: 180_000 }, () => {
  // The backend finds its compute worker as worker.js beside the bundle that creates it.
  const s = pageSuite({
    wasm_probe: "test/browser/pages/wasm_probe.js",
    wasm_probe_worker: "test/browser/pages/wasm_probe_worker.js",
    worker: "src/backends/wasm/worker.js",
  });

  async function run(
    isolated: boolean,
    fn: (m: ProbeModule, threads: number | null) => Promise<ProbeResult>,
    threads: number | null,
  ): Promise<{ result: ProbeResult; page: TestPage }> {
    s.server.isolated = isolated;
    const page = await openPage(s.browser, `${s.server.origin}/`);
    const result = await runInPage(page.page, `${s.server.origin}/bundle/${s.pages.files.wasm_probe}`, fn, threads);
    return { result, page };
  }
  const warnings = (p: TestPage): string[] => p.console.filter((m) => m.type === "warning").map((m) => m.text);

  test("the bundles import no Node built-in", () => {
    assert.deepEqual(s.pages.nodeImports, []);
  });

  test("isolated page, in a Worker: two threads sharing one memory, no warning", async () => {
    const { result, page } = await run(true, (m, t) => m.probeInWorker(t ?? undefined), 2);
    try {
      assert.match(result.name, /^wasm-(simd|relaxed)$/);
      assert.equal(result.threads, 2);
      assert.ok(result.maxDiff < 1e-4, `max difference from float64: ${result.maxDiff}`);
      assert.deepEqual(warnings(page), []);
      assert.deepEqual(page.errors(), []);
    } finally {
      await page.close();
    }
  });

  test("page without COOP/COEP: one thread and one warning naming both headers", async () => {
    const { result, page } = await run(
      false,
      async (m, t) => [await m.probeInWorker(t ?? undefined), await m.probeInWorker(t ?? undefined)][1]!,
      2,
    );
    try {
      assert.equal(result.threads, 1);
      assert.ok(result.maxDiff < 1e-4, `max difference from float64: ${result.maxDiff}`);
      // Two backends in two workers, one warning each (one per JavaScript realm).
      const w = warnings(page);
      assert.equal(w.length, 2, JSON.stringify(w));
      for (const text of w) {
        assert.ok(text.includes(COOP) && text.includes(COEP), text);
      }
      assert.deepEqual(page.errors(), []);
    } finally {
      await page.close();
    }
  });

  test("an isolated page's main thread: two threads (it only awaits the workers), no warning", async () => {
    const { result, page } = await run(true, (m, t) => m.probe(t ?? undefined), 2);
    try {
      assert.equal(result.threads, 2);
      assert.ok(result.maxDiff < 1e-4, `max difference from float64: ${result.maxDiff}`);
      assert.deepEqual(warnings(page), []);
      assert.deepEqual(page.errors(), []);
    } finally {
      await page.close();
    }
  });
});
