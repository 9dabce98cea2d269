/**
 * Q8_K: ggml's activation format for the K-quant dot products, never a weight format. A
 * 256-value block keeps a float32 scale, 256 int8 quants and the sums of each 16 quants
 * (which let a dot product subtract a K-quant's minimums without touching every quant).
 *   Q8_K (292 bytes): d f32 · qs[256] int8 · bsums[16] int16       x = q·d
 * `quantizeQ8_K` is ggml's `quantize_row_q8_K_ref`: the scale maps the signed value of
 * largest magnitude to −127 (not 127: that value gets quant −127 exactly whatever its sign).
 */
import { QK_K } from "../dtype.js";
import { blockCount, checkBlockBytes, fround, nearestInt } from "./block_math.js";

export const Q8_K_BLOCK_BYTES = 292;

/** Quantises float32 values (a whole number of 256-value blocks) to Q8_K. An all-zero block is all zero bytes. */
export function quantizeQ8_K(x: Float32Array, out: Uint8Array = new Uint8Array((x.length / QK_K) * Q8_K_BLOCK_BYTES)): Uint8Array {
  const blocks = blockCount("quantizeQ8_K", x.length, QK_K);
  checkBlockBytes("quantizeQ8_K", out, x.length, blocks, Q8_K_BLOCK_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < blocks; i++) {
    const xb = i * QK_K;
    const o = i * Q8_K_BLOCK_BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK_K; j++) {
      const ax = Math.abs(x[xb + j]!);
      if (ax > amax) {
        amax = ax;
        max = x[xb + j]!;
      }
    }
    if (amax === 0) {
      out.fill(0, o, o + Q8_K_BLOCK_BYTES);
      continue;
    }
    const iscale = fround(-127 / max);
    for (let g = 0; g < 16; g++) {
      let sum = 0;
      for (let l = 0; l < 16; l++) {
        const q = Math.min(127, nearestInt(fround(iscale * x[xb + 16 * g + l]!)));
        view.setInt8(o + 4 + 16 * g + l, q);
        sum += (q << 24) >> 24;
      }
      view.setInt16(o + 260 + 2 * g, sum, true);
    }
    view.setFloat32(o, fround(1 / iscale), true);
  }
  return out;
}

/** Expands `n` Q8_K values to float32. */
export function dequantizeQ8_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blockCount("dequantizeQ8_K", n, QK_K);
  checkBlockBytes("dequantizeQ8_K", bytes, n, blocks, Q8_K_BLOCK_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q8_K_BLOCK_BYTES;
    const d = view.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) out[i * QK_K + j] = view.getInt8(o + 4 + j) * d;
  }
  return out;
}
