/**
 * The WebGPU backend under Node through the `webgpu` npm package (Dawn), where it is installed
 * and finds an adapter: a Q8_0 matrix product against the reference backend.
 * Skipped with the reason otherwise (on this project's CI machine Dawn finds no adapter: no
 * Vulkan driver), so the browser tests in test/browser/webgpu_*.test.ts are the proof.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WebGPUBackend } from "../../src/backends/webgpu/index.js";
import type { GPULike } from "../../src/backends/webgpu/gpu_types.js";
import { findAdapter } from "../../src/backends/webgpu/device.js";
import { makeTensor, maxAbsDiff, randomFloats, rng } from "./wasm_support.js";

async function nodeGpu(): Promise<{ gpu: GPULike } | { reason: string }> {
  let mod: { create(flags: string[]): GPULike; globals: Record<string, unknown> };
  try {
    mod = (await import("webgpu" as string)) as typeof mod;
  } catch {
    return { reason: "the `webgpu` npm package (Dawn for Node) is not installed: WebGPU under Node skipped" };
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  const found = await findAdapter({ gpu });
  return "reason" in found
    ? { reason: `the \`webgpu\` package finds no adapter here (${found.reason}): WebGPU under Node skipped` }
    : { gpu };
}

const found = await nodeGpu();

test("webgpu under Node (Dawn): a Q8_0 matmul matches the reference", { skip: "reason" in found && found.reason }, async () => {
  if (!("gpu" in found)) return;
  const gpu = await WebGPUBackend.create({ gpu: found.gpu });
  const ref = new ReferenceBackend();
  const rand = rng(7);
  try {
    const w = makeTensor("w", "q8_0", [33, 96], randomFloats(33 * 96, rand)).tensor;
    const xv = randomFloats(3 * 96, rand);
    const run = async (b: ReferenceBackend | WebGPUBackend) => {
      const x = b.alloc(3, 96);
      const out = b.alloc(3, 33);
      b.write(x, xv);
      b.matmul(out, x, await b.upload(w), null, 3);
      return b.read(out);
    };
    assert.ok(maxAbsDiff(await run(gpu), await run(ref)) <= 1e-4);
  } finally {
    gpu.dispose();
  }
});
