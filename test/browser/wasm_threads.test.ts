/**
 * The wasm backend's threads in Chromium: in a module Web Worker on a cross-origin-isolated
 * page it runs two compute threads (Web Workers sharing one WebAssembly.Memory); on a page
 * without COOP/COEP it runs one thread on an ordinary memory and warns once, naming the
 * headers; on the page's main thread it runs one thread and says why. Every run computes
 * matrix products within float32 rounding of float64.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { repoRoot } from "../support/paths.js";
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
  let browser: Browser;
  let server: TestServer;
  let pages: Bundle;

  before(async () => {
    const dist = (path: string): string => resolve(repoRoot, "dist", path);
    // The backend finds its compute worker as worker.js beside the bundle that creates it.
    pages = await bundle({
      wasm_probe: dist("test/browser/pages/wasm_probe.js"),
      wasm_probe_worker: dist("test/browser/pages/wasm_probe_worker.js"),
      worker: dist("src/backends/wasm/worker.js"),
    });
    [browser, server] = await Promise.all([launchChromium(), startTestServer({ mounts: { "/bundle/": pages.dir } })]);
    // Chromium asks for a favicon; its 404 would read as a console error.
    server.route("/favicon.ico", (_req, res) => void res.writeHead(204).end());
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    pages?.dispose();
  });

  async function run(
    isolated: boolean,
    fn: (m: ProbeModule, threads: number | null) => Promise<ProbeResult>,
    threads: number | null,
  ): Promise<{ result: ProbeResult; page: TestPage }> {
    server.isolated = isolated;
    const page = await openPage(browser, `${server.origin}/`);
    const result = await runInPage(page.page, `${server.origin}/bundle/${pages.files.wasm_probe}`, fn, threads);
    return { result, page };
  }
  const warnings = (p: TestPage): string[] => p.console.filter((m) => m.type === "warning").map((m) => m.text);

  test("the bundles import no Node built-in", () => {
    assert.deepEqual(pages.nodeImports, []);
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

  test("the page's main thread: one thread, with a warning that it may not block", async () => {
    const { result, page } = await run(true, (m) => m.probe(), null);
    try {
      assert.equal(result.threads, 1);
      assert.ok(result.maxDiff < 1e-4);
      const w = warnings(page);
      assert.equal(w.length, 1, JSON.stringify(w));
      assert.match(w[0]!, /main thread.*Atomics\.wait.*WorkerEngine/);
    } finally {
      await page.close();
    }
  });
});
