/**
 * Every WebGPU kernel against the reference backend in Chromium on SwiftShader (WebGPU in
 * software: no GPU on this machine): matrix products in every weight dtype (matrix-vector and
 * tiled), embedding lookups, weights split across buffers by a lowered limit, RMSNorm, RoPE,
 * SwiGLU/add in every aliasing, row copies, and attention over wrapping sliding-window rings.
 * Then a lost device: an error, not a hang.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KernelReport } from "./pages/webgpu_kernels_page.js";
import { browserSkip, openPage, pageSuite, runInPage, type TestPage } from "./support/index.js";

/** Float32 sums in another order than the reference's float64 ones: ~1e-6 on these sizes. */
const TOL = 1e-4;

type KernelsModule = typeof import("./pages/webgpu_kernels_page.js");

describe("webgpu kernels vs the reference backend (Chromium, SwiftShader)", { skip: browserSkip, timeout: 300_000 }, () => {
  const s = pageSuite({ webgpu_kernels_page: "test/browser/pages/webgpu_kernels_page.js" }, { webgpu: true });
  let page: TestPage;
  let report: KernelReport;
  before(async () => {
    page = await openPage(s.browser, `${s.server.origin}/`);
    report = await runInPage(
      page.page,
      `${s.server.origin}/bundle/${s.pages.files.webgpu_kernels_page}`,
      (m: KernelsModule) => m.runKernelChecks(),
      null,
      240_000,
    );
  });
  after(() => page?.close());

  test("webgpu: every kernel matches the reference within 1e-4", () => {
    assert.ok(report.cases.length > 100, `only ${report.cases.length} cases ran`);
    const bad = report.cases.filter((c) => !(c.diff <= TOL));
    assert.deepEqual(bad, [], `adapter ${report.adapter}`);
    assert.deepEqual(page.errors(), []);
  });

  test("webgpu: a weight over the buffer limit is split by rows and still matches", () => {
    assert.ok(report.splitParts.length > 0);
    for (const parts of report.splitParts) assert.ok(parts > 1, `a weight of 75 rows under a 1 KiB limit took ${parts} part(s)`);
  });

  test("webgpu: a lost device is an error, not a hang", async () => {
    const r = await runInPage(
      page.page,
      `${s.server.origin}/bundle/${s.pages.files.webgpu_kernels_page}`,
      (m: KernelsModule) => m.checkDeviceLoss(),
      null,
      60_000,
    );
    assert.match(r.readError, /device lost/i);
    assert.match(r.opError, /device lost/i);
  });
});
