// Matrix products with GGML's K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: super-blocks
// of 256 weights) against activations quantised to Q8_K, as ggml-cpu does for these types
// (their vec_dot_type): per super-block the integer sums below are exactly ggml's, and they
// are scaled to float once per super-block.
//
// Every K-quant super-block, once unpacked, is 16 groups of 16 consecutive weights in element
// order; group g has an integer scale sc[g] (Q4_K/Q5_K: one 6-bit scale per 32 weights, so
// two groups share it) and the weights are small unsigned integers q (0..63). With x the
// block's int8 activations and bs[g] the sum of group g's activations, the super-block gives
//   d_w * d_x * (sum_g sc[g] * dot(q_g, x_g) - off * sum_g sc[g] * bs[g])  - dmin_w * d_x * sum_g m[g] * bs[g]
// where off is Q6_K's 32 and Q3_K's 4 (their signed values stored with an offset), and m[g]
// the 4- or 6-bit mins of Q2_K/Q4_K/Q5_K. The dot of 16 unsigned weights with 16 int8
// activations is one 8-by-7-bit relaxed dot in the relaxed build (weights are below 128) and
// 16-bit multiplies on the int16 copy in the baseline build; either gives pair sums in 16-bit
// lanes (|sum| <= 2 * 63 * 127), which one 16-bit dot with the broadcast scale widens.
//
// Weight layout ("paired super-blocks", written by pack_superblocks at upload): rows in pairs
// (an odd last row paired with a zero row), and a pair is the two rows' super-blocks
// interleaved, a0 b0 a1 b1 ..., read as one sequential stream by a row-pair kernel. Q2_K and
// Q3_K super-blocks are GGUF's bytes; Q4_K, Q5_K and Q6_K have their quants permuted (Q6_K's
// also re-encoded) so that one 8-bit dot serves two scale groups: see kquant_layout.ts.
//
// Activations (quantize_q8_k): xq i8 [n, K], xq16 i16 [n, K] (baseline build), xd f32
// [n, K/256] (d = max / -127, the signed extreme as ggml chooses it), xb i16 [n, K/16] (sums
// of 16 quants, ggml's bsums); right after xq (and xq16) the same quants in the permuted order
// of kquant_layout.ts, which the Q4_K, Q5_K and Q6_K kernels read.
import { fma, fnma, fence, f16ToF32, nearestInt, pick, reduce4 } from "./simd";
import { bitTo4, permuteChunk, q4kQuant, q5kQuant, q6kQuant, q6kVector3, repackQ4K, repackQ5K, repackQ6K } from "./kquant_layout";

/** Type tags, passed as compile-time constants to the inlined kernels. */
const Q2K = 2, Q3K = 3, Q4K = 4, Q5K = 5, Q6K = 6;

// @ts-ignore: decorator
@inline function blockBytes(t: i32): usize {
  return t == Q2K ? 84 : t == Q3K ? 110 : t == Q4K ? 144 : t == Q5K ? 176 : 210;
}

/** Bytes of one row pair in the paired super-block layout. */
// @ts-ignore: decorator
@inline function pairBytesK(K: i32, bb: usize): usize {
  return <usize>(K >> 8) * 2 * bb;
}

// @ts-ignore: decorator
@inline function splat8(v: i32): v128 { return i8x16.splat(<i8>v); }

/**
 * Q2_K/Q3_K: the 32 weights of unit k (elements 32k .. 32k + 31 of the super-block at p) as
 * two vectors of unsigned bytes (elements 0..15 and 16..31 of the unit). Q4_K, Q5_K and Q6_K
 * unpack in pairKernel.
 */
// @ts-ignore: decorator
@inline function unitLo(t: i32, p: usize, k: i32): v128 {
  return unit(t, p, k, 0);
}
// @ts-ignore: decorator
@inline function unitHi(t: i32, p: usize, k: i32): v128 {
  return unit(t, p, k, 16);
}

// @ts-ignore: decorator
@inline function unit(t: i32, p: usize, k: i32, half: usize): v128 {
  const n = <usize>(k >> 2), j = k & 3;
  if (t == Q3K) {
    // hmask at 0 (bit k of byte l: weight l of unit k is >= 4 before the -4 offset), qs at
    // 32 (2 bits per weight: units 4n+j at shift 2j of bytes 32n..32n+31), scales at 96, d at 108.
    const b = v128.load(p + 32 + (n << 5) + half);
    const lo = v128.and(i16x8.shr_u(b, 2 * j), splat8(3));
    const h = v128.load(p + half);
    return v128.or(lo, v128.and(i16x8.shl(i16x8.shr_u(h, k), 2), splat8(4)));
  }
  // Q2_K: scales at 0 (low nibble scale, high nibble min per group), qs at 16, d at 80, dmin at 82.
  const b = v128.load(p + 16 + (n << 5) + half);
  return v128.and(i16x8.shr_u(b, 2 * j), splat8(3));
}

/** Pair sums (8 x int16) of 16 unsigned weights w with 16 int8 activations at x8 (int16 copy at x16). */
// @ts-ignore: decorator
@inline function dot16(w: v128, x8: usize, x16: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x8), w);
  return i16x8.add(
    i16x8.mul(i16x8.extend_low_i8x16_u(w), v128.load(x16)),
    i16x8.mul(i16x8.extend_high_i8x16_u(w), v128.load(x16, 16)),
  );
}

/** Lane 0 (int16) of v in every lane. */
// @ts-ignore: decorator
@inline function bcast0(v: v128): v128 { return v128.shuffle<i16>(v, v, 0, 0, 0, 0, 0, 0, 0, 0); }
// @ts-ignore: decorator
@inline function bcast1(v: v128): v128 { return v128.shuffle<i16>(v, v, 1, 1, 1, 1, 1, 1, 1, 1); }
/** v moved down by two int16 lanes (the next unit's scales in lanes 0 and 1). */
// @ts-ignore: decorator
@inline function next2(v: v128): v128 { return v128.shuffle<i16>(v, v, 2, 3, 4, 5, 6, 7, 7, 7); }

/** Four int32 lanes as one 128-bit vector. */
// @ts-ignore: decorator
@inline function i32x4of(a: u32, b: u32, c: u32, d: u32): v128 {
  return i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(a), 1, b), 2, c), 3, d);
}

/**
 * A super-block's scale bytes, unpacked: Q4_K/Q5_K the eight 6-bit scales then the eight
 * 6-bit mins; Q3_K the sixteen 6-bit scales (+32); Q6_K the sixteen int8 scales; Q2_K the
 * sixteen bytes scale | min << 4.
 */
// @ts-ignore: decorator
@inline function scalesOf(t: i32, p: usize): v128 {
  if (t == Q4K || t == Q5K) {
    const u0 = load<u32>(p + 4), u1 = load<u32>(p + 8), u2 = load<u32>(p + 12);
    // get_scale_min_k4: scales 0..3 and mins 0..3 are the low 6 bits of bytes 0..7; scales
    // and mins 4..7 take their low 4 bits from bytes 8..11 and their top 2 from bytes 0..7.
    const sc0 = u0 & 0x3f3f3f3f, m0 = u1 & 0x3f3f3f3f;
    const sc1 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
    const m1 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
    return i32x4of(sc0, sc1, m0, m1); // bytes: scales 0..7, mins 0..7
  }
  if (t == Q3K) {
    const a0 = load<u32>(p + 96), a1 = load<u32>(p + 100), a2 = load<u32>(p + 104);
    return i32x4of(
      (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4),
      (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4),
      ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4),
      ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4),
    ); // 16 six-bit scales, +32
  }
  if (t == Q6K) return v128.load(p + 192); // 16 int8 scales
  return v128.load(p); // Q2_K: 16 bytes, scale | min << 4
}

/**
 * Q2_K/Q3_K: S = sum_g sc[g] dot(q_g, x_g) of one row's super-block (at p, scale bytes `raw`)
 * against one activation block, as int32 lanes; Q3_K folds in its offset's correction
 * -4 * sum_g sc[g] bs[g].
 */
// @ts-ignore: decorator
@inline function superDot(t: i32, p: usize, raw: v128, x8: usize, x16: usize, xb: usize): v128 {
  let s = i32x4.splat(0);
  let scLo: v128, scHi: v128;
  if (t == Q3K) {
    scLo = i16x8.sub(i16x8.extend_low_i8x16_u(raw), i16x8.splat(32));
    scHi = i16x8.sub(i16x8.extend_high_i8x16_u(raw), i16x8.splat(32));
  } else {
    const sc = v128.and(raw, splat8(0x0f));
    scLo = i16x8.extend_low_i8x16_u(sc);
    scHi = i16x8.extend_high_i8x16_u(sc);
  }
  let sc = scLo;
  for (let k = 0; k < 8; k++) {
    if (k == 4) sc = scHi;
    const o = <usize>k << 5;
    s = i32x4.add(s, i32x4.dot_i16x8_s(dot16(unitLo(t, p, k), x8 + o, x16 + (o << 1)), bcast0(sc)));
    s = i32x4.add(s, i32x4.dot_i16x8_s(dot16(unitHi(t, p, k), x8 + o + 16, x16 + (o << 1) + 32), bcast1(sc)));
    sc = next2(sc);
  }
  if (t == Q2K) return s;
  const c = i32x4.add(i32x4.dot_i16x8_s(scLo, v128.load(xb)), i32x4.dot_i16x8_s(scHi, v128.load(xb, 16)));
  return i32x4.sub(s, i32x4.shl(c, 2));
}

/** M = sum_g m[g] bs[g] of a type with mins (Q2_K, Q4_K, Q5_K), as int32 lanes. */
// @ts-ignore: decorator
@inline function minsDot(t: i32, raw: v128, xb: usize): v128 {
  let mLo: v128, mHi: v128;
  if (t == Q2K) {
    const mn = v128.and(i16x8.shr_u(raw, 4), splat8(0x0f));
    mLo = i16x8.extend_low_i8x16_u(mn);
    mHi = i16x8.extend_high_i8x16_u(mn);
  } else {
    // Each 32-weight min covers two 16-sums.
    const mins = i16x8.extend_high_i8x16_u(raw);
    mLo = v128.shuffle<i16>(mins, mins, 0, 0, 1, 1, 2, 2, 3, 3);
    mHi = v128.shuffle<i16>(mins, mins, 4, 4, 5, 5, 6, 6, 7, 7);
  }
  return i32x4.add(i32x4.dot_i16x8_s(mLo, v128.load(xb)), i32x4.dot_i16x8_s(mHi, v128.load(xb, 16)));
}

/** The super-block's d and dmin (dmin 0 for the types without mins). */
// @ts-ignore: decorator
@inline function superD(t: i32, p: usize): f32 {
  return f16ToF32(<u32>load<u16>(p + (t == Q2K ? 80 : t == Q3K ? 108 : t == Q6K ? 208 : 0)));
}
// @ts-ignore: decorator
@inline function superDmin(t: i32, p: usize): f32 {
  return t == Q2K ? f16ToF32(<u32>load<u16>(p + 82)) : t == Q4K || t == Q5K ? f16ToF32(<u32>load<u16>(p + 2)) : <f32>0;
}

// @ts-ignore: decorator
@inline function hasMins(t: i32): bool {
  return t == Q2K || t == Q4K || t == Q5K;
}

// @ts-ignore: decorator
@inline function biasAt(bias: usize, o: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>o << 2));
}

/** Four floats as one vector. */
// @ts-ignore: decorator
@inline function i32x4of4f(a: f32, b: f32, c: f32, d: f32): v128 {
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(a), 1, b), 2, c), 3, d);
}

/**
 * acc + [sum(s0), sum(s1), sum(s2), sum(s3)] * scale, lane by lane: the four products of a
 * tile share one float accumulator. Each lane's integer sum is exact, and every tile shape
 * (pairKernel's, quadKernel's) makes the same float operations per output, so a row's result
 * does not depend on which tile computed it.
 */
// @ts-ignore: decorator
@inline function accumulate(acc: v128, s0: v128, s1: v128, s2: v128, s3: v128, scale: v128): v128 {
  return fma(f32x4.convert_i32x4_s(reduce4(s0, s1, s2, s3)), scale, acc);
}

/**
 * Byte masks for the unpacking, made from a runtime zero (`z`, which no optimiser can fold):
 * V8 11 rebuilds a v128 constant at every use (four instructions; it hoists nothing out of
 * loops), while a value made once per call stays in a register or one load away.
 */
// @ts-ignore: decorator
@inline function mask(z: i32, byte: i32): v128 {
  return i8x16.splat(<i8>(byte + z));
}

/**
 * One row pair (super-blocks interleaved at pair) against `tokens` (1 or 2) activation rows;
 * token 2's activations are a row (K quants, K/256 scales, K/16 sums) after token 1's. Stores
 * row b before row a, so that ob == oa keeps row a (the odd last row of a matrix). Q2_K and
 * Q3_K, by the generic per-row path (superDot); the other K-quants take decodeK for these
 * token counts.
 */
// @ts-ignore: decorator
@inline function pairKernel(t: i32, tokens: i32, pair: usize, xq: usize, xq16: usize, xd: usize, xb: usize, K: i32, oa: usize, ob: usize, on: usize, ba: f32, bb: f32): void {
  const bb_ = blockBytes(t);
  const nsb = K >> 8;
  const two = tokens == 2;
  const yq = xq + <usize>K, yq16 = xq16 + (<usize>K << 1), yd = xd + (<usize>nsb << 2), yb = xb + (<usize>nsb << 5);
  // Lanes: row a x token 1, row b x token 1, row a x token 2, row b x token 2 (see accumulate).
  let acc = f32x4.splat(0);
  let p = pair;
  for (let s = 0; s < nsb; s++) {
    const pa = p, pb = p + bb_;
    const o8 = <usize>s << 8, o16 = <usize>s << 9, od = <usize>s << 2, ob_ = <usize>s << 5;
    const rawA = scalesOf(t, pa), rawB = scalesOf(t, pb);
    const da = superD(t, pa), db = superD(t, pb);
    const dx = load<f32>(xd + od), dy = two ? load<f32>(yd + od) : <f32>0;
    const x8 = xq + o8, x16 = xq16 + o16, y8 = yq + o8, y16 = yq16 + o16;
    const sax = superDot(t, pa, rawA, x8, x16, xb + ob_), sbx = superDot(t, pb, rawB, x8, x16, xb + ob_);
    const say = two ? superDot(t, pa, rawA, y8, y16, yb + ob_) : i32x4.splat(0);
    const sby = two ? superDot(t, pb, rawB, y8, y16, yb + ob_) : i32x4.splat(0);
    const dxy = two ? i32x4of4f(dx, dx, dy, dy) : f32x4.splat(dx);
    acc = accumulate(acc, sax, sbx, say, sby, f32x4.mul(i32x4of4f(da, db, da, db), dxy));
    if (hasMins(t)) {
      const ma = superDmin(t, pa), mb = superDmin(t, pb);
      const mx = minsDot(t, rawA, xb + ob_), mbx = minsDot(t, rawB, xb + ob_);
      const my = two ? minsDot(t, rawA, yb + ob_) : i32x4.splat(0), mby = two ? minsDot(t, rawB, yb + ob_) : i32x4.splat(0);
      acc = accumulate(acc, mx, mbx, my, mby, f32x4.mul(i32x4of4f(-ma, -mb, -ma, -mb), dxy));
    }
    p += 2 * bb_;
  }
  store<f32>(ob, f32x4.extract_lane(acc, 1) + bb);
  store<f32>(oa, f32x4.extract_lane(acc, 0) + ba);
  if (two) {
    store<f32>(ob + on, f32x4.extract_lane(acc, 3) + bb);
    store<f32>(oa + on, f32x4.extract_lane(acc, 2) + ba);
  }
}


/**
 * Byte indices that give two int16 lanes of a vector, each four times: entries 0..3 lanes
 * [j, j + 1] for j = 0, 2, 4, 6 (lanePair), entries 4..7 lanes [j, j + 2] for j = 0, 1, 4, 5
 * (laneGap2); 16 bytes each.
 */
const LANE_PAIRS = memory.data<u8>([
  0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3,
  4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7,
  8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11,
  12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15,
  0, 1, 0, 1, 0, 1, 0, 1, 4, 5, 4, 5, 4, 5, 4, 5,
  2, 3, 2, 3, 2, 3, 2, 3, 6, 7, 6, 7, 6, 7, 6, 7,
  8, 9, 8, 9, 8, 9, 8, 9, 12, 13, 12, 13, 12, 13, 12, 13,
  10, 11, 10, 11, 10, 11, 10, 11, 14, 15, 14, 15, 14, 15, 14, 15,
], 16);

/** Int16 lanes j (four times) then j + 1 (four times) of v, j in 0, 2, 4, 6. */
// @ts-ignore: decorator
@inline function lanePair(v: v128, j: i32): v128 {
  return pick(v, v128.load(LANE_PAIRS + (<usize>j << 3)));
}

/** Int16 lanes j (four times) then j + 2 (four times) of v, j in 0, 1, 4, 5. */
// @ts-ignore: decorator
@inline function laneGap2(v: v128, j: i32): v128 {
  return pick(v, v128.load(LANE_PAIRS + 64 + (<usize>((j & 1) | ((j >> 2) << 1)) << 4)));
}

/**
 * Q4_K/Q5_K (permuted layout): sum_u sc[u] dot(q_u, x_u) over chunk c's two units, as int32
 * lanes, from its four weight vectors (positions 0..15, .., 48..63) and the permuted
 * activations at x8 (x16), with sp = [sc[2c] ×4, sc[2c + 1] ×4]: lanes 0..3 of every dot are
 * unit 2c, lanes 4..7 unit 2c + 1, so the four dots add into one vector (at most 8 · 31 · 127 =
 * 31496 per int16 lane) that one 16-bit dot scales.
 */
// @ts-ignore: decorator
@inline function chunkDotQ45(w0: v128, w1: v128, w2: v128, w3: v128, sp: v128, x8: usize, x16: usize): v128 {
  const a = i16x8.add(dot16(w0, x8, x16), dot16(w1, x8 + 16, x16 + 32));
  const b = i16x8.add(dot16(w2, x8 + 32, x16 + 64), dot16(w3, x8 + 48, x16 + 96));
  return i32x4.dot_i16x8_s(i16x8.add(a, b), sp);
}

/** Half of chunkDotQ45: weight vectors w0, w1 (positions 0..31 or 32..63 of the chunk) against x8 (x16), scaled by sp. */
// @ts-ignore: decorator
@inline function halfDot(w0: v128, w1: v128, sp: v128, x8: usize, x16: usize): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(dot16(w0, x8, x16), dot16(w1, x8 + 16, x16 + 32)), sp);
}

/**
 * Q6_K (repacked layout): sum_g sc[g] dot(q_g, x_g) over chunk c's four groups, as int32
 * lanes: vectors 0 and 1 hold groups 4c and 4c + 2 (lanes 0..3, 4..7), vectors 2 and 3 groups
 * 4c + 1 and 4c + 3; pa, pb are those pairs' scales. At most 4 · 63 · 127 per int16 lane.
 */
// @ts-ignore: decorator
@inline function chunkDotQ6(w0: v128, w1: v128, w2: v128, w3: v128, pa: v128, pb: v128, x8: usize, x16: usize): v128 {
  const a = i16x8.add(dot16(w0, x8, x16), dot16(w1, x8 + 16, x16 + 32));
  const b = i16x8.add(dot16(w2, x8 + 32, x16 + 64), dot16(w3, x8 + 48, x16 + 96));
  return i32x4.add(i32x4.dot_i16x8_s(a, pa), i32x4.dot_i16x8_s(b, pb));
}

/** A chunk's integer sums for type t: Q6_K's two scale pairs (chunkDotQ6), or Q4_K/Q5_K's one (chunkDotQ45, pa == pb). */
// @ts-ignore: decorator
@inline function chunkDot(t: i32, w0: v128, w1: v128, w2: v128, w3: v128, pa: v128, pb: v128, x8: usize, x16: usize): v128 {
  return t == Q6K ? chunkDotQ6(w0, w1, w2, w3, pa, pb, x8, x16) : chunkDotQ45(w0, w1, w2, w3, pa, x8, x16);
}

/** Q6_K (repacked layout): chunk c's integer sums (see chunkDotQ6); sc the int16 scales of its half. */
// @ts-ignore: decorator
@inline function chunkQ6(p: usize, c: i32, sc: v128, x8: usize, x16: usize, m3f: v128, mc0: v128): v128 {
  const q = p + <usize>c * 48, e = <usize>c << 6;
  const b0 = v128.load(q), b1 = v128.load(q, 16), b2 = v128.load(q, 32);
  const j = (c & 1) << 2;
  return chunkDotQ6(
    v128.and(b0, m3f), v128.and(b1, m3f), v128.and(b2, m3f), q6kVector3(b0, b1, b2, mc0),
    laneGap2(sc, j), laneGap2(sc, j + 1), x8 + e, x16 + 2 * e,
  );
}

/**
 * One row (its super-blocks `stride` bytes apart from p) against four activation rows (token
 * j's quants at xq + j K, as matmulK lays them out): the prefill tile. Each unpacked chunk of
 * weights and each broadcast scale serves four tokens, and the live vectors (four integer
 * sums, one float accumulator, one chunk of weights, its scale, the masks) fit the 16 vector
 * registers of x86-64, where pairKernel's two-by-two tile spills. Writes token j's result at
 * o + j on.
 */
// @ts-ignore: decorator
@inline function quadKernel(t: i32, p: usize, stride: usize, xq: usize, xq16: usize, xd: usize, xb: usize, K: i32, o: usize, on: usize, bias: f32): void {
  const nsb = K >> 8;
  const k8 = <usize>K, k16 = <usize>K << 1, kd = <usize>nsb << 2, kb = <usize>nsb << 5;
  let acc = f32x4.splat(0);
  const z = K >> 31; // 0
  const m0f = mask(z, 0x0f), m10 = mask(z, 0x10), m3f = mask(z, 0x3f), mc0 = mask(z, 0xc0);
  for (let s = 0; s < nsb; s++) {
    const o8 = <usize>s << 8, o16 = <usize>s << 9, od = <usize>s << 2, ob = <usize>s << 5;
    const x0 = xq + o8, x1 = x0 + k8, x2 = x1 + k8, x3 = x2 + k8;
    const y0 = xq16 + o16, y1 = y0 + k16, y2 = y1 + k16, y3 = y2 + k16;
    const b0 = xb + ob, b1 = b0 + kb, b2 = b1 + kb, b3 = b2 + kb;
    const dp = xd + od;
    const dx = i32x4of4f(load<f32>(dp), load<f32>(dp + kd), load<f32>(dp + 2 * kd), load<f32>(dp + 3 * kd));
    const raw = scalesOf(t, p);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    if (t == Q4K || t == Q5K || t == Q6K) {
      // The scales as int16: Q4_K/Q5_K's eight 6-bit ones; Q6_K's sixteen int8 ones, two vectors.
      const scA = t == Q6K ? i16x8.extend_low_i8x16_s(raw) : i16x8.extend_low_i8x16_u(raw);
      const scB = t == Q6K ? i16x8.extend_high_i8x16_s(raw) : scA;
      const qh0 = t == Q5K ? v128.load(p + 16) : i32x4.splat(0), qh1 = t == Q5K ? v128.load(p + 32) : i32x4.splat(0);
      for (let c = 0; c < 4; c++) {
        const e = <usize>c << 6;
        // The chunk's four weight vectors, and the scales of the two groups each one's lanes
        // 0..3 and 4..7 hold (pa for vectors 0 and 1, pb for 2 and 3; Q4_K/Q5_K: the same).
        let w0: v128, w1: v128, w2: v128, w3: v128, pa: v128, pb: v128;
        if (t == Q6K) {
          const q = p + <usize>c * 48;
          const v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32);
          w0 = v128.and(v0, m3f);
          w1 = v128.and(v1, m3f);
          w2 = v128.and(v2, m3f);
          w3 = q6kVector3(v0, v1, v2, mc0);
          const j = (c & 1) << 2;
          pa = laneGap2(c < 2 ? scA : scB, j);
          pb = laneGap2(c < 2 ? scA : scB, j + 1);
        } else {
          const q = p + (t == Q5K ? 48 : 16) + (<usize>c << 5);
          const v0 = v128.load(q), v1 = v128.load(q, 16);
          w0 = v128.and(v0, m0f);
          w1 = v128.and(v1, m0f);
          w2 = v128.and(i16x8.shr_u(v0, 4), m0f);
          w3 = v128.and(i16x8.shr_u(v1, 4), m0f);
          if (t == Q5K) {
            // The fifth bits: bit 2c of the qh bytes for positions 0..31, 2c + 1 for 32..63.
            w0 = v128.or(w0, v128.and(i16x8.shl(i16x8.shr_u(qh0, 2 * c), 4), m10));
            w1 = v128.or(w1, v128.and(i16x8.shl(i16x8.shr_u(qh1, 2 * c), 4), m10));
            w2 = v128.or(w2, v128.and(i16x8.shl(i16x8.shr_u(qh0, 2 * c + 1), 4), m10));
            w3 = v128.or(w3, v128.and(i16x8.shl(i16x8.shr_u(qh1, 2 * c + 1), 4), m10));
          }
          pa = lanePair(scA, 2 * c);
          pb = pa;
        }
        if (ASC_FEATURE_RELAXED_SIMD) {
          s0 = fence(o, i32x4.add(s0, chunkDot(t, w0, w1, w2, w3, pa, pb, x0 + e, y0 + 2 * e)));
          s1 = fence(o, i32x4.add(s1, chunkDot(t, w0, w1, w2, w3, pa, pb, x1 + e, y1 + 2 * e)));
          s2 = fence(o, i32x4.add(s2, chunkDot(t, w0, w1, w2, w3, pa, pb, x2 + e, y2 + 2 * e)));
          s3 = fence(o, i32x4.add(s3, chunkDot(t, w0, w1, w2, w3, pa, pb, x3 + e, y3 + 2 * e)));
        } else {
          // The baseline build widens each weight vector to int16 for every token's products:
          // two vectors at a time keep those widened copies within the registers (four at a
          // time spilled, 51 -> 45 GFLOP/s on Q4_K), at one more 16-bit dot per token for
          // Q4_K/Q5_K. The same integer sums, each half's scaled pair sums added in.
          s0 = fence(o, i32x4.add(s0, halfDot(w0, w1, pa, x0 + e, y0 + 2 * e)));
          s1 = fence(o, i32x4.add(s1, halfDot(w0, w1, pa, x1 + e, y1 + 2 * e)));
          s2 = fence(o, i32x4.add(s2, halfDot(w0, w1, pa, x2 + e, y2 + 2 * e)));
          s3 = fence(o, i32x4.add(s3, halfDot(w0, w1, pa, x3 + e, y3 + 2 * e)));
          s0 = fence(o, i32x4.add(s0, halfDot(w2, w3, pb, x0 + e + 32, y0 + 2 * e + 64)));
          s1 = fence(o, i32x4.add(s1, halfDot(w2, w3, pb, x1 + e + 32, y1 + 2 * e + 64)));
          s2 = fence(o, i32x4.add(s2, halfDot(w2, w3, pb, x2 + e + 32, y2 + 2 * e + 64)));
          s3 = fence(o, i32x4.add(s3, halfDot(w2, w3, pb, x3 + e + 32, y3 + 2 * e + 64)));
        }
      }
    }
    if (t == Q6K) {
      s0 = i32x4.sub(s0, i32x4.shl(offsetDot(raw, b0), 5));
      s1 = i32x4.sub(s1, i32x4.shl(offsetDot(raw, b1), 5));
      s2 = i32x4.sub(s2, i32x4.shl(offsetDot(raw, b2), 5));
      s3 = i32x4.sub(s3, i32x4.shl(offsetDot(raw, b3), 5));
    } else if (t == Q2K || t == Q3K) {
      s0 = superDot(t, p, raw, x0, y0, b0);
      s1 = superDot(t, p, raw, x1, y1, b1);
      s2 = superDot(t, p, raw, x2, y2, b2);
      s3 = superDot(t, p, raw, x3, y3, b3);
    }
    acc = accumulate(acc, s0, s1, s2, s3, f32x4.mul(f32x4.splat(superD(t, p)), dx));
    if (hasMins(t)) {
      const m = f32x4.mul(f32x4.splat(-superDmin(t, p)), dx);
      acc = accumulate(acc, minsDot(t, raw, b0), minsDot(t, raw, b1), minsDot(t, raw, b2), minsDot(t, raw, b3), m);
    }
    p += stride;
  }
  store<f32>(o, f32x4.extract_lane(acc, 0) + bias);
  store<f32>(o + on, f32x4.extract_lane(acc, 1) + bias);
  store<f32>(o + 2 * on, f32x4.extract_lane(acc, 2) + bias);
  store<f32>(o + 3 * on, f32x4.extract_lane(acc, 3) + bias);
}

/** Q6_K: sum_g sc[g] * bs[g] over the sixteen int8 scales in raw, as int32 lanes. */
// @ts-ignore: decorator
@inline function offsetDot(raw: v128, xb: usize): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(raw), v128.load(xb)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(raw), v128.load(xb, 16)),
  );
}

/**
 * Q4_K/Q5_K (permuted layout): chunk c (a constant, 0..3: positions 64c .. 64c + 63) of one
 * row's super-block at p, sum_u sc[u] dot(q_u, x_u) over its two 32-weight units as int32
 * lanes (chunkDotQ45), with `sc` the super-block's eight 6-bit scales as int16 lanes. One row
 * at a time keeps the live vectors (one sum, one chunk of weights, the scales, the masks) well
 * inside the registers.
 */
// @ts-ignore: decorator
@inline function chunkQ45(t: i32, p: usize, c: i32, sc: v128, qh0: v128, qh1: v128, x8: usize, x16: usize, m0f: v128, m10: v128): v128 {
  const e = <usize>c << 6;
  const q = p + (t == Q5K ? 48 : 16) + (<usize>c << 5);
  const b0 = v128.load(q), b1 = v128.load(q, 16);
  let w0 = v128.and(b0, m0f), w1 = v128.and(b1, m0f);
  let v0 = v128.and(i16x8.shr_u(b0, 4), m0f), v1 = v128.and(i16x8.shr_u(b1, 4), m0f);
  if (t == Q5K) {
    w0 = v128.or(w0, bitTo4(qh0, 2 * c, m10));
    w1 = v128.or(w1, bitTo4(qh1, 2 * c, m10));
    v0 = v128.or(v0, bitTo4(qh0, 2 * c + 1, m10));
    v1 = v128.or(v1, bitTo4(qh1, 2 * c + 1, m10));
  }
  return chunkDotQ45(w0, w1, v0, v1, lanePair(sc, 2 * c), x8 + e, x16 + 2 * e);
}

/**
 * Q4_K/Q5_K: S = sum_g sc[g] dot(q_g, x_g) of one row's super-block at p against one
 * activation block, as int32 lanes (the decode kernel's integer part): its four chunks written
 * out with constant offsets and shifts (Binaryen leaves a loop here rolled, and the rolled loop
 * spent a third of its time on loop control and picking the chunk's scale word).
 */
// @ts-ignore: decorator
@inline function rowQ45(t: i32, p: usize, x8: usize, x16: usize, m0f: v128, m10: v128, fo: usize): v128 {
  const u0 = load<u32>(p + 4), u2 = load<u32>(p + 12);
  const sc0 = u0 & 0x3f3f3f3f, sc1 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
  const sc = i16x8.extend_low_i8x16_u(i64x2.splat(<i64>sc0 | (<i64>sc1 << 32))); // the eight scales as int16
  const qh0 = t == Q5K ? v128.load(p + 16) : i32x4.splat(0), qh1 = t == Q5K ? v128.load(p + 32) : i32x4.splat(0);
  let s = fence(fo, chunkQ45(t, p, 0, sc, qh0, qh1, x8, x16, m0f, m10));
  s = fence(fo, i32x4.add(s, chunkQ45(t, p, 1, sc, qh0, qh1, x8, x16, m0f, m10)));
  s = fence(fo, i32x4.add(s, chunkQ45(t, p, 2, sc, qh0, qh1, x8, x16, m0f, m10)));
  return fence(fo, i32x4.add(s, chunkQ45(t, p, 3, sc, qh0, qh1, x8, x16, m0f, m10)));
}

/**
 * Q4_K/Q5_K: the eight 6-bit mins of the super-block at p (get_scale_min_k4: mins 0..3 are
 * the low 6 bits of scale bytes 4..7, mins 4..7 take their low 4 bits from the high nibbles of
 * bytes 8..11 and their top 2 from bytes 4..7), as the bytes of one 64-bit integer: scalar
 * work, beside the vector operations that bound the decode loop.
 */
// @ts-ignore: decorator
@inline function minsQ45(p: usize): u64 {
  const u1 = load<u32>(p + 8), u2 = load<u32>(p + 12);
  const m0 = u1 & 0x3f3f3f3f, m1 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
  return <u64>m0 | (<u64>m1 << 32);
}

/**
 * Q6_K (repacked layout): S = sum_g sc[g] dot(q_g, x_g) - 32 sum_g sc[g] bs[g] of one row's
 * super-block at p against one activation block (x8, x16 permuted; xb its natural 16-sums), as
 * int32 lanes: its four chunks written out, each ended by a fence so that V8 keeps the chunks
 * apart instead of issuing every load first and spilling.
 */
// @ts-ignore: decorator
@inline function rowQ6(p: usize, x8: usize, x16: usize, xb: usize, m3f: v128, mc0: v128, fo: usize): v128 {
  const raw = v128.load(p + 192);
  const sc0 = i16x8.extend_low_i8x16_s(raw), sc1 = i16x8.extend_high_i8x16_s(raw);
  let s = fence(fo, chunkQ6(p, 0, sc0, x8, x16, m3f, mc0));
  s = fence(fo, i32x4.add(s, chunkQ6(p, 1, sc0, x8, x16, m3f, mc0)));
  s = fence(fo, i32x4.add(s, chunkQ6(p, 2, sc1, x8, x16, m3f, mc0)));
  s = fence(fo, i32x4.add(s, chunkQ6(p, 3, sc1, x8, x16, m3f, mc0)));
  return i32x4.sub(s, i32x4.shl(offsetDot(raw, xb), 5));
}

/**
 * The product for one token (decode; it takes any n, token by token) of rows [r0, r1) (r0 even)
 * for Q4_K, Q5_K and Q6_K: per row pair, token and super-block, row a's then row b's integer sums, one row at a
 * time (pairKernel's two rows by two tokens spill on x86-64's 16 vector registers), then the
 * same float operations as quadKernel's (one multiply-add of the sum, then one of the mins,
 * per output and super-block), so the results equal every other tile's bit for bit. It reads
 * the permuted activations (the caller passes those as xq, xq16).
 */
// @ts-ignore: decorator
@inline function decodeK(t: i32, out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const nsb = K >> 8;
  const bbk = blockBytes(t);
  const pb = pairBytesK(K, bbk);
  const on = <usize>N << 2;
  const z = K >> 31; // 0
  const m0f = mask(z, 0x0f), m10 = mask(z, 0x10), m3f = mask(z, 0x3f), mc0 = mask(z, 0xc0);
  for (let o = r0; o < r1; o += 2) {
    const two = o + 1 < r1;
    const ba = biasAt(bias, o), bb = two ? biasAt(bias, o + 1) : <f32>0;
    // Token by token through the pair: its super-blocks stay in the L1 cache after the first.
    for (let i = 0; i < n; i++) {
      const iq = xq + <usize>i * K, iq16 = xq16 + ((<usize>i * K) << 1), id = xd + ((<usize>i * nsb) << 2), ib = xb + ((<usize>i * nsb) << 5);
      let acc = f32x4.splat(0);
      let p = w + <usize>(o >> 1) * pb;
      const fo = out + <usize>i * on + (<usize>o << 2); // the fences' address: row a's output, written for real below
      for (let s = 0; s < nsb; s++) {
        const pa = p, pB = p + bbk;
        const x8 = iq + (<usize>s << 8), x16 = iq16 + (<usize>s << 9), sb = ib + (<usize>s << 5);
        const dx = f32x4.splat(load<f32>(id + (<usize>s << 2)));
        if (t == Q6K) {
          const sa = rowQ6(pa, x8, x16, sb, m3f, mc0, fo);
          const sB = rowQ6(pB, x8, x16, sb, m3f, mc0, fo);
          // Scalar half conversions: fewer vector operations than a four-lane one, and vector
          // operations bound this loop (+4% over the vector conversion). Lanes 2, 3 are not read.
          const d = i32x4of4f(superD(t, pa), superD(t, pB), 0, 0);
          acc = fma(f32x4.convert_i32x4_s(reduce4(sa, sB, sa, sB)), f32x4.mul(d, dx), acc);
        } else {
          // The activations' sums per 32 (each |sum| <= 32 * 127), one per 6-bit min.
          const bs32 = i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(sb)), i32x4.extadd_pairwise_i16x8_s(v128.load(sb, 16)));
          const sa = rowQ45(t, pa, x8, x16, m0f, m10, fo);
          const sB = rowQ45(t, pB, x8, x16, m0f, m10, fo);
          const mins = i64x2.replace_lane(i64x2.splat(minsQ45(pa)), 1, minsQ45(pB)); // row a's eight, then row b's
          const ma = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(mins), bs32);
          const mb = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(mins), bs32);
          // Lanes: row a's sum, row b's sum, row a's mins, row b's mins.
          const f = f32x4.convert_i32x4_s(reduce4(sa, sB, ma, mb));
          // d and dmin of both rows as lanes da, db, dmina, dminb (scalar conversions, see Q6_K's).
          const ds = f32x4.mul(i32x4of4f(superD(t, pa), superD(t, pB), superDmin(t, pa), superDmin(t, pB)), dx);
          acc = fma(f, ds, acc);
          // The mins' term, subtracted: the same value as the tiles' multiply-add with -dmin.
          acc = fnma(v128.shuffle<f32>(f, f, 2, 3, 2, 3), v128.shuffle<f32>(ds, ds, 2, 3, 2, 3), acc);
        }
        p += 2 * bbk;
      }
      const oa = out + <usize>i * on + (<usize>o << 2);
      if (two) store<f32>(oa + 4, f32x4.extract_lane(acc, 1) + bb);
      store<f32>(oa, f32x4.extract_lane(acc, 0) + ba);
    }
  }
}

/** Output rows [r0, r1) (r0 even) of out [n, N] = x [n, K] w^T, a row pair at a time. */
// @ts-ignore: decorator
@inline function matmulK(t: i32, out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const nsb = K >> 8;
  const bbk = blockBytes(t);
  const pb = pairBytesK(K, bbk);
  const on = <usize>N << 2;
  // Q4_K, Q5_K and Q6_K read their activations in the permuted order, which quantize_q8_k
  // writes after the natural one.
  const perm = t == Q4K || t == Q5K || t == Q6K;
  const pq = perm ? xq + <usize>n * K : xq, pq16 = perm ? xq16 + ((<usize>n * K) << 1) : xq16;
  const n4 = n & ~3;
  for (let o = r0; o < r1 && (n4 > 0 || !perm); o += 2) {
    const pair = w + <usize>(o >> 1) * pb;
    const two = o + 1 < r1;
    const ba = biasAt(bias, o), bb = two ? biasAt(bias, o + 1) : <f32>0;
    // Four tokens at a time through each row of the pair (the prefill tile).
    for (let i = 0; i < n4; i += 4) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      const x8 = pq + <usize>i * K, x16 = pq16 + ((<usize>i * K) << 1), d = xd + ((<usize>i * nsb) << 2), s = xb + ((<usize>i * nsb) << 5);
      quadKernel(t, pair, 2 * bbk, x8, x16, d, s, K, oa, on, ba);
      if (two) quadKernel(t, pair + bbk, 2 * bbk, x8, x16, d, s, K, oa + 4, on, bb);
    }
    if (perm) continue;
    // Q2_K and Q3_K: the rest two and one at a time through the pair.
    const bOff: usize = two ? 4 : 0;
    let i = n4;
    for (; i + 2 <= n; i += 2) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      pairKernel(t, 2, pair, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + ((<usize>i * nsb) << 2), xb + ((<usize>i * nsb) << 5), K, oa, oa + bOff, on, ba, bb);
    }
    if (i < n) {
      const oa = out + <usize>i * on + (<usize>o << 2);
      pairKernel(t, 1, pair, xq + <usize>i * K, xq16 + ((<usize>i * K) << 1), xd + ((<usize>i * nsb) << 2), xb + ((<usize>i * nsb) << 5), K, oa, oa + bOff, on, ba, bb);
    }
  }
  // Q4_K, Q5_K and Q6_K: the rest (decode: all of it) token by token through each row pair.
  if (perm && n4 < n) {
    const i = <usize>n4;
    decodeK(t, out + i * on, pq + i * K, pq16 + ((i * K) << 1), xd + ((i * nsb) << 2), xb + ((i * nsb) << 5), w, bias, n - n4, K, N, r0, r1);
  }
}

export function matmul_q2_k(out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulK(Q2K, out, xq, xq16, xd, xb, w, bias, n, K, N, r0, r1);
}
export function matmul_q3_k(out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulK(Q3K, out, xq, xq16, xd, xb, w, bias, n, K, N, r0, r1);
}
export function matmul_q4_k(out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulK(Q4K, out, xq, xq16, xd, xb, w, bias, n, K, N, r0, r1);
}
export function matmul_q5_k(out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulK(Q5K, out, xq, xq16, xd, xb, w, bias, n, K, N, r0, r1);
}
export function matmul_q6_k(out: usize, xq: usize, xq16: usize, xd: usize, xb: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulK(Q6K, out, xq, xq16, xd, xb, w, bias, n, K, N, r0, r1);
}

/**
 * Writes `rows` rows of GGUF super-blocks (`bb` bytes each, K/256 per row) at src in the
 * paired layout at dst, where the pair of the first (even) row goes. An odd count pairs the
 * last row with a zero row.
 */
export function pack_superblocks(dst: usize, src: usize, rows: i32, K: i32, bb: i32): void {
  const nsb = K >> 8;
  const b = <usize>bb;
  const rowBytes = <usize>nsb * b;
  let p = dst;
  for (let r = 0; r < rows; r += 2) {
    const sa = src + <usize>r * rowBytes;
    const hasB = r + 1 < rows;
    for (let s = 0; s < nsb; s++) {
      memory.copy(p, sa + <usize>s * b, b);
      if (hasB) memory.copy(p + b, sa + rowBytes + <usize>s * b, b);
      else memory.fill(p + b, 0, b);
      // Q4_K, Q5_K and Q6_K in the order their kernels read (kquant_layout.ts); a zero row stays zero.
      if (bb == 144) {
        repackQ4K(p);
        if (hasB) repackQ4K(p + b);
      } else if (bb == 176) {
        repackQ5K(p);
        if (hasB) repackQ5K(p + b);
      } else if (bb == 210) {
        repackQ6K(p);
        if (hasB) repackQ6K(p + b);
      }
      p += 2 * b;
    }
  }
}

/** Bytes of one row pair of a K-quant type with `bb`-byte super-blocks. */
export function superpair_bytes(K: i32, bb: i32): i32 {
  return <i32>pairBytesK(K, <usize>bb);
}

/**
 * Q8_K: group g (16 values from p + 64 g) scaled by `is`, rounded half to even and capped at
 * 127, stored as int8 (xq) and int16 (xq16) at element e + 16 g; returns the quants' partial
 * sums (four int32 lanes whose total is the group's sum).
 */
// @ts-ignore: decorator
@inline function quantizeGroupK(p: usize, g: usize, is: v128, cap: v128, xq: usize, xq16: usize, e: usize): v128 {
  const q = p + (g << 6);
  const q0 = i32x4.min_s(nearestInt(f32x4.mul(v128.load(q), is)), cap);
  const q1 = i32x4.min_s(nearestInt(f32x4.mul(v128.load(q, 16), is)), cap);
  const q2 = i32x4.min_s(nearestInt(f32x4.mul(v128.load(q, 32), is)), cap);
  const q3 = i32x4.min_s(nearestInt(f32x4.mul(v128.load(q, 48), is)), cap);
  const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
  const o = e + (g << 4);
  v128.store(xq + o, i8x16.narrow_i16x8_s(h0, h1));
  v128.store(xq16 + (o << 1), h0);
  v128.store(xq16 + (o << 1), h1, 16);
  return i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
}

/**
 * Quantises rows [i0, i1) of x [n, K] (K a multiple of 256) to Q8_K as ggml's
 * quantize_row_q8_K_ref does: per 256 values, the value of largest magnitude (the first if
 * several) sets iscale = -127 / max, q = min(127, nearest(iscale * x)) (ties to even, as
 * ggml's nearest_int), d = 1 / iscale, and the sums of each 16 quants. The same quants in
 * the permuted order of kquant_layout.ts go `perm` bytes after xq (2 perm after xq16).
 */
export function quantize_q8_k(x: usize, xq: usize, xq16: usize, xd: usize, xb: usize, K: i32, i0: i32, i1: i32, perm: i32): void {
  const pq = <usize>perm;
  const nsb = K >> 8;
  for (let i = i0; i < i1; i++) {
    for (let s = 0; s < nsb; s++) {
      const e = <usize>i * K + (<usize>s << 8);
      const p = x + (e << 2);
      let m = f32x4.splat(0);
      for (let j: usize = 0; j < 1024; j += 16) m = f32x4.max(m, f32x4.abs(v128.load(p + j)));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const bo = (<usize>i * nsb + s) << 2;
      const so = (<usize>i * nsb + s) << 5;
      if (amax == 0) {
        memory.fill(xq + e, 0, 256);
        memory.fill(xq16 + (e << 1), 0, 512);
        memory.fill(xq + pq + e, 0, 256);
        memory.fill(xq16 + ((pq + e) << 1), 0, 512);
        memory.fill(xb + so, 0, 32);
        store<f32>(xd + bo, 0);
        continue;
      }
      // The first value of largest magnitude, four lanes at a time.
      let mx: f32 = 0;
      const am = f32x4.splat(amax);
      for (let j: usize = 0; j < 1024; j += 16) {
        const hit = f32x4.eq(f32x4.abs(v128.load(p + j)), am);
        if (v128.any_true(hit)) {
          mx = load<f32>(p + j + (<usize>ctz(i32x4.bitmask(hit)) << 2));
          break;
        }
      }
      const iscale: f32 = <f32>-127 / mx;
      const is = f32x4.splat(iscale);
      const cap = i32x4.splat(127);
      // Sixteen groups of 16, four at a time: their sums leave as one vector of four int16s.
      for (let g4: usize = 0; g4 < 16; g4 += 4) {
        const t0 = quantizeGroupK(p, g4, is, cap, xq, xq16, e);
        const t1 = quantizeGroupK(p, g4 + 1, is, cap, xq, xq16, e);
        const t2 = quantizeGroupK(p, g4 + 2, is, cap, xq, xq16, e);
        const t3 = quantizeGroupK(p, g4 + 3, is, cap, xq, xq16, e);
        const sums = reduce4(t0, t1, t2, t3);
        v128.store64_lane(xb + so + (g4 << 1), i16x8.narrow_i32x4_s(sums, sums), 0);
      }
      for (let c: usize = 0; c < 256; c += 64) permuteChunk(xq + e + c, xq + pq + e + c, xq16 + ((pq + e + c) << 1));
      store<f32>(xd + bo, <f32>1 / iscale);
    }
  }
}

/** Row `id` of a paired K-quant table (type tag t) as float32 at out (the embedding lookup). */
export function dequant_row_k(out: usize, table: usize, t: i32, id: i32, K: i32): void {
  const bb = blockBytes(t);
  const nsb = K >> 8;
  let p = table + <usize>(id >> 1) * pairBytesK(K, bb) + <usize>(id & 1) * bb;
  for (let s = 0; s < nsb; s++, p += 2 * bb) {
    const o = out + (<usize>s << 10);
    const d = superD(t, p), dmin = superDmin(t, p);
    for (let e = 0; e < 256; e++) {
      const g = e >> 4, k = e >> 5, l = e & 31;
      let q: i32, sc: i32, mn: i32 = 0;
      if (t == Q4K || t == Q5K) {
        q = t == Q4K ? q4kQuant(p, e) : q5kQuant(p, e);
        sc = scaleMinK4(p + 4, k, false);
        mn = scaleMinK4(p + 4, k, true);
      } else if (t == Q6K) {
        q = q6kQuant(p, e) - 32;
        sc = <i32>load<i8>(p + 192 + g);
      } else if (t == Q3K) {
        const n = k >> 2, j = k & 3;
        q = ((<i32>load<u8>(p + 32 + (n << 5) + l) >> (2 * j)) & 3) | (((<i32>load<u8>(p + l) >> k) & 1) << 2);
        q -= 4;
        sc = q3Scale(p + 96, g) - 32;
      } else {
        const n = k >> 2, j = k & 3;
        q = (<i32>load<u8>(p + 16 + (n << 5) + l) >> (2 * j)) & 3;
        const b = <i32>load<u8>(p + g);
        sc = b & 15;
        mn = b >> 4;
      }
      // As ggml's dequantize_row_*: the float scale d * sc (and dmin * m) first, in float32.
      const dl: f32 = d * <f32>sc, ml: f32 = dmin * <f32>mn;
      store<f32>(o + (<usize>e << 2), dl * <f32>q - ml);
    }
  }
}

/** get_scale_min_k4: scale (or min) j of a Q4_K/Q5_K super-block's 12 scale bytes at q. */
function scaleMinK4(q: usize, j: i32, min: bool): i32 {
  const o: usize = min ? 4 : 0;
  if (j < 4) return <i32>load<u8>(q + o + j) & 63;
  const lo = <i32>load<u8>(q + 4 + j);
  return (min ? lo >> 4 : lo & 15) | ((<i32>load<u8>(q + o + j - 4) >> 6) << 4);
}

/** Q3_K's 6-bit scale g (0..63, before the -32) from its 12 scale bytes at q. */
function q3Scale(q: usize, g: i32): i32 {
  const low = (<i32>load<u8>(q + (g & 7)) >> ((g >> 3) << 2)) & 15;
  const high = (<i32>load<u8>(q + 8 + (g & 3)) >> ((g >> 2) << 1)) & 3;
  return low | (high << 4);
}
