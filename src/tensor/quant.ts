/**
 * Block quantisation in GGUF's Q8_0 and Q4_0 layouts, bit for bit as ggml's reference
 * quantisers (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`) produce them, so that a
 * file we write is the file llama.cpp's tools would write from the same float32 values.
 *
 * A block covers 32 consecutive weights of a row and is stored as:
 *   Q8_0 (34 bytes): f16 scale d, then 32 int8 quants q;        x ≈ q * d
 *   Q4_0 (18 bytes): f16 scale d, then 16 bytes of nibbles;     x ≈ (q - 8) * d
 *     byte j holds element j in its low nibble and element j + 16 in its high nibble.
 *
 * ggml computes in float32: every intermediate here goes through Math.fround where C
 * would round to float, or the last bit of a quant can differ.
 */
import { InvalidArgumentError } from "../errors.js";
import { f16ToF32, f32ToF16, toFloat32 } from "./convert.js";
import { QUANT_BLOCK, type QuantDType } from "./dtype.js";

const fround = Math.fround;

/** Bytes per 32-weight block. */
export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;

function checkLength(what: string, n: number): number {
  if (n % QUANT_BLOCK !== 0) throw new InvalidArgumentError(`${what}: ${n} values is not a multiple of the block size ${QUANT_BLOCK}`);
  return n / QUANT_BLOCK;
}

/** C's roundf: nearest integer, halves away from zero (exact for float32 inputs in double). */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Quantises float32 values (a whole number of blocks) to Q8_0: d = amax / 127, q = round(x / d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const blocks = checkLength("quantizeQ8_0", x.length);
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    let amax = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) {
      const a = Math.abs(x[base + j]!);
      if (a > amax) amax = a;
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    const bits = f32ToF16(d);
    out[o] = bits & 0xff;
    out[o + 1] = bits >> 8;
    for (let j = 0; j < QUANT_BLOCK; j++) {
      // The product is float32 in C; its rounding decides ties.
      qs[o + 2 + j] = roundHalfAway(fround(x[base + j]! * id));
    }
  }
  return out;
}

/**
 * Quantises float32 values to Q4_0. The scale comes from the value of largest magnitude,
 * sign included (d = max / -8), so that value maps exactly to quant 0 and the other side
 * gets the 8th level: q = min(15, trunc(x / d + 8.5)).
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const blocks = checkLength("quantizeQ4_0", x.length);
  const half = QUANT_BLOCK / 2;
  const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) {
      const v = x[base + j]!;
      // Strictly greater: the first value of the largest magnitude wins, as in ggml.
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q4_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < half; j++) {
      const lo = Math.min(15, Math.trunc(fround(fround(x[base + j]! * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(fround(fround(x[base + half + j]! * id) + 8.5)));
      out[o + 2 + j] = (lo & 0xf) | ((hi & 0xf) << 4);
    }
  }
  return out;
}

function checkBytes(what: string, bytes: Uint8Array, n: number, blockBytes: number): number {
  const blocks = checkLength(what, n);
  if (bytes.byteLength < blocks * blockBytes) {
    throw new InvalidArgumentError(`${what}: ${n} values need ${blocks * blockBytes} bytes, got ${bytes.byteLength}`);
  }
  return blocks;
}

/** Expands `n` Q8_0 values to float32 (x = q * d, the product rounded to float32 as in ggml). */
export function dequantizeQ8_0(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = checkBytes("dequantizeQ8_0", bytes, n, Q8_0_BLOCK_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < QUANT_BLOCK; j++) out[base + j] = view.getInt8(o + 2 + j) * d;
  }
  return out;
}

/** Expands `n` Q4_0 values to float32 (x = (q - 8) * d). */
export function dequantizeQ4_0(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = checkBytes("dequantizeQ4_0", bytes, n, Q4_0_BLOCK_BYTES);
  const half = QUANT_BLOCK / 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < half; j++) {
      const byte = bytes[o + 2 + j]!;
      out[base + j] = ((byte & 0xf) - 8) * d;
      out[base + half + j] = ((byte >> 4) - 8) * d;
    }
  }
  return out;
}

/** Quantises float32 values to `dtype`. */
export function quantize(dtype: QuantDType, x: Float32Array): Uint8Array {
  return dtype === "q8_0" ? quantizeQ8_0(x) : quantizeQ4_0(x);
}

/** Expands `n` values stored as `dtype` to float32. */
export function dequantize(dtype: QuantDType, bytes: Uint8Array, n: number): Float32Array {
  return dtype === "q8_0" ? dequantizeQ8_0(bytes, n) : dequantizeQ4_0(bytes, n);
}

/**
 * Any weight storage type to float32: the float types through the reference conversions,
 * the block-quantised ones through dequantisation. `n` is the number of values.
 */
export function weightToFloat32(dtype: "f32" | "f16" | "bf16" | QuantDType, bytes: Uint8Array, n: number): Float32Array {
  if (dtype === "q8_0" || dtype === "q4_0") return dequantize(dtype, bytes, n);
  return toFloat32(dtype, bytes);
}
