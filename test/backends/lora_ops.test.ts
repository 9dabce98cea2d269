/**
 * The ops a LoRA delta uses, on the reference and wasm backends with awkward sizes:
 * addScaledRows (scatter-add, bit-equal across backends: one rounding per sum) and matrix
 * products with the thin shapes of A [r, in] and B [out, r] (r = 1..5 columns: SIMD tails only).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { makeTensor, maxAbsDiff, randomFloats, refMatmul, rng } from "./wasm_support.js";

const backends: [string, () => Promise<Backend>][] = [
  ["reference", async () => new ReferenceBackend()],
  ["wasm", () => WasmBackend.create({ threads: 2 })],
];

for (const [name, make] of backends) {
  test(`${name} backend: addScaledRows and LoRA-thin matmuls`, async (t) => {
    const be = await make();
    t.after(() => be.dispose());
    const rand = rng(77);

    await t.test("addScaledRows: out[rows[i]] += scale * x[i], other rows untouched", async () => {
      for (const [rowsOut, cols, picked] of [
        [1, 7, [0]],
        [5, 33, [4, 0, 2]],
        [9, 64, [8, 7, 6, 5, 4, 3, 2, 1, 0]],
      ] as const) {
        const outV = randomFloats(rowsOut * cols, rand, 3);
        const xV = randomFloats(picked.length * cols, rand);
        const out = be.alloc(rowsOut, cols);
        const x = be.alloc(picked.length, cols);
        be.write(out, outV);
        be.write(x, xV);
        const scale = 1.7320508;
        be.addScaledRows(out, x, Int32Array.from(picked), scale);
        const want = Float32Array.from(outV);
        picked.forEach((r, i) => {
          for (let k = 0; k < cols; k++) want[r * cols + k] = outV[r * cols + k]! + scale * xV[i * cols + k]!;
        });
        assert.deepEqual(await be.read(out), want, `rows ${rowsOut} cols ${cols}`);
        assert.throws(() => be.addScaledRows(out, x, Int32Array.from([rowsOut]), 1), /outside/);
        assert.throws(() => be.addScaledRows(out, out, Int32Array.from([0]), 1), /alias|addScaledRows/);
        be.free(out);
        be.free(x);
      }
    });

    await t.test("matmul with thin weights: A [r, in] and B [out, r]", async () => {
      for (const r of [1, 2, 3, 4, 5]) {
        for (const [N, K] of [
          [r, 45],
          [37, r],
        ] as const) {
          const n = 3;
          const { tensor, exact } = makeTensor("w", "f32", [N, K], randomFloats(N * K, rand));
          const w = await be.upload(tensor);
          const xV = randomFloats(n * K, rand);
          const x = be.alloc(n, K);
          const out = be.alloc(n, N);
          be.write(x, xV);
          be.matmul(out, x, w, null, n);
          const d = maxAbsDiff(await be.read(out), refMatmul(xV, exact, null, n, K, N));
          assert.ok(d < 1e-5, `[${N}, ${K}] by ${n} rows: differs by ${d}`);
          for (const m of [w, x, out]) be.free(m);
        }
      }
    });
  });
}
