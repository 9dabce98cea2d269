/**
 * The exact activation-quantisation reference (tensor/quant/ggml_activations.ts): its Q8_0,
 * Q8_1 and Q8_K activation blocks are ggml-cpu's own bytes (libggml-cpu's AVX2 build through
 * koffi, skipped when absent), its products are ggml's `vec_dot`s to float rounding, and the
 * wasm kernels match it on every weight type we multiply.
 *
 * The tolerance: a product is a sum of per-block terms, each an exact integer dot times
 * float32 scales. Two implementations of it differ only in the float32 rounding of those
 * scalings and of the sum over blocks: with K ≤ 512 (≤ 16 blocks) that is a few dozen
 * roundings of 2⁻²⁴ ≈ 6e-8, each at most of the size of max|w|·Σ|a| (Q4_1/K-quant mins
 * included, as |min| ≤ max|w| and |d·q| ≤ 2·max|w|), so 1e-5 · max|w| · Σ|a| holds with room.
 * What it excludes: one activation quant one step off moves the result by |w_j|·d ≈
 * max|w|·amax/127, about 1/(127·K/2) of max|w|·Σ|a| (6e-5 at K = 256), and an activation
 * scale kept as float32 instead of ggml's f16 moves every block term by up to 2⁻¹².
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WasmBackend, relaxedSimdAvailable } from "../../src/backends/wasm/index.js";
import type { Backend } from "../../src/backends/ops.js";
import type { WeightQuantDType } from "../../src/tensor/dtype.js";
import {
  GgmlActivationRow,
  Q8_1_BLOCK_BYTES,
  Q8_K_BLOCK_BYTES,
  activationFormat,
  dequantize,
  quantize,
  quantizeActivationsQ8_0,
  quantizeActivationsQ8_1,
  quantizeQ8_K,
  type WritableQuantDType,
} from "../../src/tensor/quant/index.js";
import { type GgmlCpu, type GgmlTypeName, ggmlCpuSkipReason, loadGgmlCpu } from "../../bench/ggml.js";

const TOL = 1e-5;
const TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"] as const satisfies readonly (WeightQuantDType & WritableQuantDType)[];
const GGML_NAME: Record<string, GgmlTypeName> = {
  q8_0: "q8_0",
  q4_0: "q4_0",
  q4_1: "q4_1",
  q5_0: "q5_0",
  q5_1: "q5_1",
  iq4_nl: "iq4_nl",
  q2_k: "q2_K",
  q3_k: "q3_K",
  q4_k: "q4_K",
  q5_k: "q5_K",
  q6_k: "q6_K",
};

/** Deterministic values in [-scale, scale) with some exact ties for the rounding rule. */
function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

let cpu: GgmlCpu | null = null;
let cpuMissing = "";
before(() => {
  cpuMissing = ggmlCpuSkipReason() ?? "";
  if (!cpuMissing) cpu = loadGgmlCpu();
});

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

test("activations quantised as ggml-cpu's quantize_row_q8_0 / q8_1 / q8_K (AVX2), byte for byte, ties included", (t) => {
  if (!cpu) return t.skip(cpuMissing);
  // Block 0 has amax 127, so 127/amax = 1 and the halves stay halves: roundf and
  // round-half-even disagree on 0.5, 2.5, -1.5.
  const ties = new Float32Array(512);
  ties.set([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 100.5, -126.5]);
  for (const x of [values(512, 1), values(512, 2, 30), ties]) {
    assert.deepEqual(quantizeActivationsQ8_0(x), cpu.quantizeRow("q8_0", x, (512 / 32) * 34), "q8_0");
    assert.deepEqual(quantizeActivationsQ8_1(x), cpu.quantizeRow("q8_1", x, (512 / 32) * Q8_1_BLOCK_BYTES), "q8_1");
    assert.deepEqual(quantizeQ8_K(x), cpu.quantizeRow("q8_K", x, 2 * Q8_K_BLOCK_BYTES), "q8_K");
  }
});

test("GgmlActivationRow.dot equals ggml-cpu's vec_dot for every weight type to float rounding", (t) => {
  if (!cpu) return t.skip(cpuMissing);
  const K = 512;
  for (const dtype of TYPES) {
    for (let trial = 0; trial < 4; trial++) {
      const w = values(K, 100 + trial, 0.3);
      const x = values(K, 200 + trial, 2 + trial);
      const blocks = quantize(dtype, w);
      const row = new GgmlActivationRow(dtype, x);
      const wd = dequantize(dtype, blocks, K);
      const ours = row.dot(wd, blocks);
      const fmt = activationFormat(dtype);
      const size = fmt === "q8_0" ? 34 : fmt === "q8_1" ? Q8_1_BLOCK_BYTES : Q8_K_BLOCK_BYTES;
      const blockValues = fmt === "q8_k" ? 256 : 32;
      const act = cpu.quantizeRow(fmt === "q8_k" ? "q8_K" : fmt, x, (K / blockValues) * size);
      const theirs = cpu.vecDot(GGML_NAME[dtype]!, fmt === "q8_k" ? "q8_K" : fmt, K, blocks, act);
      const bound = TOL * maxAbs(wd) * row.absSum;
      assert.ok(Math.abs(ours - theirs) <= bound, `${dtype} trial ${trial}: ${ours} vs ggml ${theirs} (bound ${bound})`);
    }
  }
});

/** out [n, N] of one matmul on `backend`: weights of `dtype` [N, K], activations x [n, K]. */
async function product(backend: Backend, dtype: WeightQuantDType, w: Float32Array, N: number, K: number, x: Float32Array, n: number): Promise<Float32Array> {
  const weight = await backend.upload({ name: `w.${dtype}`, dtype, shape: [N, K], data: quantize(dtype as WritableQuantDType, w) });
  const xm = backend.alloc(n, K);
  const out = backend.alloc(n, N);
  backend.write(xm, x);
  backend.matmul(out, xm, weight, null, n);
  const result = await backend.read(out);
  backend.free(xm);
  backend.free(out);
  backend.free(weight);
  return result;
}

for (const relaxed of relaxedSimdAvailable() ? [false, true] : [false]) {
  test(`wasm ${relaxed ? "relaxed" : "baseline"} quantised matmuls equal the reference backend with ggml activations within ${TOL} · max|w| · Σ|a|`, async () => {
    const wasm = await WasmBackend.create({ threads: 1, relaxed });
    const ref = new ReferenceBackend({ activations: "ggml" });
    try {
      const K = 512;
      const N = 7; // odd: the last row pair is half empty
      for (const dtype of TYPES) {
        const w = values(N * K, 7, 0.5);
        // n = 1 and 3: the one-token kernel; 2, 3: the two-token tile; 4, 5: the four-token tile.
        for (const n of [1, 2, 3, 4, 5]) {
          // Rows of very different ranges, so the per-block scales matter.
          const x = values(n * K, 11 + n, 4);
          for (let i = 0; i < n * K; i++) if ((i >> 5) % 3 === 1) x[i] = x[i]! * 0.01;
          const got = await product(wasm, dtype, w, N, K, x, n);
          const want = await product(ref, dtype, w, N, K, x, n);
          const blocks = quantize(dtype as WritableQuantDType, w);
          const wd = dequantize(dtype, blocks, N * K);
          for (let i = 0; i < n; i++) {
            const act = new GgmlActivationRow(dtype, x.subarray(i * K, (i + 1) * K));
            for (let r = 0; r < N; r++) {
              const bound = TOL * maxAbs(wd.subarray(r * K, (r + 1) * K)) * act.absSum;
              const d = Math.abs(got[i * N + r]! - want[i * N + r]!);
              assert.ok(d <= bound, `${dtype} n=${n} token ${i} row ${r}: wasm ${got[i * N + r]} vs ggml emulation ${want[i * N + r]} (|Δ| ${d}, bound ${bound})`);
            }
          }
        }
      }
    } finally {
      wasm.dispose();
    }
  });
}
