/**
 * IQ4_NL: 32-weight blocks whose 4-bit codes index a fixed non-linear table of 16 levels
 * (denser near zero, where most weights are), scaled by one f16 per block.
 *   IQ4_NL (18 bytes): d f16 · qs[16]     x = d · IQ4_NL_VALUES[q]
 * Byte j of qs holds weight j (low nibble) and weight j + 16 (high nibble), as Q4_0.
 * llama.cpp's presets write it only as the fallback of the IQ types; we read it.
 */
import { QUANT_BLOCK } from "../dtype.js";
import { blockCount, checkBlockBytes, fround, readF16 } from "./block_math.js";

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
