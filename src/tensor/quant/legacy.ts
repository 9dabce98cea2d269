/**
 * ggml's legacy 32-weight block types, bit for bit as ggml's reference quantisers
 * (`quantize_row_<type>_ref`) write them and `dequantize_row_<type>` reads them, so that a
 * file we write is the file llama.cpp's tools write from the same float32 values.
 *
 * Every block covers 32 consecutive weights of a row. In the 4- and 5-bit types byte j of
 * `qs` holds weight j in its low nibble and weight j + 16 in its high nibble; the 5-bit
 * types keep each weight's fifth bit in the u32 `qh` (bit j for weight j).
 *   Q8_0 (34 bytes): d f16 · qs[32] int8                  x = q·d
 *   Q4_0 (18 bytes): d f16 · qs[16]                       x = (q − 8)·d
 *   Q4_1 (20 bytes): d f16 · m f16 · qs[16]               x = q·d + m
 *   Q5_0 (22 bytes): d f16 · qh u32 · qs[16]              x = (q − 16)·d
 *   Q5_1 (24 bytes): d f16 · m f16 · qh u32 · qs[16]      x = q·d + m
 * The symmetric types (_0) scale by the signed value of largest magnitude so that it maps
 * exactly to the lowest quant; the _1 types span [min, max].
 */
import { QUANT_BLOCK } from "../dtype.js";
import { blockCount, checkBlockBytes, fround, readF16, roundHalfAway, truncToByte, truncToInt8, writeF16 } from "./block_math.js";

export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;
export const Q4_1_BLOCK_BYTES = 20;
export const Q5_0_BLOCK_BYTES = 22;
export const Q5_1_BLOCK_BYTES = 24;

const HALF = QUANT_BLOCK / 2;

/** The first value of largest magnitude in a block (ties keep the earlier one, as ggml's strict `<`). */
function signedMax(x: Float32Array, base: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QUANT_BLOCK; j++) {
    const v = x[base + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** Quantises float32 values (a whole number of blocks) to Q8_0: d = amax / 127, q = roundf(x / d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ8_0", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    let amax = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    writeF16(out, o, d);
    // The product is float32 in C; its rounding decides ties.
    for (let j = 0; j < QUANT_BLOCK; j++) qs[o + 2 + j] = roundHalfAway(fround(x[base + j]! * id));
  }
  return out;
}

/**
 * Quantises float32 values to Q4_0: d = max / −8 (max signed, so it maps exactly to quant 0
 * and the other side gets the 8th level), q = min(15, trunc(x / d + 8.5)).
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ4_0", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    const d = fround(signedMax(x, base) / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q4_0_BLOCK_BYTES;
    writeF16(out, o, d);
    for (let j = 0; j < HALF; j++) {
      // As C: (uint8_t)MIN(15, (int8_t)v), the low nibble not masked before the high one is or-ed in.
      const lo = Math.min(15, truncToInt8(fround(fround(x[base + j]! * id) + 8.5))) & 0xff;
      const hi = Math.min(15, truncToInt8(fround(fround(x[base + HALF + j]! * id) + 8.5))) & 0xff;
      out[o + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/** Smallest and largest value of a block. */
function minMax(x: Float32Array, base: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < QUANT_BLOCK; j++) {
    const v = x[base + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** Quantises float32 values to Q4_1: d = (max − min) / 15, m = min, q = min(15, trunc((x − min) / d + 0.5)). */
export function quantizeQ4_1(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ4_1", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * Q4_1_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    const [min, max] = minMax(x, base);
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q4_1_BLOCK_BYTES;
    writeF16(out, o, d);
    writeF16(out, o + 2, min);
    for (let j = 0; j < HALF; j++) {
      const lo = Math.min(15, truncToInt8(fround(fround(fround(x[base + j]! - min) * id) + 0.5))) & 0xff;
      const hi = Math.min(15, truncToInt8(fround(fround(fround(x[base + HALF + j]! - min) * id) + 0.5))) & 0xff;
      out[o + 4 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/** Stores 5-bit quants: low nibbles in qs (j | j + 16 << 4), fifth bits in the u32 qh. */
function pack5(out: Uint8Array, qhAt: number, q: Uint8Array): void {
  let qh = 0;
  for (let j = 0; j < HALF; j++) {
    const lo = q[j]!;
    const hi = q[HALF + j]!;
    out[qhAt + 4 + j] = (lo & 0xf) | ((hi & 0xf) << 4);
    qh |= ((lo & 0x10) >> 4) << j;
    qh |= ((hi & 0x10) >> 4) << (j + HALF);
  }
  out[qhAt] = qh & 0xff;
  out[qhAt + 1] = (qh >>> 8) & 0xff;
  out[qhAt + 2] = (qh >>> 16) & 0xff;
  out[qhAt + 3] = (qh >>> 24) & 0xff;
}

/** Quantises float32 values to Q5_0: d = max / −16, q = min(31, trunc(x / d + 16.5)). */
export function quantizeQ5_0(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ5_0", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * Q5_0_BLOCK_BYTES);
  const q = new Uint8Array(QUANT_BLOCK);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    const d = fround(signedMax(x, base) / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q5_0_BLOCK_BYTES;
    writeF16(out, o, d);
    for (let j = 0; j < QUANT_BLOCK; j++) q[j] = Math.min(31, truncToInt8(fround(fround(x[base + j]! * id) + 16.5))) & 0xff;
    pack5(out, o + 2, q);
  }
  return out;
}

/** Quantises float32 values to Q5_1: d = (max − min) / 31, m = min, q = trunc((x − min) / d + 0.5) (no clamp, as ggml). */
export function quantizeQ5_1(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ5_1", x.length, QUANT_BLOCK);
  const out = new Uint8Array(blocks * Q5_1_BLOCK_BYTES);
  const q = new Uint8Array(QUANT_BLOCK);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    const [min, max] = minMax(x, base);
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * Q5_1_BLOCK_BYTES;
    writeF16(out, o, d);
    writeF16(out, o + 2, min);
    for (let j = 0; j < QUANT_BLOCK; j++) q[j] = truncToByte(fround(fround(fround(x[base + j]! - min) * id) + 0.5));
    pack5(out, o + 4, q);
  }
  return out;
}

function blocksOf(what: string, bytes: Uint8Array, n: number, blockBytes: number): number {
  const blocks = blockCount(what, n, QUANT_BLOCK);
  checkBlockBytes(what, bytes, n, blocks, blockBytes);
  return blocks;
}

/** Expands `n` Q8_0 values to float32 (x = q·d, rounded to float32 as in ggml). */
export function dequantizeQ8_0(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blocksOf("dequantizeQ8_0", bytes, n, Q8_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < QUANT_BLOCK; j++) out[base + j] = ((bytes[o + 2 + j]! << 24) >> 24) * d;
  }
  return out;
}

/** Expands `n` Q4_0 values to float32 (x = (q − 8)·d). */
export function dequantizeQ4_0(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blocksOf("dequantizeQ4_0", bytes, n, Q4_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < HALF; j++) {
      const byte = bytes[o + 2 + j]!;
      out[base + j] = ((byte & 0xf) - 8) * d;
      out[base + HALF + j] = ((byte >> 4) - 8) * d;
    }
  }
  return out;
}

/** Expands `n` Q4_1 values to float32 (x = q·d + m, the product rounded before the sum). */
export function dequantizeQ4_1(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blocksOf("dequantizeQ4_1", bytes, n, Q4_1_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q4_1_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const m = readF16(bytes, o + 2);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < HALF; j++) {
      const byte = bytes[o + 4 + j]!;
      out[base + j] = fround((byte & 0xf) * d) + m;
      out[base + HALF + j] = fround((byte >> 4) * d) + m;
    }
  }
  return out;
}

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Expands `n` Q5_0 values to float32 (x = (q − 16)·d). */
export function dequantizeQ5_0(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blocksOf("dequantizeQ5_0", bytes, n, Q5_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q5_0_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const qh = readU32(bytes, o + 2);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < HALF; j++) {
      const byte = bytes[o + 6 + j]!;
      const lo = (byte & 0xf) | (((qh >>> j) << 4) & 0x10);
      const hi = (byte >> 4) | ((qh >>> (j + 12)) & 0x10);
      out[base + j] = (lo - 16) * d;
      out[base + HALF + j] = (hi - 16) * d;
    }
  }
  return out;
}

/** Expands `n` Q5_1 values to float32 (x = q·d + m). */
export function dequantizeQ5_1(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = blocksOf("dequantizeQ5_1", bytes, n, Q5_1_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q5_1_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const m = readF16(bytes, o + 2);
    const qh = readU32(bytes, o + 4);
    const base = b * QUANT_BLOCK;
    for (let j = 0; j < HALF; j++) {
      const byte = bytes[o + 8 + j]!;
      const lo = (byte & 0xf) | (((qh >>> j) << 4) & 0x10);
      const hi = (byte >> 4) | ((qh >>> (j + 12)) & 0x10);
      out[base + j] = fround(lo * d) + m;
      out[base + HALF + j] = fround(hi * d) + m;
    }
  }
  return out;
}
