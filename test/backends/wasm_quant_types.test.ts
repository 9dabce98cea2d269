/**
 * The WebAssembly kernels of the GGML block types beyond Q8_0/Q4_0 (Q5_0, Q4_1, Q5_1, IQ4_NL
 * and the K-quants Q2_K..Q6_K) against the plain TypeScript references of src/tensor/quant
 * (ggml's block formats): on random weights with awkward sizes (one row, odd rows, several
 * row pairs, one and several tokens), threads 1 and 2. Runs the baseline SIMD build here and
 * the relaxed build in a child Node, as wasm_kernels.test.ts does.
 *
 * The kernels quantise activations as ggml-cpu does for each type (Q8_K for the K-quants,
 * per-32 blocks for the others) and sum exact integer products, so their result equals
 * float64 arithmetic on the dequantised weights and the dequantised activations up to float32
 * rounding of the per-block scaling (Q4_1/Q5_1: with ggml's Q8_1 block sums, kept as f16, as
 * GgmlActivationRow models them): the bound (1e-5 of the output's size) is far below what
 * one quant off by one, or a block sum not rounded to f16, would change.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { WasmBackend, relaxedSimdAvailable, RELAXED_SIMD_NODE_FLAG } from "../../src/backends/wasm/index.js";
import type { HostTensor } from "../../src/formats/weights.js";
import type { WeightQuantDType } from "../../src/tensor/dtype.js";
import { f32ToF16 } from "../../src/tensor/convert.js";
import { GgmlActivationRow, dequantize, dequantizeQ8_K, quantize, quantizeQ8_K } from "../../src/tensor/quant/index.js";
import { makeTensor, randomFloats, refMatmul, rng } from "./wasm_support.js";

const wantRelaxed = process.env.QWEN2_WASM_BUILD === "relaxed";
const threadCounts = [1, Math.min(2, availableParallelism())].filter((t, i, a) => a.indexOf(t) === i);

const LEGACY = ["q5_0", "q4_1", "q5_1", "iq4_nl"] as const;
const K_QUANTS = ["q4_k", "q6_k", "q5_k", "q3_k", "q2_k"] as const;
type Tested = (typeof LEGACY)[number] | (typeof K_QUANTS)[number];

/** GGUF bytes of random values in `dtype`, and the float values they decode to (the reference's dequantisation). */
function quantTensor(
  name: string,
  dtype: Tested,
  shape: [number, number],
  rand: () => number,
): { tensor: HostTensor; exact: Float32Array } {
  const n = shape[0] * shape[1];
  let data: Uint8Array;
  if (dtype === "iq4_nl") {
    // No quantiser of ours writes IQ4_NL: random table indices under a random f16 scale.
    data = new Uint8Array((n / 32) * 18);
    for (let b = 0; b < n / 32; b++) {
      const h = f32ToF16(0.002 + rand() * 0.01);
      data[b * 18] = h & 0xff;
      data[b * 18 + 1] = h >> 8;
      for (let j = 0; j < 16; j++) data[b * 18 + 2 + j] = Math.floor(rand() * 256);
    }
  } else {
    data = quantize(dtype, randomFloats(n, rand));
  }
  return { tensor: { name, dtype, shape, data }, exact: dequantize(dtype, data, n) };
}

/** The activations the K-quant kernels see: ggml's Q8_K of x, decoded. */
function q8kActivations(x: Float32Array): Float32Array {
  return dequantizeQ8_K(quantizeQ8_K(x), x.length);
}

/** out [n, N] as ggml's vec_dot computes it from its activation blocks (GgmlActivationRow), in float64. */
function ggmlProducts(
  dtype: Tested,
  blocks: Uint8Array,
  w: Float32Array,
  bias: Float32Array,
  x: Float32Array,
  n: number,
  K: number,
  N: number,
): Float64Array {
  const out = new Float64Array(n * N);
  const rowBytes = blocks.length / N;
  for (let i = 0; i < n; i++) {
    const act = new GgmlActivationRow(dtype, x.subarray(i * K, (i + 1) * K));
    for (let o = 0; o < N; o++) out[i * N + o] = bias[o]! + act.dot(w.subarray(o * K, (o + 1) * K), blocks.subarray(o * rowBytes, (o + 1) * rowBytes));
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const threads of threadCounts) {
  test(`wasm kernels of the GGML block types (${wantRelaxed ? "relaxed" : "simd"}, ${threads} thread${threads > 1 ? "s" : ""})`, async (t) => {
    const be = await WasmBackend.create({ threads, relaxed: wantRelaxed });
    t.after(() => be.dispose());
    const rand = rng(7000 + threads);

    await t.test("matmul against dequantised weights and ggml-quantised activations", async () => {
      const shapes = (block: number): [number, number, number][] =>
        block === 256
          ? [
              [1, 256, 1],
              [7, 512, 3],
              [10, 768, 4],
              [5, 256, 2],
              [6, 1024, 5],
              // The four-token prefill tile with every remainder (n mod 4), odd row counts.
              [3, 512, 8],
              [9, 256, 9],
              [4, 768, 6],
              [11, 512, 7],
            ]
          : [
              [1, 96, 1],
              [7, 160, 3],
              [10, 224, 4],
              [5, 32, 2],
              [9, 288, 5],
              [3, 160, 8],
              [11, 96, 9],
              [4, 256, 6],
              [7, 128, 7],
            ];
      for (const dtype of [...K_QUANTS, ...LEGACY]) {
        const kq = dtype.endsWith("_k");
        for (const [N, K, n] of shapes(kq ? 256 : 32)) {
          const { tensor, exact } = quantTensor("w", dtype, [N, K], rand);
          const w = await be.upload(tensor);
          const biasV = randomFloats(N, rand);
          const bias = await be.upload(makeTensor("b", "f32", [N], biasV).tensor);
          const xv = randomFloats(n * K, rand, 2);
          const x = be.alloc(n, K);
          const out = be.alloc(n + 1, N);
          be.write(x, xv);
          be.matmul(out, x, w, bias, n);
          const got = await be.read(out, 0, n);
          // K-quants: Q8_K activations; the 32-weight types: ggml's exact activation rows,
          // whose products include Q4_1/Q5_1's Q8_1 block sums as f16.
          const want = kq ? refMatmul(q8kActivations(xv), exact, biasV, n, K, N) : ggmlProducts(dtype, tensor.data, exact, biasV, xv, n, K, N);
          const bound = 1e-5 * (1 + maxAbs(want));
          assert.ok(maxDiff(got, want) <= bound, `${dtype} N=${N} K=${K} n=${n}: max diff ${maxDiff(got, want)} (bound ${bound})`);
          // The row past n is left alone.
          assert.ok(
            (await be.read(out, n, 1)).every((v) => v === 0),
            `${dtype}: wrote past n`,
          );
          for (const m of [x, out, w, bias]) be.free(m);
        }
      }
    });

    await t.test("K-quant products do not depend on the tile: n tokens at once equal one at a time, bit for bit", async () => {
      // The four-token, two-token and one-token tiles make the same float operations per
      // output (exact integer sums per super-block, one multiply-add per super-block), so a
      // prompt's logits equal those of decoding its tokens one by one.
      // n = 9: two four-token tiles and a one-token remainder; n = 3: the two-token tile and a
      // remainder; one at a time: the decode kernel.
      for (const [dtype, n] of K_QUANTS.flatMap((d) => [[d, 9] as const, [d, 3] as const])) {
        const [N, K] = [7, 768];
        const { tensor } = quantTensor("w", dtype, [N, K], rand);
        const w = await be.upload(tensor);
        const xv = randomFloats(n * K, rand, 3);
        const x = be.alloc(n, K);
        const out = be.alloc(n, N);
        be.write(x, xv);
        be.matmul(out, x, w, null, n);
        const all = await be.read(out);
        const x1 = be.alloc(1, K);
        const o1 = be.alloc(1, N);
        for (let i = 0; i < n; i++) {
          be.write(x1, xv.subarray(i * K, (i + 1) * K));
          be.matmul(o1, x1, w, null, 1);
          const one = await be.read(o1);
          for (let r = 0; r < N; r++) {
            if (!Object.is(one[r], all[i * N + r])) assert.fail(`${dtype} token ${i} row ${r}: ${all[i * N + r]} in a batch of ${n}, ${one[r]} alone`);
          }
        }
        for (const m of [x, out, x1, o1, w]) be.free(m);
      }
    });

    await t.test("embed returns the reference's dequantised rows bit for bit", async () => {
      for (const dtype of [...K_QUANTS, ...LEGACY]) {
        const vocab = 9;
        const dim = dtype.endsWith("_k") ? 512 : 160;
        const { tensor, exact } = quantTensor("emb", dtype, [vocab, dim], rand);
        const table = await be.upload(tensor);
        const ids = Int32Array.from([8, 0, 3, 3, 7, 1]);
        const out = be.alloc(ids.length, dim);
        be.embed(out, table, ids);
        const got = await be.read(out);
        ids.forEach((id, i) => {
          for (let j = 0; j < dim; j++) {
            if (!Object.is(got[i * dim + j], exact[id * dim + j]))
              assert.fail(`${dtype}: row ${id} element ${j}: ${got[i * dim + j]} != ${exact[id * dim + j]}`);
          }
        });
        be.free(out);
        be.free(table);
      }
    });

    await t.test("K-quant rows that are not whole super-blocks are refused by name", async () => {
      const bad: HostTensor = {
        name: "blk.0.ffn_down.weight",
        dtype: "q4_k" as WeightQuantDType,
        shape: [2, 288],
        data: new Uint8Array(0),
      };
      await assert.rejects(be.upload(bad), /blk\.0\.ffn_down\.weight is q4_k with 288 columns, not a multiple of 256/);
    });
  });
}

test("relaxed SIMD build of the GGML block types in a child Node", { skip: wantRelaxed }, () => {
  const args = relaxedSimdAvailable() ? [] : [RELAXED_SIMD_NODE_FLAG];
  const child = spawnSync(process.execPath, [...args, "--test", fileURLToPath(import.meta.url)], {
    env: { ...process.env, QWEN2_WASM_BUILD: "relaxed" },
    encoding: "utf8",
  });
  assert.equal(child.status, 0, `relaxed run failed:\n${child.stdout}\n${child.stderr}`);
});
