/**
 * IQ4_NL: 32-weight blocks whose 4-bit codes index a fixed non-linear table of 16 levels
 * (denser near zero, where most weights are), scaled by one f16 per block.
 *   IQ4_NL (18 bytes): d f16 · qs[16]     x = d · IQ4_NL_VALUES[q]
 * Byte j of qs holds weight j (low nibble) and weight j + 16 (high nibble), as Q4_0.
 * llama.cpp's presets write it only as the fallback of the IQ types. `quantizeIQ4_NL` is
 * ggml's: 15 scales tried around max/−127 (`quantize_iq4_nl`, what llama-quantize runs), or
 * only the first fit (`quantize_row_iq4_nl_ref`, `tries: -1`).
 */
import { QUANT_BLOCK } from "../dtype.js";
import { blockCount, checkBlockBytes, fround, GROUP_MAX_EPS, readF16, writeF16 } from "./block_math.js";

export const IQ4_NL_BLOCK_BYTES = 18;

/** ggml's kvalues_iq4nl. */
export const IQ4_NL_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** Expands `n` IQ4_NL values to float32. */
export function dequantizeIQ4_NL(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blockCount("dequantizeIQ4_NL", n, QUANT_BLOCK);
  checkBlockBytes("dequantizeIQ4_NL", bytes, n, blocks, IQ4_NL_BLOCK_BYTES);
  const values = IQ4_NL_VALUES;
  for (let b = 0; b < blocks; b++) {
    const o = b * IQ4_NL_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < 16; j++) {
      const byte = bytes[o + 2 + j]!;
      out[base + j] = fround(d * values[byte & 0xf]!);
      out[base + 16 + j] = fround(d * values[byte >> 4]!);
    }
  }
  return out;
}

/** ggml's best_index_int8: the index of the level nearest x in the sorted `values` (ties to the upper level). */
function nearestLevel(values: readonly number[], x: number): number {
  const n = values.length;
  if (x <= values[0]!) return 0;
  if (x >= values[n - 1]!) return n - 1;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x < values[mid]!) hi = mid;
    else lo = mid;
  }
  return fround(x - values[hi - 1]!) < fround(values[hi]! - x) ? hi - 1 : hi;
}

/**
 * Quantises float32 values to IQ4_NL as ggml does: per block, a weighted (w = x²) least-squares
 * scale for the levels nearest x/d, refined over `tries` scales each side of −max/127 (7 in
 * llama-quantize's `quantize_iq4_nl`; −1 is `quantize_row_iq4_nl_ref`, which keeps the first
 * fit and its levels, and whose sign convention starts from max/−127 instead).
 */
export function quantizeIQ4_NL(x: Float32Array, tries = 7): Uint8Array {
  const blocks = blockCount("quantizeIQ4_NL", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * IQ4_NL_BLOCK_BYTES);
  const values = IQ4_NL_VALUES;
  const v0 = values[0]!;
  const weight = new Float32Array(QUANT_BLOCK);
  // Kept across blocks as ggml's stack array is: an all-zero block under tries < 0 reuses the
  // previous block's levels (its scale is 0, so they decode to zeros all the same).
  const L = new Uint8Array(QUANT_BLOCK);
  for (let b = 0; b < blocks; b++) {
    const xb = b * QUANT_BLOCK;
    const o = b * IQ4_NL_BLOCK_BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) {
      const v = x[xb + j]!;
      weight[j] = fround(v * v);
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    let scale = 0;
    if (amax >= GROUP_MAX_EPS) {
      let id = fround(1 / fround((tries > 0 ? -max : max) / v0));
      let sumqx = 0;
      let sumq2 = 0;
      for (let j = 0; j < QUANT_BLOCK; j++) {
        const l = nearestLevel(values, fround(id * x[xb + j]!));
        L[j] = l;
        const wq = fround(weight[j]! * values[l]!);
        sumqx = fround(sumqx + fround(wq * x[xb + j]!));
        sumq2 = fround(sumq2 + fround(wq * values[l]!));
      }
      scale = sumq2 > 0 ? fround(sumqx / sumq2) : 0;
      let best = fround(scale * sumqx);
      for (let itry = -tries; itry <= tries; itry++) {
        id = fround((itry + v0) / max);
        sumqx = 0;
        sumq2 = 0;
        for (let j = 0; j < QUANT_BLOCK; j++) {
          const l = nearestLevel(values, fround(id * x[xb + j]!));
          const wq = fround(weight[j]! * values[l]!);
          sumqx = fround(sumqx + fround(wq * x[xb + j]!));
          sumq2 = fround(sumq2 + fround(wq * values[l]!));
        }
        if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
          scale = fround(sumqx / sumq2);
          best = fround(scale * sumqx);
        }
      }
    }
    writeF16(out, o, scale);
    if (tries > 0) {
      const id = scale !== 0 ? fround(1 / scale) : 0;
      for (let j = 0; j < QUANT_BLOCK; j++) L[j] = nearestLevel(values, fround(id * x[xb + j]!));
    }
    for (let j = 0; j < 16; j++) out[o + 2 + j] = L[j]! | (L[j + 16]! << 4);
  }
  return out;
}
