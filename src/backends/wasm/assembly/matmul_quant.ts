// Matrix products with GGML's 32-weight block-quantised weights (Q8_0, Q4_0, Q5_0, Q4_1,
// Q5_1, IQ4_NL) against activations quantised to 8 bits per 32-element block, as ggml-cpu
// does for these types (vec_dot_type Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL, Q8_1 for Q4_1/Q5_1:
// the same quants, plus the block sum that the mins need): the inner products are exact
// integer dot products, scaled once per block.
//
// Weight layout in memory ("paired blocks", written by pack_blocks at upload). Rows go in
// pairs (a = row 2p, b = row 2p + 1; an odd last row is paired with a zero row), because every
// kernel computes two rows at a time. A pair is a run of groups of four blocks per row:
//   [f16 scales a0 a1 a2 a3 b0 b1 b2 b3 (16 bytes)]([f16 mins, the same, for Q4_1/Q5_1])
//   [payload a0..a3][payload b0..b3]
// and a last group of t < 4 blocks keeps the header (unused lanes zero) with t blocks per
// row. Payload per block, as GGUF stores it after the scale (and min):
//   Q8_0   32 x i8                                  value = q * d
//   Q4_0   16 bytes: low nibbles elements 0..15, high nibbles 16..31     (q - 8) * d
//   Q4_1   the same nibbles                                              q * d + m
//   Q5_0   4 bytes qh (bit j: the 5th bit of element j), then Q4_0's 16  (q - 16) * d
//   Q5_1   the same as Q5_0                                              q * d + m
//   IQ4_NL Q4_0's nibbles, each an index into a 16-value table           table[q] * d
// So a matrix-vector product reads one sequential stream (the hardware prefetcher's best
// case), and the memory holds exactly GGUF's bytes per block.
//
// Activations: xq i8 [n, K] and the same as int16 xq16 [n, K], xd f32 [n, K/32] (block scale),
// xs f32 [n, K/32] (scale * sum of the block's quants: applies an offset or a min once per
// block). The constant `f` (one of the F* below) picks the format in the inlined kernels.
import { fma, fence, foldHalves, hsum, hsumi, nearestInt, pick, relaxedPairSums, dotI8x32, dotI8I16x32, dotW16x32, dotQ4I16x32, dotQ4x32, loadF16x4, f16ToF32, reduce4 } from "./simd";

const FQ8_0 = 0, FQ4_0 = 1, FQ5_0 = 2, FQ4_1 = 3, FQ5_1 = 4, FIQ4_NL = 5;

/**
 * Tokens per prefill tile: eight where a block's unpacked weights (Q8_0's four widened
 * vectors, Q5_0/Q5_1's two) and eight accumulators fit the registers; four for the others
 * (with eight, Q4_0 spilled: 45 -> 37 GFLOP/s).
 */
// @ts-ignore: decorator
@inline function tileTokens(f: i32): i32 {
  return f == FQ8_0 || f == FQ5_0 || f == FQ5_1 ? 8 : 4;
}

/** Payload bytes per block (after the f16 scale, and min). */
// @ts-ignore: decorator
@inline function qbytes(f: i32): usize {
  return f == FQ8_0 ? 32 : f == FQ5_0 || f == FQ5_1 ? 20 : 16;
}

/** Bytes of a group's header: four f16 scales per row (and four mins). */
// @ts-ignore: decorator
@inline function hbytes(f: i32): usize {
  return f == FQ4_1 || f == FQ5_1 ? 32 : 16;
}

/**
 * What the block sum of the activations (xs) contributes: Q4_0 and Q5_0 subtract their offset
 * times the weight scale (-8, -16), Q4_1 and Q5_1 add their min (1 x m), the others nothing.
 */
// @ts-ignore: decorator
@inline function offset(f: i32): f32 {
  return f == FQ4_0 ? -8 : f == FQ5_0 ? -16 : f == FQ4_1 || f == FQ5_1 ? 1 : 0;
}

/** Bytes of one row pair of `nb` blocks per row with `qb` payload bytes per block and an `hb`-byte group header. */
// @ts-ignore: decorator
@inline export function pairBytes(nb: i32, qb: usize, hb: usize): usize {
  const full = <usize>(nb >> 2);
  const t = <usize>(nb & 3);
  return full * (hb + 8 * qb) + (t > 0 ? hb + 2 * t * qb : 0);
}

/**
 * Vector constants of the Q5 unpacking (M: the 0x0f and 0x10 byte masks, the bit of each byte
 * lane, the byte indices of qh for elements 0..15 and 16..31), made once per row pair from a
 * runtime zero no optimiser can fold and passed down: V8 11 rebuilds a v128 constant at every
 * use (four instructions; it hoists nothing out of loops), which made them the main cost of a
 * Q5_0 block.
 */
// @ts-ignore: decorator
@inline function maskOf(z: i32, v: v128): v128 {
  return i8x16.add(v, i8x16.splat(<i8>z));
}

/** The Q5 unpacking masks as constant data (m0f, m10, bits, idxLo, idxHi; see maskOf), 16 bytes each. */
const Q5_MASKS = memory.data<u8>([
  0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,
  0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
  1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
  2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
], 16);

/** The 32 five-bit weights of a Q5_0/Q5_1 payload at w (qh then nibbles) as bytes: elements 0..15 / 16..31. */
// @ts-ignore: decorator
@inline function q5lo(w: usize, qh: v128, m0f: v128, m10: v128, bits: v128, idxLo: v128): v128 {
  return v128.or(v128.and(v128.load(w, 4), m0f), highBit(pick(qh, idxLo), bits, m10));
}
// @ts-ignore: decorator
@inline function q5hi(w: usize, qh: v128, m0f: v128, m10: v128, bits: v128, idxHi: v128): v128 {
  return v128.or(v128.and(i16x8.shr_u(v128.load(w, 4), 4), m0f), highBit(pick(qh, idxHi), bits, m10));
}
/** 16 in byte j where bit (j mod 8) of byte j of `bits` is set, else 0. */
// @ts-ignore: decorator
@inline function highBit(v: v128, bits: v128, m10: v128): v128 {
  return v128.and(i8x16.eq(v128.and(v, bits), bits), m10);
}

/** IQ4_NL's 16 values (kvalues_iq4nl). */
// @ts-ignore: decorator
@inline function iq4Table(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

/**
 * Dot of 32 unsigned weights below 32 (elements 0..15 in lo, 16..31 in hi) with 32 int8
 * activations, as four int32 lanes: the relaxed 8 x 7-bit dot (two products of at most
 * 31 * 127 fit int16 pair sums), else exact 8-bit products.
 */
// @ts-ignore: decorator
@inline function dotU5x32(lo: v128, hi: v128, x0: v128, x1: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD)
    return i32x4.extadd_pairwise_i16x8_s(relaxedPairSums(lo, hi, x0, x1));
  return dotI8x32(lo, hi, x0, x1);
}

/**
 * Integer dot of the weight block at w with the activation block at x8 (int8) / x16 (int16),
 * as used by the prefill tile: Q8_0 and baseline Q4_0 take the int16 copy and the 16-bit dot;
 * relaxed Q4_0 the int8 copy and the 8-bit relaxed dot.
 */
// @ts-ignore: decorator
@inline function tileDot(f: i32, w: usize, x8: usize, x16: usize, m0f: v128, m10: v128, bits: v128, idxLo: v128, idxHi: v128): v128 {
  if (f == FQ8_0) return dotI8I16x32(w, x16);
  if (f == FQ5_0 || f == FQ5_1) {
    const qh = v128.load32_zero(w);
    return dotU5x32(q5lo(w, qh, m0f, m10, bits, idxLo), q5hi(w, qh, m0f, m10, bits, idxHi), v128.load(x8), v128.load(x8, 16));
  }
  if (f == FIQ4_NL) {
    const qs = v128.load(w);
    const lo = i8x16.swizzle(iq4Table(), v128.and(qs, i8x16.splat(0x0f)));
    const hi = i8x16.swizzle(iq4Table(), v128.and(i16x8.shr_u(qs, 4), i8x16.splat(0x0f)));
    return dotI8x32(lo, hi, v128.load(x8), v128.load(x8, 16));
  }
  // Q4_0, Q4_1: unsigned nibbles.
  if (ASC_FEATURE_RELAXED_SIMD) return dotQ4x32(v128.load(w), v128.load(x8), v128.load(x8, 16));
  return dotQ4I16x32(v128.load(w), x16);
}

/**
 * tileDot for the decode kernel: Q8_0 there is faster with 8-bit widening multiplies on the
 * int8 activations (measured 30 vs 24 GFLOP/s), the prefill tile with the int16 dot.
 */
// @ts-ignore: decorator
@inline function vecDot(f: i32, w: usize, x8: usize, x16: usize, m0f: v128, m10: v128, bits: v128, idxLo: v128, idxHi: v128): v128 {
  if (f == FQ8_0) return dotI8x32(v128.load(w), v128.load(w, 16), v128.load(x8), v128.load(x8, 16));
  return tileDot(f, w, x8, x16, m0f, m10, bits, idxLo, idxHi);
}

// @ts-ignore: decorator
@inline function biasAt(bias: usize, o: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>o << 2));
}

/**
 * Relaxed build, Q4_0/Q4_1/Q5_0/Q5_1: the int16 pair sums of the weight block at w with the
 * activation block at x8 (eight lanes whose total is the block's integer dot, each at most
 * 2 · 2 · 31 · 127 = 15748), before widening.
 */
// @ts-ignore: decorator
@inline function pairSums(f: i32, w: usize, x8: usize, m0f: v128, m10: v128, bits: v128, idxLo: v128, idxHi: v128): v128 {
  let lo: v128, hi: v128;
  if (f == FQ5_0 || f == FQ5_1) {
    const qh = v128.load32_zero(w);
    lo = q5lo(w, qh, m0f, m10, bits, idxLo);
    hi = q5hi(w, qh, m0f, m10, bits, idxHi);
  } else {
    const packed = v128.load(w);
    lo = v128.and(packed, m0f);
    hi = v128.and(i16x8.shr_u(packed, 4), m0f);
  }
  return relaxedPairSums(lo, hi, v128.load(x8), v128.load(x8, 16));
}

/** The int32 sums of two blocks' pair sums a and b, as lanes [a, a, b, b] (folded into one vector first: lanes 0..3 a's, 4..7 b's, each at most 31496). */
// @ts-ignore: decorator
@inline function foldTwo(a: v128, b: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(foldHalves(a, b));
}

/**
 * Four consecutive blocks of one row (quants at w) against one activation row, as float lanes;
 * each block's integer sum is fenced at o (see fence), so that V8 unpacks one block at a time
 * instead of issuing all four blocks' loads first and spilling (Q5_0 +5%). In the relaxed build
 * the 4- and 5-bit types widen two blocks' pair sums at once (foldTwo: half the widening dots
 * and no four-vector reduction).
 */
// @ts-ignore: decorator
@inline function group4(f: i32, w: usize, x8: usize, x16: usize, m0f: v128, m10: v128, bits: v128, idxLo: v128, idxHi: v128, o: usize): v128 {
  const qb = qbytes(f);
  if (ASC_FEATURE_RELAXED_SIMD && (f == FQ4_0 || f == FQ4_1 || f == FQ5_0 || f == FQ5_1)) {
    const p0 = fence(o, pairSums(f, w, x8, m0f, m10, bits, idxLo, idxHi));
    const p1 = fence(o, pairSums(f, w + qb, x8 + 32, m0f, m10, bits, idxLo, idxHi));
    const p2 = fence(o, pairSums(f, w + 2 * qb, x8 + 64, m0f, m10, bits, idxLo, idxHi));
    const p3 = fence(o, pairSums(f, w + 3 * qb, x8 + 96, m0f, m10, bits, idxLo, idxHi));
    const a = foldTwo(p0, p1), b = foldTwo(p2, p3);
    return f32x4.convert_i32x4_s(i32x4.add(v128.shuffle<i32>(a, b, 0, 2, 4, 6), v128.shuffle<i32>(a, b, 1, 3, 5, 7)));
  }
  const s0 = fence(o, vecDot(f, w, x8, x16, m0f, m10, bits, idxLo, idxHi));
  const s1 = fence(o, vecDot(f, w + qb, x8 + 32, x16 + 64, m0f, m10, bits, idxLo, idxHi));
  const s2 = fence(o, vecDot(f, w + 2 * qb, x8 + 64, x16 + 128, m0f, m10, bits, idxLo, idxHi));
  const s3 = fence(o, vecDot(f, w + 3 * qb, x8 + 96, x16 + 192, m0f, m10, bits, idxLo, idxHi));
  return f32x4.convert_i32x4_s(reduce4(s0, s1, s2, s3));
}

/** Lane j of v in every lane. */
// @ts-ignore: decorator
@inline function lane0(v: v128): v128 { return v128.shuffle<f32>(v, v, 0, 0, 0, 0); }
// @ts-ignore: decorator
@inline function lane1(v: v128): v128 { return v128.shuffle<f32>(v, v, 1, 1, 1, 1); }
// @ts-ignore: decorator
@inline function lane2(v: v128): v128 { return v128.shuffle<f32>(v, v, 2, 2, 2, 2); }
// @ts-ignore: decorator
@inline function lane3(v: v128): v128 { return v128.shuffle<f32>(v, v, 3, 3, 3, 3); }

/**
 * One row pair against one activation row (the decode kernel). A group's four integer sums
 * per row are gathered into one vector, so that scales (and the offset or min) cost one vector
 * multiply-add per four blocks. Stores row b's result before row a's, so that ob == oa keeps
 * row a (the odd last row of a matrix).
 */
// @ts-ignore: decorator
@inline function q2x1(f: i32, pair: usize, xq: usize, xq16: usize, xd: usize, xs: usize, nb: i32, oa: usize, ob: usize, ba: f32, bb: f32): void {
  const z = nb >> 31; // 0, opaque (see maskOf)
  const m0f = maskOf(z, i8x16.splat(0x0f)), m10 = maskOf(z, i8x16.splat(0x10));
  const bits = maskOf(z, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  const idxLo = maskOf(z, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const idxHi = maskOf(z, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const qb = qbytes(f), hb = hbytes(f);
  const useXs = offset(f) != 0;
  const hasMin = hb == 32;
  let aa = f32x4.splat(0), ab = f32x4.splat(0);
  let va = f32x4.splat(0), vb = f32x4.splat(0);
  let p = pair;
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const x8 = xq + (<usize>b << 5), x16 = xq16 + (<usize>b << 6);
    const bo = <usize>b << 2;
    const sa = loadF16x4(p), sb = loadF16x4(p + 8);
    const dx = v128.load(xd + bo);
    aa = fma(group4(f, p + hb, x8, x16, m0f, m10, bits, idxLo, idxHi, oa), f32x4.mul(sa, dx), aa);
    ab = fma(group4(f, p + hb + 4 * qb, x8, x16, m0f, m10, bits, idxLo, idxHi, oa), f32x4.mul(sb, dx), ab);
    if (useXs) {
      const sx = v128.load(xs + bo);
      va = fma(hasMin ? loadF16x4(p + 16) : sa, sx, va);
      vb = fma(hasMin ? loadF16x4(p + 24) : sb, sx, vb);
    }
    p += hb + 8 * qb;
  }
  let ca: f32 = useXs ? hsum(va) : 0, cb: f32 = useXs ? hsum(vb) : 0;
  const t = nb - b;
  for (let j = 0; j < t; j++, b++) {
    const x8 = xq + (<usize>b << 5), x16 = xq16 + (<usize>b << 6);
    const bo = <usize>b << 2;
    const dx = load<f32>(xd + bo);
    const jo = <usize>j << 1;
    const da = f16ToF32(<u32>load<u16>(p + jo)), db = f16ToF32(<u32>load<u16>(p + 8 + jo));
    const wa = p + hb + <usize>j * qb, wb = wa + <usize>t * qb;
    aa = fma(f32x4.convert_i32x4_s(vecDot(f, wa, x8, x16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(da * dx), aa);
    ab = fma(f32x4.convert_i32x4_s(vecDot(f, wb, x8, x16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(db * dx), ab);
    if (useXs) {
      const s = load<f32>(xs + bo);
      ca += (hasMin ? f16ToF32(<u32>load<u16>(p + 16 + jo)) : da) * s;
      cb += (hasMin ? f16ToF32(<u32>load<u16>(p + 24 + jo)) : db) * s;
    }
  }
  const off = offset(f);
  store<f32>(ob, hsum(ab) + off * cb + bb);
  store<f32>(oa, hsum(aa) + off * ca + ba);
}

/**
 * One row pair against two activation rows (the prefill tile): each group's weights feed four
 * products. Results for token 1 go to oa/ob, for token 2 to oa + on / ob + on; row b first.
 */
// @ts-ignore: decorator
@inline function q2x2(f: i32, pair: usize, xq: usize, xq16: usize, xd: usize, xs: usize, nb: i32, K: i32, oa: usize, ob: usize, on: usize, ba: f32, bb: f32): void {
  const z = nb >> 31; // 0, opaque (see maskOf)
  const m0f = maskOf(z, i8x16.splat(0x0f)), m10 = maskOf(z, i8x16.splat(0x10));
  const bits = maskOf(z, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  const idxLo = maskOf(z, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const idxHi = maskOf(z, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const qb = qbytes(f), hb = hbytes(f);
  const useXs = offset(f) != 0;
  const hasMin = hb == 32;
  const yq = xq + <usize>K, yq16 = xq16 + (<usize>K << 1);
  const bs = <usize>nb << 2;
  const yd = xd + bs, ys = xs + bs;
  let ax = f32x4.splat(0), bx = f32x4.splat(0), ay = f32x4.splat(0), by = f32x4.splat(0);
  let vax = f32x4.splat(0), vbx = f32x4.splat(0), vay = f32x4.splat(0), vby = f32x4.splat(0);
  let p = pair;
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const o8 = <usize>b << 5, o16 = <usize>b << 6;
    const bo = <usize>b << 2;
    const sa = loadF16x4(p), sb = loadF16x4(p + 8);
    const dx = v128.load(xd + bo), dy = v128.load(yd + bo);
    const wa = p + hb, wb = wa + 4 * qb;
    const x8 = xq + o8, x16 = xq16 + o16, y8 = yq + o8, y16 = yq16 + o16;
    // Per block, each product is scaled as soon as it is made: gathering four blocks first
    // (as the decode kernel does) keeps too many vectors live for this tile and spills.
    const sax = f32x4.mul(sa, dx), sbx = f32x4.mul(sb, dx), say = f32x4.mul(sa, dy), sby = f32x4.mul(sb, dy);
    if (f == FQ5_0 || f == FQ5_1) {
      // Each block is unpacked once for both tokens (tileDot would unpack it per token).
      {
        const wa0 = wa, wb0 = wb;
        const qa = v128.load32_zero(wa0), qb_ = v128.load32_zero(wb0);
        const la = q5lo(wa0, qa, m0f, m10, bits, idxLo), ha = q5hi(wa0, qa, m0f, m10, bits, idxHi);
        const lb = q5lo(wb0, qb_, m0f, m10, bits, idxLo), hb_ = q5hi(wb0, qb_, m0f, m10, bits, idxHi);
        const x0 = v128.load(x8), x1 = v128.load(x8, 16), y0 = v128.load(y8), y1 = v128.load(y8, 16);
        ax = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, x0, x1)), lane0(sax), ax);
        bx = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, x0, x1)), lane0(sbx), bx);
        ay = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, y0, y1)), lane0(say), ay);
        by = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, y0, y1)), lane0(sby), by);
      }
      {
        const wa1 = wa + 1 * qb, wb1 = wb + 1 * qb;
        const qa = v128.load32_zero(wa1), qb_ = v128.load32_zero(wb1);
        const la = q5lo(wa1, qa, m0f, m10, bits, idxLo), ha = q5hi(wa1, qa, m0f, m10, bits, idxHi);
        const lb = q5lo(wb1, qb_, m0f, m10, bits, idxLo), hb_ = q5hi(wb1, qb_, m0f, m10, bits, idxHi);
        const x0 = v128.load(x8, 32), x1 = v128.load(x8, 48), y0 = v128.load(y8, 32), y1 = v128.load(y8, 48);
        ax = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, x0, x1)), lane1(sax), ax);
        bx = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, x0, x1)), lane1(sbx), bx);
        ay = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, y0, y1)), lane1(say), ay);
        by = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, y0, y1)), lane1(sby), by);
      }
      {
        const wa2 = wa + 2 * qb, wb2 = wb + 2 * qb;
        const qa = v128.load32_zero(wa2), qb_ = v128.load32_zero(wb2);
        const la = q5lo(wa2, qa, m0f, m10, bits, idxLo), ha = q5hi(wa2, qa, m0f, m10, bits, idxHi);
        const lb = q5lo(wb2, qb_, m0f, m10, bits, idxLo), hb_ = q5hi(wb2, qb_, m0f, m10, bits, idxHi);
        const x0 = v128.load(x8, 64), x1 = v128.load(x8, 80), y0 = v128.load(y8, 64), y1 = v128.load(y8, 80);
        ax = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, x0, x1)), lane2(sax), ax);
        bx = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, x0, x1)), lane2(sbx), bx);
        ay = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, y0, y1)), lane2(say), ay);
        by = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, y0, y1)), lane2(sby), by);
      }
      {
        const wa3 = wa + 3 * qb, wb3 = wb + 3 * qb;
        const qa = v128.load32_zero(wa3), qb_ = v128.load32_zero(wb3);
        const la = q5lo(wa3, qa, m0f, m10, bits, idxLo), ha = q5hi(wa3, qa, m0f, m10, bits, idxHi);
        const lb = q5lo(wb3, qb_, m0f, m10, bits, idxLo), hb_ = q5hi(wb3, qb_, m0f, m10, bits, idxHi);
        const x0 = v128.load(x8, 96), x1 = v128.load(x8, 112), y0 = v128.load(y8, 96), y1 = v128.load(y8, 112);
        ax = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, x0, x1)), lane3(sax), ax);
        bx = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, x0, x1)), lane3(sbx), bx);
        ay = fma(f32x4.convert_i32x4_s(dotU5x32(la, ha, y0, y1)), lane3(say), ay);
        by = fma(f32x4.convert_i32x4_s(dotU5x32(lb, hb_, y0, y1)), lane3(sby), by);
      }
    } else {
      ax = fma(f32x4.convert_i32x4_s(tileDot(f, wa, x8, x16, m0f, m10, bits, idxLo, idxHi)), lane0(sax), ax);
      bx = fma(f32x4.convert_i32x4_s(tileDot(f, wb, x8, x16, m0f, m10, bits, idxLo, idxHi)), lane0(sbx), bx);
      ay = fma(f32x4.convert_i32x4_s(tileDot(f, wa, y8, y16, m0f, m10, bits, idxLo, idxHi)), lane0(say), ay);
      by = fma(f32x4.convert_i32x4_s(tileDot(f, wb, y8, y16, m0f, m10, bits, idxLo, idxHi)), lane0(sby), by);
      ax = fma(f32x4.convert_i32x4_s(tileDot(f, wa + qb, x8 + 32, x16 + 64, m0f, m10, bits, idxLo, idxHi)), lane1(sax), ax);
      bx = fma(f32x4.convert_i32x4_s(tileDot(f, wb + qb, x8 + 32, x16 + 64, m0f, m10, bits, idxLo, idxHi)), lane1(sbx), bx);
      ay = fma(f32x4.convert_i32x4_s(tileDot(f, wa + qb, y8 + 32, y16 + 64, m0f, m10, bits, idxLo, idxHi)), lane1(say), ay);
      by = fma(f32x4.convert_i32x4_s(tileDot(f, wb + qb, y8 + 32, y16 + 64, m0f, m10, bits, idxLo, idxHi)), lane1(sby), by);
      ax = fma(f32x4.convert_i32x4_s(tileDot(f, wa + 2 * qb, x8 + 64, x16 + 128, m0f, m10, bits, idxLo, idxHi)), lane2(sax), ax);
      bx = fma(f32x4.convert_i32x4_s(tileDot(f, wb + 2 * qb, x8 + 64, x16 + 128, m0f, m10, bits, idxLo, idxHi)), lane2(sbx), bx);
      ay = fma(f32x4.convert_i32x4_s(tileDot(f, wa + 2 * qb, y8 + 64, y16 + 128, m0f, m10, bits, idxLo, idxHi)), lane2(say), ay);
      by = fma(f32x4.convert_i32x4_s(tileDot(f, wb + 2 * qb, y8 + 64, y16 + 128, m0f, m10, bits, idxLo, idxHi)), lane2(sby), by);
      ax = fma(f32x4.convert_i32x4_s(tileDot(f, wa + 3 * qb, x8 + 96, x16 + 192, m0f, m10, bits, idxLo, idxHi)), lane3(sax), ax);
      bx = fma(f32x4.convert_i32x4_s(tileDot(f, wb + 3 * qb, x8 + 96, x16 + 192, m0f, m10, bits, idxLo, idxHi)), lane3(sbx), bx);
      ay = fma(f32x4.convert_i32x4_s(tileDot(f, wa + 3 * qb, y8 + 96, y16 + 192, m0f, m10, bits, idxLo, idxHi)), lane3(say), ay);
      by = fma(f32x4.convert_i32x4_s(tileDot(f, wb + 3 * qb, y8 + 96, y16 + 192, m0f, m10, bits, idxLo, idxHi)), lane3(sby), by);
    }
    if (useXs) {
      const sx = v128.load(xs + bo), sy = v128.load(ys + bo);
      const ma = hasMin ? loadF16x4(p + 16) : sa, mb = hasMin ? loadF16x4(p + 24) : sb;
      vax = fma(ma, sx, vax); vbx = fma(mb, sx, vbx);
      vay = fma(ma, sy, vay); vby = fma(mb, sy, vby);
    }
    p += hb + 8 * qb;
  }
  let cax: f32 = 0, cbx: f32 = 0, cay: f32 = 0, cby: f32 = 0;
  if (useXs) {
    cax = hsum(vax); cbx = hsum(vbx); cay = hsum(vay); cby = hsum(vby);
  }
  const t = nb - b;
  for (let j = 0; j < t; j++, b++) {
    const o8 = <usize>b << 5, o16 = <usize>b << 6;
    const bo = <usize>b << 2;
    const dx = load<f32>(xd + bo), dy = load<f32>(yd + bo);
    const jo = <usize>j << 1;
    const da = f16ToF32(<u32>load<u16>(p + jo)), db = f16ToF32(<u32>load<u16>(p + 8 + jo));
    const wa = p + hb + <usize>j * qb, wb = wa + <usize>t * qb;
    ax = fma(f32x4.convert_i32x4_s(tileDot(f, wa, xq + o8, xq16 + o16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(da * dx), ax);
    bx = fma(f32x4.convert_i32x4_s(tileDot(f, wb, xq + o8, xq16 + o16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(db * dx), bx);
    ay = fma(f32x4.convert_i32x4_s(tileDot(f, wa, yq + o8, yq16 + o16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(da * dy), ay);
    by = fma(f32x4.convert_i32x4_s(tileDot(f, wb, yq + o8, yq16 + o16, m0f, m10, bits, idxLo, idxHi)), f32x4.splat(db * dy), by);
    if (useXs) {
      const sx = load<f32>(xs + bo), sy = load<f32>(ys + bo);
      const ma = hasMin ? f16ToF32(<u32>load<u16>(p + 16 + jo)) : da, mb = hasMin ? f16ToF32(<u32>load<u16>(p + 24 + jo)) : db;
      cax += ma * sx; cbx += mb * sx; cay += ma * sy; cby += mb * sy;
    }
  }
  const off = offset(f);
  store<f32>(ob, hsum(bx) + off * cbx + bb);
  store<f32>(oa, hsum(ax) + off * cax + ba);
  store<f32>(ob + on, hsum(by) + off * cby + bb);
  store<f32>(oa + on, hsum(ay) + off * cay + ba);
}

/**
 * The activation sums of a group's t blocks at p as lanes, zero past t: a short last group
 * reads no further than its row's sums (past them may be the end of memory, and the header's
 * zero scales would turn a non-finite value there into NaN).
 */
// @ts-ignore: decorator
@inline function sums4(p: usize, t: i32): v128 {
  if (t == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (t > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (t > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/**
 * acc plus token k's product with one block (its quants at x8 / x16, its scale at d; the
 * block's weights at w, or already unpacked: lo/hi for Q5_0/Q5_1, widened w0..w3 for Q8_0),
 * scaled by the block's weight scale dw (in every lane) times the activation scale, then
 * fenced at o.
 */
// @ts-ignore: decorator
@inline function tokenStep(f: i32, acc: v128, o: usize, w: usize, x8: usize, x16: usize, d: usize, dw: v128, lo: v128, hi: v128, w0: v128, w1: v128, w2: v128, w3: v128, m0f: v128, m10: v128, bits: v128, idxLo: v128, idxHi: v128): v128 {
  let s: v128;
  if (f == FQ5_0 || f == FQ5_1) s = dotU5x32(lo, hi, v128.load(x8), v128.load(x8, 16));
  else if (f == FQ8_0) s = dotW16x32(w0, w1, w2, w3, x16);
  else s = tileDot(f, w, x8, x16, m0f, m10, bits, idxLo, idxHi);
  return fence(o, fma(f32x4.convert_i32x4_s(s), f32x4.mul(dw, v128.load32_splat(d)), acc));
}

/**
 * One row of a pair (side 0: row a, 1: row b) against T = 4 or 8 activation rows (token j's
 * quants at xq + j K, its scales and sums nb floats after token j - 1's): the prefill tile.
 * Each block's weights are unpacked once for T tokens (Q5_0/Q5_1: bits expanded; Q8_0:
 * widened to int16), and each product is scaled as soon as it is made (block scale times the
 * token's activation scale, as ggml's vec_dot does) into the token's float accumulator, then
 * fenced (see fence), so the live vectors are the accumulators, one block's weights and the
 * unpacking masks. Writes token j's result at o + j on.
 */
// @ts-ignore: decorator
@inline function q1xT(f: i32, T: i32, pair: usize, side: usize, xq: usize, xq16: usize, xd: usize, xs: usize, nb: i32, K: i32, o: usize, on: usize, bias: f32): void {
  const z = nb >> 31; // 0, opaque (see maskOf)
  const m0f = maskOf(z, i8x16.splat(0x0f)), m10 = maskOf(z, i8x16.splat(0x10));
  const bits = maskOf(z, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  const idxLo = maskOf(z, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const idxHi = maskOf(z, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const qb = qbytes(f), hb = hbytes(f);
  const useXs = offset(f) != 0;
  const hasMin = hb == 32;
  const k8 = <usize>K, k16 = <usize>K << 1, kd = <usize>nb << 2;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let p = pair;
  for (let b = 0; b < nb; b += 4) {
    const t = min(4, nb - b); // blocks in this group (the last may hold fewer)
    const bo = <usize>b << 2;
    const sa = loadF16x4(p + (side << 3));
    if (useXs) {
      // The offset (Q4_0/Q5_0: -8/-16 times the scale) or min of each block times the
      // activation block's scaled sum, lane by lane: a group's blocks are a vector's lanes.
      const m = hasMin ? loadF16x4(p + 16 + (side << 3)) : f32x4.mul(sa, f32x4.splat(offset(f)));
      const s0 = xs + bo;
      a0 = fma(m, sums4(s0, t), a0);
      a1 = fma(m, sums4(s0 + kd, t), a1);
      a2 = fma(m, sums4(s0 + 2 * kd, t), a2);
      a3 = fma(m, sums4(s0 + 3 * kd, t), a3);
      if (T == 8) {
        a4 = fma(m, sums4(s0 + 4 * kd, t), a4);
        a5 = fma(m, sums4(s0 + 5 * kd, t), a5);
        a6 = fma(m, sums4(s0 + 6 * kd, t), a6);
        a7 = fma(m, sums4(s0 + 7 * kd, t), a7);
      }
    }
    let sr = sa; // block j's weight scale in lane 0
    let w = p + hb + side * <usize>t * qb;
    for (let j = 0; j < t; j++, w += qb) {
      const e = <usize>(b + j);
      const x0 = xq + (e << 5), y0 = xq16 + (e << 6), d0 = xd + (e << 2);
      const dw = v128.shuffle<f32>(sr, sr, 0, 0, 0, 0);
      sr = v128.shuffle<f32>(sr, sr, 1, 2, 3, 0);
      let lo = i32x4.splat(0), hi = i32x4.splat(0);
      let w0 = i32x4.splat(0), w1 = i32x4.splat(0), w2 = i32x4.splat(0), w3 = i32x4.splat(0);
      if (f == FQ5_0 || f == FQ5_1) {
        // The masks are read from memory here, not kept in registers across the loop, which
        // leaves the registers to the eight tokens' accumulators.
        const qh = v128.load32_zero(w);
        const c0f = v128.load(Q5_MASKS), c10 = v128.load(Q5_MASKS, 16), cb = v128.load(Q5_MASKS, 32);
        lo = q5lo(w, qh, c0f, c10, cb, v128.load(Q5_MASKS, 48));
        hi = q5hi(w, qh, c0f, c10, cb, v128.load(Q5_MASKS, 64));
      } else if (f == FQ8_0) {
        // Widened to int16 once for the T tokens (tileDot would widen them per token): the
        // same pairwise dots and lane sums as dotI8I16x32.
        w0 = v128.load8x8_s(w);
        w1 = v128.load8x8_s(w, 8);
        w2 = v128.load8x8_s(w, 16);
        w3 = v128.load8x8_s(w, 24);
      }
      // Token k's activations by running pointers: fewer live addresses than x0 + k K each.
      let xk = x0, yk = y0, dk = d0;
      a0 = tokenStep(f, a0, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
      xk += k8; yk += k16; dk += kd;
      a1 = tokenStep(f, a1, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
      xk += k8; yk += k16; dk += kd;
      a2 = tokenStep(f, a2, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
      xk += k8; yk += k16; dk += kd;
      a3 = tokenStep(f, a3, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
      if (T == 8) {
        xk += k8; yk += k16; dk += kd;
        a4 = tokenStep(f, a4, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
        xk += k8; yk += k16; dk += kd;
        a5 = tokenStep(f, a5, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
        xk += k8; yk += k16; dk += kd;
        a6 = tokenStep(f, a6, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
        xk += k8; yk += k16; dk += kd;
        a7 = tokenStep(f, a7, o, w, xk, yk, dk, dw, lo, hi, w0, w1, w2, w3, m0f, m10, bits, idxLo, idxHi);
      }
    }
    p += hb + 2 * <usize>t * qb;
  }
  store<f32>(o, hsum(a0) + bias);
  store<f32>(o + on, hsum(a1) + bias);
  store<f32>(o + 2 * on, hsum(a2) + bias);
  store<f32>(o + 3 * on, hsum(a3) + bias);
  if (T == 8) {
    store<f32>(o + 4 * on, hsum(a4) + bias);
    store<f32>(o + 5 * on, hsum(a5) + bias);
    store<f32>(o + 6 * on, hsum(a6) + bias);
    store<f32>(o + 7 * on, hsum(a7) + bias);
  }
}

/** Output rows [r0, r1) (r0 even) of out [n, N] = x [n, K] w^T, pairs of rows at a time. */
// @ts-ignore: decorator
@inline function matmulQuant(f: i32, out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const nb = K >> 5;
  const pb = pairBytes(nb, qbytes(f), hbytes(f));
  const dRow = <usize>nb << 2;
  const on = <usize>N << 2;
  for (let o = r0; o < r1; o += 2) {
    const pair = w + <usize>(o >> 1) * pb;
    // An odd last row is paired with a zero row: its result is computed and dropped (ob = oa).
    const two = o + 1 < r1;
    const ba = biasAt(bias, o), bb = two ? biasAt(bias, o + 1) : <f32>0;
    const bOff: usize = two ? 4 : 0;
    let i = 0;
    // Eight (tileTokens) or four tokens at a time through each row of the pair, then the rest
    // four, two and one at a time.
    if (tileTokens(f) == 8) {
      for (; i + 8 <= n; i += 8) {
        const oa = out + <usize>i * on + (<usize>o << 2);
        const x8 = xq + <usize>i * K, x16 = xq16 + ((<usize>i * K) << 1), d = xd + <usize>i * dRow, s = xs + <usize>i * dRow;
        q1xT(f, 8, pair, 0, x8, x16, d, s, nb, K, oa, on, ba);
        if (two) q1xT(f, 8, pair, 1, x8, x16, d, s, nb, K, oa + 4, on, bb);
      }
    }
    for (; i + 4 <= n; i += 4) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      const x8 = xq + <usize>i * K, x16 = xq16 + ((<usize>i * K) << 1), d = xd + <usize>i * dRow, s = xs + <usize>i * dRow;
      q1xT(f, 4, pair, 0, x8, x16, d, s, nb, K, oa, on, ba);
      if (two) q1xT(f, 4, pair, 1, x8, x16, d, s, nb, K, oa + 4, on, bb);
    }
    for (; i + 2 <= n; i += 2) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      q2x2(f, pair, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + <usize>i * dRow, xs + <usize>i * dRow, nb, K, oa, oa + bOff, on, ba, bb);
    }
    if (i < n) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      q2x1(f, pair, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + <usize>i * dRow, xs + <usize>i * dRow, nb, oa, oa + bOff, ba, bb);
    }
  }
}

export function matmul_q8_0(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FQ8_0, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}
export function matmul_q4_0(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FQ4_0, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}
export function matmul_q5_0(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FQ5_0, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}
export function matmul_q4_1(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FQ4_1, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}
export function matmul_q5_1(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FQ5_1, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}
export function matmul_iq4_nl(out: usize, xq: usize, xq16: usize, xd: usize, xs: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulQuant(FIQ4_NL, out, xq, xq16, xd, xs, w, bias, n, K, N, r0, r1);
}

/**
 * Writes `rows` rows of GGUF blocks at src (each block `halves` f16 values, the scale and for
 * Q4_1/Q5_1 the min, then `qBytes` payload bytes; rows of K/32 blocks, row-major) in the
 * paired layout at dst, which is where the pair of the first row goes (the first row is even).
 * An odd count pairs the last row with a zero row. Runs at upload, one staged chunk of rows
 * at a time.
 */
export function pack_blocks(dst: usize, src: usize, rows: i32, K: i32, qBytes: i32, halves: i32): void {
  const nb = K >> 5;
  const qb = <usize>qBytes;
  const hb: usize = halves == 2 ? 32 : 16;
  const bb = qb + 2 * <usize>halves;
  const rowBytes = <usize>nb * bb;
  let p = dst;
  for (let r = 0; r < rows; r += 2) {
    const sa = src + <usize>r * rowBytes;
    const hasB = r + 1 < rows;
    const sb = sa + rowBytes;
    for (let b = 0; b < nb; b += 4) {
      const t = min(4, nb - b);
      memory.fill(p, 0, hb);
      for (let j = 0; j < t; j++) {
        const ba = sa + <usize>(b + j) * bb, bbk = sb + <usize>(b + j) * bb;
        const qa = p + hb + <usize>j * qb, qbp = qa + <usize>t * qb;
        const jo = <usize>j << 1;
        for (let h = 0; h < halves; h++) {
          const ho = <usize>h << 4, so = <usize>h << 1;
          store<u16>(p + ho + jo, load<u16>(ba + so));
          if (hasB) store<u16>(p + ho + 8 + jo, load<u16>(bbk + so));
        }
        memory.copy(qa, ba + 2 * <usize>halves, qb);
        if (hasB) memory.copy(qbp, bbk + 2 * <usize>halves, qb);
        else memory.fill(qbp, 0, qb);
      }
      p += hb + 2 * <usize>t * qb;
    }
  }
}

/**
 * Row `id` of a paired-layout table of format f (0 Q8_0, 1 Q4_0, 2 Q5_0, 3 Q4_1, 4 Q5_1,
 * 5 IQ4_NL) as float32 at out (the embedding lookup), computed as ggml's dequantize_row_*.
 */
export function dequant_row(out: usize, table: usize, f: i32, id: i32, K: i32): void {
  const nb = K >> 5;
  const qb = qbytes(f), hb = hbytes(f);
  let p = table + <usize>(id >> 1) * pairBytes(nb, qb, hb);
  const side = <usize>(id & 1);
  for (let b = 0; b < nb; b += 4) {
    const t = min(4, nb - b);
    for (let j = 0; j < t; j++) {
      const jo = (side << 3) + (<usize>j << 1);
      const d = f16ToF32(<u32>load<u16>(p + jo));
      const m = hb == 32 ? f16ToF32(<u32>load<u16>(p + 16 + jo)) : <f32>0;
      const q = p + hb + side * <usize>t * qb + <usize>j * qb;
      const o = out + (<usize>(b + j) << 7);
      if (f == FQ8_0) {
        for (let k = 0; k < 32; k++) store<f32>(o + (<usize>k << 2), <f32>load<i8>(q + k) * d);
        continue;
      }
      const five = f == FQ5_0 || f == FQ5_1;
      const qh = five ? load<u32>(q) : 0;
      const qs = five ? q + 4 : q;
      for (let k = 0; k < 16; k++) {
        const byte = <i32>load<u8>(qs + k);
        let lo = byte & 15, hi = byte >> 4;
        if (five) {
          lo |= <i32>((qh >> k) & 1) << 4;
          hi |= <i32>((qh >> (k + 16)) & 1) << 4;
        }
        let vl: f32, vh: f32;
        if (f == FIQ4_NL) {
          vl = d * <f32>iq4Value(lo);
          vh = d * <f32>iq4Value(hi);
        } else if (f == FQ4_1 || f == FQ5_1) {
          vl = <f32>lo * d + m;
          vh = <f32>hi * d + m;
        } else {
          const off = f == FQ4_0 ? 8 : 16;
          vl = <f32>(lo - off) * d;
          vh = <f32>(hi - off) * d;
        }
        store<f32>(o + (<usize>k << 2), vl);
        store<f32>(o + (<usize>(k + 16) << 2), vh);
      }
    }
    p += hb + 2 * <usize>t * qb;
  }
}

function iq4Value(i: i32): i32 {
  return i8x16.extract_lane_s(i8x16.swizzle(iq4Table(), i8x16.splat(<i8>i)), 0);
}

/**
 * A float32 value rounded to the nearest f16 value (ties to even), as float32: ggml stores an
 * activation block's scale as f16 and its dot products read that back. Subnormal f16 values
 * are multiples of 2^-24; values past the f16 range are not expected (d = max|x| / 127).
 */
// @ts-ignore: decorator
@inline function roundToF16(v: f32): f32 {
  const a = abs<f32>(v);
  if (a < <f32>6.103515625e-05) return copysign<f32>(nearest<f32>(a * <f32>16777216) * <f32>5.9604644775390625e-08, v);
  const bits = reinterpret<u32>(a);
  const r = (bits + 0xfff + ((bits >> 13) & 1)) & ~(<u32>0x1fff);
  return copysign<f32>(reinterpret<f32>(r), v);
}

/**
 * Quantises rows [i0, i1) of x [n, K] (K a multiple of 32) to 8-bit blocks as ggml-cpu's x86
 * quantize_row_q8_0 / quantize_row_q8_1 do (bit for bit, test/tensor/ggml_activations.test.ts):
 * d = max|x| / 127 kept as f16, q = x * (127 / max|x|) rounded to nearest even. xs: for the
 * Q8_0 types (q8_1 = 0) d * Σq with that f16 d, which Q4_0/Q5_0 scale their offset by (ggml
 * subtracts it in integers: the same value to float rounding); for Q4_1/Q5_1 (q8_1 = 1) Q8_1's
 * s exactly: the float32 d times Σq, rounded to f16, which ggml multiplies by the weight min.
 */
export function quantize_q8(x: usize, xq: usize, xq16: usize, xd: usize, xs: usize, K: i32, i0: i32, i1: i32, q8_1: i32): void {
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
      const d32: f32 = amax / 127;
      const d = roundToF16(d32);
      const id = f32x4.splat(amax != 0 ? <f32>127 / amax : <f32>0);
      const q0 = nearestInt(f32x4.mul(v0, id));
      const q1 = nearestInt(f32x4.mul(v1, id));
      const q2 = nearestInt(f32x4.mul(v2, id));
      const q3 = nearestInt(f32x4.mul(v3, id));
      const q4 = nearestInt(f32x4.mul(v4, id));
      const q5 = nearestInt(f32x4.mul(v5, id));
      const q6 = nearestInt(f32x4.mul(v6, id));
      const q7 = nearestInt(f32x4.mul(v7, id));
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
      const o = xq + e, o16 = xq16 + (e << 1);
      v128.store(o, i8x16.narrow_i16x8_s(h0, h1));
      v128.store(o, i8x16.narrow_i16x8_s(h2, h3), 16);
      v128.store(o16, h0); v128.store(o16, h1, 16); v128.store(o16, h2, 32); v128.store(o16, h3, 48);
      const sum = hsumi(i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7))));
      const bo = (<usize>i * nb + b) << 2;
      store<f32>(xd + bo, d);
      store<f32>(xs + bo, q8_1 != 0 ? roundToF16(d32 * <f32>sum) : d * <f32>sum);
    }
  }
}

/** pairBytes for the host, which sizes weights with it: the layout is defined in one place. */
export function pair_bytes(K: i32, qBytes: i32, halves: i32): i32 {
  return <i32>pairBytes(K >> 5, <usize>qBytes, halves == 2 ? 32 : 16);
}
