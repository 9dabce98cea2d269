// Small SIMD helpers shared by the kernels. `ASC_FEATURE_RELAXED_SIMD` is a compile-time
// constant: the relaxed build uses fused multiply-add and the 8-bit relaxed dot, the
// baseline build the plain equivalents; the untaken branch is not compiled at all.

/** a * b + c, fused in the relaxed build. */
// @ts-ignore: decorator
@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * v, after storing its lane 0 at o (an output of the kernel, written for real at its end): a
 * fence for V8's code generator, which issues a basic block's loads in program order but
 * computes their values as late as possible. Without it, a block that unpacks several chunks
 * of weights (or feeds several tokens) issues every chunk's loads first and spills their
 * vectors to the stack (the Q8_0 prefill tile: 28 GFLOP/s with the spills, 38 without). The
 * store depends on v, and the next chunk's loads follow the store.
 */
// @ts-ignore: decorator
@inline export function fence(o: usize, v: v128): v128 {
  v128.store32_lane(o, v, 0);
  return v;
}

/** c - a * b, fused in the relaxed build (the same value as fma(a, -b, c) in either build). */
// @ts-ignore: decorator
@inline export function fnma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

/** Bytes of v at the (in-range, below 16) indices idx: a plain byte shuffle in the relaxed build. */
// @ts-ignore: decorator
@inline export function pick(v: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(v, idx);
  return i8x16.swizzle(v, idx);
}

/**
 * Two vectors of int16 pair sums folded into one: lanes 0..3 are a's lanes i + (i + 4), lanes
 * 4..7 b's. The caller bounds the sums within int16; a's total and b's total are kept apart,
 * so one 16-bit dot can then widen (or scale) both.
 */
// @ts-ignore: decorator
@inline export function foldHalves(a: v128, b: v128): v128 {
  return i16x8.add(v128.shuffle<i64>(a, b, 0, 2), v128.shuffle<i64>(a, b, 1, 3));
}

/**
 * Relaxed build: int16 pair sums of 32 unsigned weights below 128 (elements 0..15 in lo, 16..31
 * in hi) with 32 int8 activations (x0, x1), by the 8 x 7-bit relaxed dot.
 */
// @ts-ignore: decorator
@inline export function relaxedPairSums(lo: v128, hi: v128, x0: v128, x1: v128): v128 {
  return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x1, hi));
}

/** Sum of the four float lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Sum of the four int lanes. */
// @ts-ignore: decorator
@inline export function hsumi(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** [sum(a), sum(b), sum(c), sum(d)] of four int32x4 vectors. */
// @ts-ignore: decorator
@inline export function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/** Four bfloat16 values at p as float32 lanes (bf16 is the top half of a float32). */
// @ts-ignore: decorator
@inline export function loadBf16x4(p: usize): v128 {
  return i32x4.shl(v128.load16x4_u(p), 16);
}

/**
 * Four IEEE half values at p as float32 lanes (weights hold no infinities or NaNs). Normal
 * halves are rebiased with an integer add; subnormal ones (exponent 0) are their mantissa
 * times 2^-24, converted from an integer: no float operation sees a subnormal operand, which
 * x86 handles in a slow microcode assist, and K-quant super-block scales are often subnormal
 * halves (a Q6_K d is about max|w| / 4096).
 */
// @ts-ignore: decorator
@inline export function loadF16x4(p: usize): v128 {
  const h = v128.load16x4_u(p);
  const mag = v128.and(h, i32x4.splat(0x7fff));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const normal = i32x4.add(i32x4.shl(mag, 13), i32x4.splat(0x38000000));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(mag), f32x4.splat(reinterpret<f32>(0x33800000)));
  return v128.or(v128.bitselect(sub, normal, i32x4.lt_s(mag, i32x4.splat(0x400))), sign);
}

/** One IEEE half as float32 (scalar twin of loadF16x4). */
// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const mag = h & 0x7fff;
  const bits = mag < 0x400 ? reinterpret<u32>(<f32>mag * reinterpret<f32>(0x33800000)) : (mag << 13) + 0x38000000;
  return reinterpret<f32>(bits | ((h & 0x8000) << 16));
}

/**
 * Dot product of 32 signed 8-bit weights with 32 signed 8-bit activations (|x| <= 127), as
 * four int32 lanes. Two products of magnitude <= 128 * 127 fit an int16, so pairs are
 * summed in 16 bits before widening.
 */
// @ts-ignore: decorator
@inline export function dotI8x32(w0: v128, w1: v128, x0: v128, x1: v128): v128 {
  const s0 = i16x8.add(i16x8.extmul_low_i8x16_s(w0, x0), i16x8.extmul_high_i8x16_s(w0, x0));
  const s1 = i16x8.add(i16x8.extmul_low_i8x16_s(w1, x1), i16x8.extmul_high_i8x16_s(w1, x1));
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(s0), i32x4.extadd_pairwise_i16x8_s(s1));
}

/**
 * Dot product of 32 signed 8-bit weights at w with 32 activations stored as int16 at x, as
 * four int32 lanes: sign-extending loads feed the 16-bit pairwise dot (pmaddwd), 2 instructions
 * per 8 products; the activations' int16 copy is written once per row by quantize_q8.
 */
// @ts-ignore: decorator
@inline export function dotI8I16x32(w: usize, x: usize): v128 {
  const s0 = i32x4.dot_i16x8_s(v128.load8x8_s(w), v128.load(x));
  const s1 = i32x4.dot_i16x8_s(v128.load8x8_s(w, 8), v128.load(x, 16));
  const s2 = i32x4.dot_i16x8_s(v128.load8x8_s(w, 16), v128.load(x, 32));
  const s3 = i32x4.dot_i16x8_s(v128.load8x8_s(w, 24), v128.load(x, 48));
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

/**
 * dotI8I16x32 with the 32 weights already widened to int16 (w0..w3: elements 0..7, ..24..31):
 * the same pairwise dots and the same lane sums, so the same four int32 lanes.
 */
// @ts-ignore: decorator
@inline export function dotW16x32(w0: v128, w1: v128, w2: v128, w3: v128, x: usize): v128 {
  const s0 = i32x4.dot_i16x8_s(w0, v128.load(x));
  const s1 = i32x4.dot_i16x8_s(w1, v128.load(x, 16));
  const s2 = i32x4.dot_i16x8_s(w2, v128.load(x, 32));
  const s3 = i32x4.dot_i16x8_s(w3, v128.load(x, 48));
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

/**
 * Dot product of one Q4_0 block's 16 packed bytes with 32 int16 activations at x, WITHOUT the
 * -8 offset (baseline build). Nibbles are widened to 16 bits first, where shifts are native.
 */
// @ts-ignore: decorator
@inline export function dotQ4I16x32(packed: v128, x: usize): v128 {
  const e0 = i16x8.extend_low_i8x16_u(packed), e1 = i16x8.extend_high_i8x16_u(packed);
  const m = i16x8.splat(0x0f);
  const s0 = i32x4.dot_i16x8_s(v128.and(e0, m), v128.load(x));
  const s1 = i32x4.dot_i16x8_s(v128.and(e1, m), v128.load(x, 16));
  const s2 = i32x4.dot_i16x8_s(i16x8.shr_u(e0, 4), v128.load(x, 32));
  const s3 = i32x4.dot_i16x8_s(i16x8.shr_u(e1, 4), v128.load(x, 48));
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

/**
 * Dot product of one Q4_0 block's 16 packed bytes (low nibbles: elements 0..15, high
 * nibbles: 16..31) with 32 activations, as four int32 lanes, WITHOUT the -8 offset: the
 * caller subtracts 8 * sum(x). The relaxed build uses the 8-bit x 7-bit relaxed dot (nibbles
 * are 0..15, inside the 7-bit operand's range); the baseline build the exact 8-bit products.
 */
// @ts-ignore: decorator
@inline export function dotQ4x32(packed: v128, x0: v128, x1: v128): v128 {
  const lo = v128.and(packed, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(packed, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(relaxedPairSums(lo, hi, x0, x1));
  }
  return dotI8x32(lo, hi, x0, x1);
}

/** 1.5 · 2^23 as float32 lanes, then its bits as int32 lanes (nearestInt). */
const ROUND = memory.data<i32>([0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000], 16);

/**
 * The nearest integers (ties to even) of four float lanes of magnitude below 2^22, as int32
 * lanes, as ggml's nearest_int computes them: adding 1.5 · 2^23 rounds the value into the low
 * bits of the sum's mantissa, and subtracting the sum's own bits leaves the integer. Three
 * instructions, where nearest and a saturating conversion cost V8 about eight on x86.
 */
// @ts-ignore: decorator
@inline export function nearestInt(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, v128.load(ROUND)), v128.load(ROUND, 16));
}

/**
 * exp4's constants, each four times: V8 rebuilds a v128 constant at every use (about four
 * instructions, none hoisted out of a loop), while a load from here is one instruction.
 */
const EXP4 = memory.data<f32>([
  -87.3, -87.3, -87.3, -87.3,
  88.7, 88.7, 88.7, 88.7,
  1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341,
  0.693359375, 0.693359375, 0.693359375, 0.693359375,
  -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4,
  1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4,
  1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3,
  8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3,
  4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2,
  1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1,
  5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1,
  1, 1, 1, 1,
], 16);
/** The bits of 1.5 · 2^23 (ROUND) less the exponent bias 127 (see exp4's scale). */
const EXP4_BIAS = memory.data<i32>([0x4b400000 - 127, 0x4b400000 - 127, 0x4b400000 - 127, 0x4b400000 - 127], 16);

// @ts-ignore: decorator
@inline function exp4c(k: i32): v128 {
  return v128.load(EXP4 + (<usize>k << 4));
}

/**
 * e^x on four lanes (Cephes' expf polynomial after range reduction by ln 2; relative error
 * about 2e-7). Inputs are clamped to [-87.3, 88.7], where float32 exp neither overflows nor
 * goes subnormal; a NaN stays NaN. The clamp uses pmin/pmax (one instruction each; min and
 * max's NaN and signed-zero rules cost V8 several), and the integer n becomes the scale's
 * exponent through 1.5 · 2^23 (its bits less the float's bits are n) instead of a saturating
 * conversion (about eight instructions in V8 on x86): the same values, fewer operations.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, exp4c(0)), exp4c(1));
  const n = f32x4.nearest(f32x4.mul(x, exp4c(2)));
  let r = f32x4.sub(x, f32x4.mul(n, exp4c(3)));
  r = f32x4.sub(r, f32x4.mul(n, exp4c(4)));
  let p = exp4c(5);
  p = fma(p, r, exp4c(6));
  p = fma(p, r, exp4c(7));
  p = fma(p, r, exp4c(8));
  p = fma(p, r, exp4c(9));
  p = fma(p, r, exp4c(10));
  p = f32x4.add(fma(p, f32x4.mul(r, r), r), exp4c(11));
  const scale = i32x4.shl(i32x4.sub(f32x4.add(n, v128.load(ROUND)), v128.load(EXP4_BIAS)), 23);
  return f32x4.mul(p, scale);
}
