/**
 * Start-up self-test of a kernel build: runs the kernels whose instructions differ between
 * builds (fused multiply-add, the 8-bit relaxed dot, the relaxed byte shuffle) on small deterministic data and compares
 * them with plain float64 arithmetic. An engine that validates an instruction but computes it
 * wrongly (V8 11.3's i32x4.relaxed_dot_i8x16_i7x16_add_s) fails here instead of giving
 * wrong tokens.
 */
import type { Heap } from "./heap.js";
import type { KernelExports } from "./kernels.js";
import { f16ToF32, f32ToF16 } from "../../tensor/convert.js";

/** Returns null when the build passes, else a description of the first mismatch. */
export function selfTest(k: KernelExports, heap: Heap): string | null {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const N = 6;
  // 5 blocks per row: one full group of four and a tail, both code paths of the quantised kernels.
  const K = 160;
  const n = 3;
  const bytes = 4096 * 8;
  const base = heap.alloc(bytes, "self-test");
  try {
    const f32 = heap.f32;
    const u8 = heap.u8;
    const x = base;
    const out = base + 2048;
    const xq = base + 4096;
    const xd = base + 5120;
    const xs = base + 6144;
    const xq16 = base + 7168;
    const wf = base + 8192; // row-major weights, then GGUF blocks
    const wq = base + 16384; // the same in the backend's paired layout
    const xv = new Float64Array(n * K);
    for (let i = 0; i < n * K; i++) f32[x / 4 + i] = xv[i] = Math.fround(rand() * 2 - 1);
    const check = (what: string, expect: (i: number, o: number) => number, tol: number): string | null => {
      const got = heap.f32;
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < N; o++) {
          const e = expect(i, o);
          const g = got[out / 4 + i * N + o]!;
          if (!(Math.abs(g - e) <= tol * (1 + Math.abs(e)))) return `${what}: row ${i} col ${o} gave ${g}, expected ${e}`;
        }
      }
      return null;
    };

    // float32 matmul (fused multiply-add in the relaxed build)
    const wv = new Float64Array(N * K);
    for (let i = 0; i < N * K; i++) f32[wf / 4 + i] = wv[i] = Math.fround(rand() * 2 - 1);
    k.pack_float(wq, wf, N, K, 4);
    k.matmul_f32(out, x, wq, 0, n, K, N, 0, N);
    let err = check(
      "matmul_f32",
      (i, o) => {
        let s = 0;
        for (let c = 0; c < K; c++) s += xv[i * K + c]! * wv[o * K + c]!;
        return s;
      },
      1e-5,
    );
    if (err) return err;

    // Q4_0 matmul on quantised activations (the relaxed 8-bit dot in the relaxed build)
    k.quantize_q8(x, xq, xq16, xd, xs, K, 0, n, 0);
    // Weights as GGUF blocks (f16 scale, 16 nibble bytes) at wf, packed into the paired layout
    // at wq: the self-test covers the packing too.
    const nb = K / 32;
    const nib = new Int32Array(N * K);
    const scale = new Float64Array(N * nb);
    for (let o = 0; o < N; o++) {
      for (let b = 0; b < nb; b++) {
        const blk = wf + (o * nb + b) * 18;
        const h = f32ToF16(0.01 + rand() * 0.05);
        scale[o * nb + b] = f16ToF32(h);
        u8[blk] = h & 0xff;
        u8[blk + 1] = h >> 8;
        for (let j = 0; j < 16; j++) {
          const lo = Math.floor(rand() * 16);
          const hi = Math.floor(rand() * 16);
          u8[blk + 2 + j] = lo | (hi << 4);
          nib[o * K + b * 32 + j] = lo - 8;
          nib[o * K + b * 32 + j + 16] = hi - 8;
        }
      }
    }
    k.pack_blocks(wq, wf, N, K, 16, 1);
    k.matmul_q4_0(out, xq, xq16, xd, xs, wq, 0, n, K, N, 0, N);
    const xq8 = new Int8Array(heap.u8.buffer, xq, n * K);
    err = check(
      "matmul_q4_0",
      (i, o) => {
        let s = 0;
        for (let b = 0; b < nb; b++) {
          let d = 0;
          for (let j = 0; j < 32; j++) d += nib[o * K + b * 32 + j]! * xq8[i * K + b * 32 + j]!;
          s += d * scale[o * nb + b]! * f32[xd / 4 + i * nb + b]!;
        }
        return s;
      },
      1e-5,
    );
    if (err) return err;

    // Q5_0 (the relaxed byte shuffle that spreads the 5th bits, and the relaxed dot on 5-bit
    // weights), on the same activations: blocks of f16 scale, 32 high bits, 16 nibble bytes.
    const q5 = new Int32Array(N * K);
    for (let o = 0; o < N; o++) {
      for (let b = 0; b < nb; b++) {
        const blk = wf + (o * nb + b) * 22;
        const h = f32ToF16(0.01 + rand() * 0.05);
        scale[o * nb + b] = f16ToF32(h);
        u8[blk] = h & 0xff;
        u8[blk + 1] = h >> 8;
        const values = Array.from({ length: 32 }, () => Math.floor(rand() * 32));
        for (let j = 0; j < 4; j++) {
          let byte = 0;
          for (let bit = 0; bit < 8; bit++) byte |= (values[j * 8 + bit]! >> 4) << bit;
          u8[blk + 2 + j] = byte;
        }
        for (let j = 0; j < 16; j++) u8[blk + 6 + j] = (values[j]! & 15) | ((values[j + 16]! & 15) << 4);
        for (let j = 0; j < 32; j++) q5[o * K + b * 32 + j] = values[j]! - 16;
      }
    }
    k.pack_blocks(wq, wf, N, K, 20, 1);
    k.matmul_q5_0(out, xq, xq16, xd, xs, wq, 0, n, K, N, 0, N);
    err = check(
      "matmul_q5_0",
      (i, o) => {
        let s = 0;
        for (let b = 0; b < nb; b++) {
          let d = 0;
          for (let j = 0; j < 32; j++) d += q5[o * K + b * 32 + j]! * xq8[i * K + b * 32 + j]!;
          s += d * scale[o * nb + b]! * f32[xd / 4 + i * nb + b]!;
        }
        return s;
      },
      1e-5,
    );
    if (err) return err;
    // ...and the quantisation itself: every value within half a step of its source, plus what
    // storing the step as f16 (as ggml does) moves a quant of at most 127 steps: 127 · 2^-11 steps.
    for (let i = 0; i < n * K; i++) {
      const d = f32[xd / 4 + (i >> 5)]!;
      if (Math.abs(xq8[i]! * d - xv[i]!) > d * (0.5 + 127 / 2048) + 1e-7)
        return `quantize_q8: element ${i} quantised to ${xq8[i]} x ${d} from ${xv[i]}`;
    }
    return null;
  } finally {
    heap.free(base, bytes);
  }
}
