// Matrix products with block-quantised weights (GGUF Q8_0 / Q4_0, 32 weights per block)
// against activations quantised to 8 bits per 32-element block, as llama.cpp does: the
// inner products are exact integer dot products, scaled once per block.
//
// Weight layout in memory (set up by the backend on upload): quants and scales apart so
// that quants stay 16-byte aligned.
//   Q8_0: quants i8 [N, K], scales f32 [N, K/32]
//   Q4_0: quants u8 [N, K/2] (per block 16 bytes: low nibbles are elements 0..15, high
//         nibbles 16..31, value = nibble - 8), scales f32 [N, K/32]
// Activations: xq i8 [n, K] and the same as int16 xq16 [n, K], xd f32 [n, K/32] (block scale), xs f32 [n, K/32] (scale * sum of
// the block's quants, used to apply Q4_0's -8 offset once per block).
// The tag type picks the format: i8 = Q8_0, u8 = Q4_0.
import { fma, hsum, hsumi, dotI8x32, dotI8I16x32, dotQ4I16x32, dotQ4x32 } from "./simd";

/**
 * Integer dot of weight block b with the activation block at x8 (int8) / x16 (int16):
 * Q8_0 and baseline Q4_0 use the int16 copy and the 16-bit dot; relaxed Q4_0 the int8 copy
 * and the 8-bit relaxed dot.
 */
// @ts-ignore: decorator
@inline function blockDot<T>(wq: usize, b: i32, x8: usize, x16: usize): v128 {
  if (isSigned<T>()) return dotI8I16x32(wq + (<usize>b << 5), x16);
  if (ASC_FEATURE_RELAXED_SIMD) return dotQ4x32(v128.load(wq + (<usize>b << 4)), v128.load(x8), v128.load(x8, 16));
  return dotQ4I16x32(v128.load(wq + (<usize>b << 4)), x16);
}

// @ts-ignore: decorator
@inline function biasAt(bias: usize, o: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>o << 2));
}

/** [sum(a), sum(b), sum(c), sum(d)] of four int32x4 vectors. */
// @ts-ignore: decorator
@inline function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/**
 * blockDot for the decode kernel: Q8_0 there is faster with 8-bit widening multiplies on the
 * int8 activations (measured 30 vs 24 GFLOP/s), the prefill tile with the int16 dot.
 */
// @ts-ignore: decorator
@inline function blockDot1<T>(wq: usize, b: i32, x8: usize, x16: usize): v128 {
  if (isSigned<T>()) {
    const p = wq + (<usize>b << 5);
    return dotI8x32(v128.load(p), v128.load(p, 16), v128.load(x8), v128.load(x8, 16));
  }
  return blockDot<T>(wq, b, x8, x16);
}

/**
 * Two weight rows against one activation row (the decode kernel). Blocks go four at a time:
 * their integer sums are gathered into one vector so that scales (and Q4_0's offset) are
 * applied with vector loads and one multiply-add per four blocks, not per block.
 */
// @ts-ignore: decorator
@inline function q2x1<T>(wqa: usize, wqb: usize, wda: usize, wdb: usize, xq: usize, xq16: usize, xd: usize, xs: usize, nb: i32, oa: usize, ob: usize, ba: f32, bb: f32): void {
  let aa = f32x4.splat(0), ab = f32x4.splat(0);
  let va = f32x4.splat(0), vb = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const xp = xq + (<usize>b << 5), xp16 = xq16 + (<usize>b << 6);
    const a0 = blockDot1<T>(wqa, b, xp, xp16), b0 = blockDot1<T>(wqb, b, xp, xp16);
    const a1 = blockDot1<T>(wqa, b + 1, xp + 32, xp16 + 64), b1 = blockDot1<T>(wqb, b + 1, xp + 32, xp16 + 64);
    const a2 = blockDot1<T>(wqa, b + 2, xp + 64, xp16 + 128), b2 = blockDot1<T>(wqb, b + 2, xp + 64, xp16 + 128);
    const a3 = blockDot1<T>(wqa, b + 3, xp + 96, xp16 + 192), b3 = blockDot1<T>(wqb, b + 3, xp + 96, xp16 + 192);
    const bo = <usize>b << 2;
    const dx = v128.load(xd + bo);
    const da = v128.load(wda + bo), db = v128.load(wdb + bo);
    aa = fma(f32x4.convert_i32x4_s(reduce4(a0, a1, a2, a3)), f32x4.mul(da, dx), aa);
    ab = fma(f32x4.convert_i32x4_s(reduce4(b0, b1, b2, b3)), f32x4.mul(db, dx), ab);
    if (!isSigned<T>()) {
      const sx = v128.load(xs + bo);
      va = fma(da, sx, va);
      vb = fma(db, sx, vb);
    }
  }
  let ca: f32 = isSigned<T>() ? 0 : hsum(va), cb: f32 = isSigned<T>() ? 0 : hsum(vb);
  for (; b < nb; b++) {
    const xp = xq + (<usize>b << 5), xp16 = xq16 + (<usize>b << 6);
    const bo = <usize>b << 2;
    const dx = load<f32>(xd + bo);
    const da = load<f32>(wda + bo), db = load<f32>(wdb + bo);
    aa = fma(f32x4.convert_i32x4_s(blockDot1<T>(wqa, b, xp, xp16)), f32x4.splat(da * dx), aa);
    ab = fma(f32x4.convert_i32x4_s(blockDot1<T>(wqb, b, xp, xp16)), f32x4.splat(db * dx), ab);
    if (!isSigned<T>()) {
      const s = load<f32>(xs + bo);
      ca += da * s;
      cb += db * s;
    }
  }
  store<f32>(oa, hsum(aa) - 8 * ca + ba);
  store<f32>(ob, hsum(ab) - 8 * cb + bb);
}

/** Two weight rows against two activation rows: each loaded block feeds two products. */
// @ts-ignore: decorator
@inline function q2x2<T>(wqa: usize, wqb: usize, wda: usize, wdb: usize, xq: usize, xq16: usize, xd: usize, xs: usize, nb: i32, K: i32, oa: usize, on: usize, ba: f32, bb: f32): void {
  const xq2 = xq + <usize>K, xq216 = xq16 + (<usize>K << 1);
  const bs = <usize>nb << 2;
  const xd2 = xd + bs, xs2 = xs + bs;
  let a1 = f32x4.splat(0), b1 = f32x4.splat(0), a2 = f32x4.splat(0), b2 = f32x4.splat(0);
  let ca1: f32 = 0, cb1: f32 = 0, ca2: f32 = 0, cb2: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const xo = <usize>b << 5, xo16 = <usize>b << 6;
    const x8 = xq + xo, x16 = xq16 + xo16, y8 = xq2 + xo, y16 = xq216 + xo16;
    const bo = <usize>b << 2;
    const dx = load<f32>(xd + bo), dy = load<f32>(xd2 + bo);
    const da = load<f32>(wda + bo), db = load<f32>(wdb + bo);
    a1 = fma(f32x4.convert_i32x4_s(blockDot<T>(wqa, b, x8, x16)), f32x4.splat(da * dx), a1);
    b1 = fma(f32x4.convert_i32x4_s(blockDot<T>(wqb, b, x8, x16)), f32x4.splat(db * dx), b1);
    a2 = fma(f32x4.convert_i32x4_s(blockDot<T>(wqa, b, y8, y16)), f32x4.splat(da * dy), a2);
    b2 = fma(f32x4.convert_i32x4_s(blockDot<T>(wqb, b, y8, y16)), f32x4.splat(db * dy), b2);
    if (!isSigned<T>()) {
      const s1 = load<f32>(xs + bo), s2 = load<f32>(xs2 + bo);
      ca1 += da * s1; cb1 += db * s1; ca2 += da * s2; cb2 += db * s2;
    }
  }
  store<f32>(oa, hsum(a1) - 8 * ca1 + ba);
  store<f32>(oa, hsum(b1) - 8 * cb1 + bb, 4);
  store<f32>(oa + on, hsum(a2) - 8 * ca2 + ba);
  store<f32>(oa + on, hsum(b2) - 8 * cb2 + bb, 4);
}

function matmulQuant<T>(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, wq: usize, wd: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const nb = K >> 5;
  const qRow: usize = isSigned<T>() ? <usize>K : <usize>(K >> 1);
  const dRow = <usize>nb << 2;
  const on = <usize>N << 2;
  let o = r0;
  for (; o + 2 <= r1; o += 2) {
    const wqa = wq + <usize>o * qRow, wda = wd + <usize>o * dRow;
    const ba = biasAt(bias, o), bb = biasAt(bias, o + 1);
    let i = 0;
    for (; i + 2 <= n; i += 2) {
      q2x2<T>(wqa, wqa + qRow, wda, wda + dRow, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + <usize>i * dRow, xs + <usize>i * dRow, nb, K, out + <usize>i * on + (<usize>o << 2), on, ba, bb);
    }
    if (i < n) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      q2x1<T>(wqa, wqa + qRow, wda, wda + dRow, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + <usize>i * dRow, xs + <usize>i * dRow, nb, oa, oa + 4, ba, bb);
    }
  }
  if (o < r1) {
    // Odd last row: pair it with itself and keep one result.
    const wqa = wq + <usize>o * qRow, wda = wd + <usize>o * dRow;
    const ba = biasAt(bias, o);
    for (let i = 0; i < n; i++) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      q2x1<T>(wqa, wqa, wda, wda, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + <usize>i * dRow, xs + <usize>i * dRow, nb, oa, oa, ba, ba);
    }
  }
}

export function matmul_q8_0(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, wq: usize, wd: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant<i8>(out, xq, xq16, xd, xs, wq, wd, bias, n, K, N, r0, r1);
}
export function matmul_q4_0(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, wq: usize, wd: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant<u8>(out, xq, xq16, xd, xs, wq, wd, bias, n, K, N, r0, r1);
}

/**
 * Quantises rows [i0, i1) of x [n, K] (K a multiple of 32) to 8-bit blocks: scale
 * d = max|x| / 127, q = round(x / d). Rounding is to nearest even (llama.cpp rounds halves
 * away from zero; halves are measure-zero on real activations).
 */
export function quantize_q8(x: usize, xq: usize, xq16: usize, xd: usize, xs: usize, K: i32, i0: i32, i1: i32): void {
  const nb = K >> 5;
  for (let i = i0; i < i1; i++) {
    for (let b = 0; b < nb; b++) {
      const e = <usize>i * K + (<usize>b << 5);
      const p = x + (e << 2);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
      const m = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
      );
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / 127;
      const id = f32x4.splat(d != 0 ? <f32>1 / d : <f32>0);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, id)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, id)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, id)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, id)));
      const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, id)));
      const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, id)));
      const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, id)));
      const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, id)));
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
      const o = xq + e, o16 = xq16 + (e << 1);
      v128.store(o, i8x16.narrow_i16x8_s(h0, h1));
      v128.store(o, i8x16.narrow_i16x8_s(h2, h3), 16);
      v128.store(o16, h0); v128.store(o16, h1, 16); v128.store(o16, h2, 32); v128.store(o16, h3, 48);
      const sum = hsumi(i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7))));
      const bo = (<usize>i * nb + b) << 2;
      store<f32>(xd + bo, d);
      store<f32>(xs + bo, d * <f32>sum);
    }
  }
}
