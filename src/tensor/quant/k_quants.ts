/**
 * ggml's K-quants: 256-weight super-blocks split into sub-blocks of 16 or 32 weights, each
 * sub-block with its own 4-, 6- or 8-bit scale (and minimum) relative to the super-block's
 * f16 scale(s). Dequantisation is ggml's `dequantize_row_q{2..6}_K` and quantisation its
 * `quantize_row_q{2..6}_K_ref` (what llama-quantize writes without an importance matrix),
 * bit for bit: every float32 operation is rounded as C rounds it (block_math.ts).
 *
 * Layouts (ggml-common.h), per 256 weights:
 *   Q2_K  84 bytes: scales[16] (low nibble scale, high nibble min) · qs[64] (2 bits) · d · dmin
 *                   x = d·sc·q − dmin·m                        16 sub-blocks of 16
 *   Q3_K 110 bytes: hmask[32] (3rd bit) · qs[64] (low 2 bits) · scales[12] (6-bit) · d
 *                   x = d·(sc − 32)·(q − 4)                    16 sub-blocks of 16
 *   Q4_K 144 bytes: d · dmin · scales[12] (6-bit scale and min) · qs[128] (nibbles)
 *                   x = d·sc·q − dmin·m                         8 sub-blocks of 32
 *   Q5_K 176 bytes: d · dmin · scales[12] · qh[32] (5th bit) · qs[128]
 *                   x = d·sc·q − dmin·m                         8 sub-blocks of 32
 *   Q6_K 210 bytes: ql[128] (low 4 bits) · qh[64] (high 2 bits) · scales[16] int8 · d
 *                   x = d·sc·(q − 32)                          16 sub-blocks of 16
 * d and dmin are f16. In the 2-bit and 6-bit packings each 128-weight half is stored as
 * 32 bytes holding weights l, l+32, l+64, l+96 at shifts 0, 2, 4, 6.
 */
import { QK_K } from "../dtype.js";
import { blockCount, checkBlockBytes, fround, GROUP_MAX_EPS, nearestInt, readF16, writeF16 } from "./block_math.js";
import { makeQ3Quants, makeQkx2Quants, makeQxQuants, type Qkx2Search } from "./k_quant_fit.js";

export const Q2_K_BLOCK_BYTES = 84;
export const Q3_K_BLOCK_BYTES = 110;
export const Q4_K_BLOCK_BYTES = 144;
export const Q5_K_BLOCK_BYTES = 176;
export const Q6_K_BLOCK_BYTES = 210;

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

function superBlocks(what: string, bytes: Uint8Array, n: number, blockBytes: number): number {
  const blocks = blockCount(what, n, QK_K);
  checkBlockBytes(what, bytes, n, blocks, blockBytes);
  return blocks;
}

/**
 * Scale and minimum of sub-block j (0..7) from the 12 packed bytes at `s` of Q4_K/Q5_K:
 * sub-blocks 0-3 keep 6 bits in bytes j and j + 4; sub-blocks 4-7 keep their low 4 bits in
 * byte j + 4 and their top 2 bits in the spare top bits of bytes j − 4 and j.
 */
function scaleMinK4(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j]! & 63, b[s + j + 4]! & 63];
  return [(b[s + j + 4]! & 0xf) | ((b[s + j - 4]! >> 6) << 4), (b[s + j + 4]! >> 4) | ((b[s + j]! >> 6) << 4)];
}

/** Packs 8 six-bit scales and mins into 12 bytes at `s` (the inverse of scaleMinK4). */
function packScaleMinK4(b: Uint8Array, s: number, ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      b[s + j] = ls[j]!;
      b[s + j + 4] = lm[j]!;
    } else {
      b[s + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      b[s + j - 4]! |= (ls[j]! >> 4) << 6;
      b[s + j]! |= (lm[j]! >> 4) << 6;
    }
  }
}

/** The 6-bit scale of Q3_K sub-block j (0..15), minus 32: low 4 bits in bytes 0-7, top 2 bits in bytes 8-11. */
function scaleQ3(b: Uint8Array, s: number, j: number): number {
  const low = j < 8 ? b[s + j]! & 0xf : b[s + j - 8]! >> 4;
  const high = (b[s + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

/** Stores 2-bit levels of 256 weights as Q2_K/Q3_K do: byte l of each 32-byte group holds l, l+32, l+64, l+96. */
function pack2(out: Uint8Array, q: number, L: Uint8Array): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[q + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

// ───────────────────────────── dequantisation ─────────────────────────────

/** Expands `n` Q2_K values to float32. */
export function dequantizeQ2_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = superBlocks("dequantizeQ2_K", bytes, n, Q2_K_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q2_K_BLOCK_BYTES;
    const d = readF16(bytes, o + 80);
    const min = readF16(bytes, o + 82);
    let y = i * QK_K;
    let is = 0;
    for (let half = 0; half < 2; half++) {
      const q = o + 16 + half * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const sc = bytes[o + is++]!;
          const dl = fround(d * (sc & 0xf));
          const ml = fround(min * (sc >> 4));
          for (let l = 0; l < 16; l++) out[y++] = fround(dl * ((bytes[q + part * 16 + l]! >> shift) & 3)) - ml;
        }
      }
    }
  }
  return out;
}

/** Expands `n` Q3_K values to float32. */
export function dequantizeQ3_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = superBlocks("dequantizeQ3_K", bytes, n, Q3_K_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q3_K_BLOCK_BYTES;
    const dAll = readF16(bytes, o + 108);
    let y = i * QK_K;
    let is = 0;
    let m = 1;
    for (let half = 0; half < 2; half++) {
      const q = o + 32 + half * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const dl = fround(dAll * scaleQ3(bytes, o + 96, is++));
          for (let l = 0; l < 16; l++) {
            const k = part * 16 + l;
            const level = ((bytes[q + k]! >> shift) & 3) - (bytes[o + k]! & m ? 0 : 4);
            out[y++] = dl * level;
          }
        }
        m <<= 1;
      }
    }
  }
  return out;
}

/** Expands `n` Q4_K values to float32. */
export function dequantizeQ4_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = superBlocks("dequantizeQ4_K", bytes, n, Q4_K_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q4_K_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const min = readF16(bytes, o + 2);
    let y = i * QK_K;
    for (let j = 0; j < 4; j++) {
      const q = o + 16 + j * 32;
      const [sc1, m1] = scaleMinK4(bytes, o + 4, 2 * j);
      const [sc2, m2] = scaleMinK4(bytes, o + 4, 2 * j + 1);
      const d1 = fround(d * sc1);
      const min1 = fround(min * m1);
      const d2 = fround(d * sc2);
      const min2 = fround(min * m2);
      for (let l = 0; l < 32; l++) out[y++] = fround(d1 * (bytes[q + l]! & 0xf)) - min1;
      for (let l = 0; l < 32; l++) out[y++] = fround(d2 * (bytes[q + l]! >> 4)) - min2;
    }
  }
  return out;
}

/** Expands `n` Q5_K values to float32. */
export function dequantizeQ5_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = superBlocks("dequantizeQ5_K", bytes, n, Q5_K_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q5_K_BLOCK_BYTES;
    const d = readF16(bytes, o);
    const min = readF16(bytes, o + 2);
    const qh = o + 16;
    let y = i * QK_K;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0; j < 4; j++) {
      const ql = o + 48 + j * 32;
      const [sc1, m1] = scaleMinK4(bytes, o + 4, 2 * j);
      const [sc2, m2] = scaleMinK4(bytes, o + 4, 2 * j + 1);
      const d1 = fround(d * sc1);
      const min1 = fround(min * m1);
      const d2 = fround(d * sc2);
      const min2 = fround(min * m2);
      for (let l = 0; l < 32; l++) out[y++] = fround(d1 * ((bytes[ql + l]! & 0xf) + (bytes[qh + l]! & u1 ? 16 : 0))) - min1;
      for (let l = 0; l < 32; l++) out[y++] = fround(d2 * ((bytes[ql + l]! >> 4) + (bytes[qh + l]! & u2 ? 16 : 0))) - min2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
  return out;
}

/** Expands `n` Q6_K values to float32. */
export function dequantizeQ6_K(bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n)): Float32Array {
  const blocks = superBlocks("dequantizeQ6_K", bytes, n, Q6_K_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q6_K_BLOCK_BYTES;
    const d = readF16(bytes, o + 208);
    for (let half = 0; half < 2; half++) {
      const ql = o + half * 64;
      const qh = o + 128 + half * 32;
      const sc = o + 192 + half * 8;
      const y = i * QK_K + half * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fround(d * ((bytes[sc + is]! << 24) >> 24)) * q1;
        out[y + l + 32] = fround(d * ((bytes[sc + is + 2]! << 24) >> 24)) * q2;
        out[y + l + 64] = fround(d * ((bytes[sc + is + 4]! << 24) >> 24)) * q3;
        out[y + l + 96] = fround(d * ((bytes[sc + is + 6]! << 24) >> 24)) * q4;
      }
    }
  }
  return out;
}

// ───────────────────────────── quantisation ─────────────────────────────

const Q2_K_SEARCH: Qkx2Search = { nmax: 3, rmin: -0.5, rdelta: fround(0.1), nstep: 15, useMad: true };
const Q4_K_SEARCH: Qkx2Search = { nmax: 15, rmin: -1, rdelta: fround(0.1), nstep: 20, useMad: false };
const Q5_K_SEARCH: Qkx2Search = { nmax: 31, rmin: -0.5, rdelta: fround(0.1), nstep: 15, useMad: false };

/** Quantises float32 values (a whole number of 256-weight super-blocks) to Q2_K. */
export function quantizeQ2_K(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ2_K", x.length, QK_K);
  const out = new Uint8Array(blocks * Q2_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  for (let i = 0; i < blocks; i++) {
    const xb = i * QK_K;
    const o = i * Q2_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xb + 16 * j + l]!);
      const [scale, min] = makeQkx2Quants(16, x, xb + 16 * j, weights, L, 16 * j, laux, Q2_K_SEARCH);
      scales[j] = scale;
      mins[j] = min;
      if (scale > maxScale) maxScale = scale;
      if (min > maxMin) maxMin = min;
    }
    if (maxScale > 0) {
      const iscale = fround(15 / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fround(iscale * scales[j]!)) & 0xff;
      writeF16(out, o + 80, fround(maxScale / 15));
    }
    if (maxMin > 0) {
      const iscale = fround(15 / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] = (out[o + j]! | (nearestInt(fround(iscale * mins[j]!)) << 4)) & 0xff;
      writeF16(out, o + 82, fround(maxMin / 15));
    }
    const d = readF16(out, o + 80);
    const dmin = readF16(out, o + 82);
    for (let j = 0; j < 16; j++) {
      const dl = fround(d * (out[o + j]! & 0xf));
      if (dl === 0) continue;
      const dm = fround(dmin * (out[o + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = clamp(nearestInt(fround(fround(x[xb + 16 * j + ii]! + dm) / dl)), 0, 3);
      }
    }
    pack2(out, o + 16, L);
  }
  return out;
}

/** Quantises float32 values to Q3_K. */
export function quantizeQ3_K(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ3_K", x.length, QK_K);
  const out = new Uint8Array(blocks * Q3_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < blocks; i++) {
    const xb = i * QK_K;
    const o = i * Q3_K_BLOCK_BYTES;
    const s = o + 96;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, x, xb + 16 * j, L, 16 * j);
      const a = Math.abs(scales[j]!);
      if (a > amax) {
        amax = a;
        maxScale = scales[j]!;
      }
    }
    if (maxScale !== 0) {
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        // C stores the rounded value in an int8 before clamping.
        const l = clamp((nearestInt(fround(iscale * scales[j]!)) << 24) >> 24, -32, 31) + 32;
        if (j < 8) out[s + j] = l & 0xf;
        else out[s + j - 8]! |= (l & 0xf) << 4;
        out[s + 8 + (j % 4)]! |= (l >> 4) << (2 * Math.floor(j / 4));
      }
      writeF16(out, o + 108, fround(1 / iscale));
    }
    const d = readF16(out, o + 108);
    for (let j = 0; j < 16; j++) {
      const dl = fround(d * scaleQ3(out, s, j));
      if (dl === 0) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(fround(x[xb + 16 * j + ii]! / dl)), -4, 3) + 4;
    }
    // The third bit of weight j goes to bit j / 32 of hmask[j % 32].
    for (let j = 0; j < QK_K; j++) {
      if (L[j]! > 3) {
        out[o + (j % 32)]! |= 1 << (j >> 5);
        L[j]! -= 4;
      }
    }
    pack2(out, o + 32, L);
  }
  return out;
}

/**
 * The shared body of Q4_K and Q5_K: per 32-weight sub-block a make_qkx2 fit weighted by
 * rms + |x|, six-bit scales and mins relative to f16 d and dmin, then the levels recomputed
 * from the stored scales. Writes d, dmin and scales into `out` at `o` and levels to L.
 */
function fitScaleMinK4(x: Float32Array, xb: number, out: Uint8Array, o: number, L: Uint8Array, search: Qkx2Search): void {
  const laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const s = xb + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fround(sumX2 + fround(x[s + l]! * x[s + l]!));
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fround(avX + Math.abs(x[s + l]!));
    const [scale, min] = makeQkx2Quants(32, x, s, weights, L, 32 * j, laux, search);
    scales[j] = scale;
    mins[j] = min;
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    // C keeps the rounded values in uint8 before clamping to 63.
    ls[j] = Math.min(63, nearestInt(fround(invScale * scales[j]!)) & 0xff);
    lm[j] = Math.min(63, nearestInt(fround(invMin * mins[j]!)) & 0xff);
  }
  packScaleMinK4(out, o + 4, ls, lm);
  const d = writeF16(out, o, fround(maxScale / 63));
  const dmin = writeF16(out, o + 2, fround(maxMin / 63));
  const nmax = search.nmax;
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(out, o + 4, j);
    const dl = fround(d * sc);
    if (dl === 0) continue;
    const dm = fround(dmin * m);
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = clamp(nearestInt(fround(fround(x[xb + 32 * j + ii]! + dm) / dl)), 0, nmax);
  }
}

/** Quantises float32 values to Q4_K. */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ4_K", x.length, QK_K);
  const out = new Uint8Array(blocks * Q4_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q4_K_BLOCK_BYTES;
    fitScaleMinK4(x, i * QK_K, out, o, L, Q4_K_SEARCH);
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) out[o + 16 + 32 * j + l] = L[64 * j + l]! | (L[64 * j + l + 32]! << 4);
    }
  }
  return out;
}

/** Quantises float32 values to Q5_K. */
export function quantizeQ5_K(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ5_K", x.length, QK_K);
  const out = new Uint8Array(blocks * Q5_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < blocks; i++) {
    const o = i * Q5_K_BLOCK_BYTES;
    fitScaleMinK4(x, i * QK_K, out, o, L, Q5_K_SEARCH);
    let m1 = 1;
    let m2 = 2;
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        let l1 = L[64 * j + l]!;
        let l2 = L[64 * j + l + 32]!;
        if (l1 > 15) {
          l1 -= 16;
          out[o + 16 + l]! |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          out[o + 16 + l]! |= m2;
        }
        out[o + 48 + 32 * j + l] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
  return out;
}

/** Quantises float32 values to Q6_K. */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  const blocks = blockCount("quantizeQ6_K", x.length, QK_K);
  const out = new Uint8Array(blocks * Q6_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < blocks; i++) {
    const xb = i * QK_K;
    const o = i * Q6_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // an all-zero block: every byte 0
    const iscale = fround(-128 / maxScale);
    const d = writeF16(out, o + 208, fround(1 / iscale));
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(fround(iscale * scales[ib]!))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const dl = fround(d * ((out[o + 192 + j]! << 24) >> 24));
      if (dl === 0) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(fround(x[xb + 16 * j + ii]! / dl)), -32, 31) + 32;
    }
    for (let half = 0; half < 2; half++) {
      const j = half * 128;
      const ql = o + half * 64;
      const qh = o + 128 + half * 32;
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return out;
}
