// The in-memory order of Q4_K, Q5_K and Q6_K weights and of the activations they multiply.
//
// Why: a 16-byte vector of weights feeds one 8-bit dot (sixteen products summed in pairs into
// eight int16 lanes). In GGUF's order every vector holds consecutive weights, so all eight lanes
// belong to one scale group, and each group's lanes need a shuffle and an add (a fold) before a
// 16-bit dot can apply its scale. Here the weights of a 64-element chunk are permuted (at
// upload, by repackQ4K, repackQ5K and repackQ6K) so that each vector holds eight weights of one
// group and eight of another, in the lanes 0..3 and 4..7 the dot writes them to: the dots of a
// chunk then add straight into one vector whose two halves are two groups, which one 16-bit
// dot scales. The
// activations get the same permutation once per product input (quantize_q8_k writes a permuted
// copy beside the natural one), so every product of weight and activation is the one GGUF's
// order gives: the integer sums, hence the results, are exactly those of the natural order.
//
// The permutation π maps a chunk's position p = 16v + q (vector v = 0..3, byte q = 0..15) to
// element 32 lg + 8 v + i, where lg (the chunk's first or second 32 elements: Q4_K/Q5_K's two
// units; for Q6_K's 16-weight groups, v picks which of each half's two) and i (0..7) depend
// on which lanes the build's 8-bit dot pairs: the relaxed dot adds neighbouring bytes
// (lane l sums bytes 2l, 2l + 1), so lg = q >> 3, i = q & 7; the baseline build's 16-bit
// products add bytes l and l + 8, so lg = (q >> 2) & 1, i = (q & 3) | (q >> 3) << 2.
//
// Q6_K is also re-encoded (same 192 quant bytes per super-block): each chunk is three 16-byte
// vectors whose low six bits are the chunk's vectors 0, 1, 2 and whose top two bits carry
// vector 3's six bits (two bits from each), so unpacking a chunk takes 11 vector operations
// instead of 17 for GGUF's 4-bit + 2-bit planes. Q4_K and Q5_K keep their encodings: position
// r of chunk c is the low nibble of qs byte 32c + r (r < 32) or the high nibble of byte
// 32c + r - 32, and (Q5_K) bit 2c (r < 32) or 2c + 1 of qh byte r mod 32 its fifth bit.

/**
 * The elements at positions 16v .. 16v + 15 of a chunk (v a constant, 0..3) whose elements
 * 0..15, 16..31, 32..47, 48..63 are e0, e1, e2, e3: eight of group lg = 0 (elements 8v .. 8v + 7,
 * from e0 or e1) and eight of lg = 1 (elements 32 + 8v ..., from e2 or e3), placed as π says.
 */
// @ts-ignore: decorator
@inline export function positionVector(v: i32, e0: v128, e1: v128, e2: v128, e3: v128): v128 {
  const a = v < 2 ? e0 : e1, b = v < 2 ? e2 : e3;
  if (ASC_FEATURE_RELAXED_SIMD) return (v & 1) == 0 ? v128.shuffle<i64>(a, b, 0, 2) : v128.shuffle<i64>(a, b, 1, 3);
  return (v & 1) == 0 ? v128.shuffle<i32>(a, b, 0, 4, 1, 5) : v128.shuffle<i32>(a, b, 2, 6, 3, 7);
}

/** The position (0..63) of element e (0..63) of a chunk: π's inverse. */
// @ts-ignore: decorator
@inline export function positionOf(e: i32): i32 {
  const lg = (e >> 5) & 1, v = (e >> 3) & 3, i = e & 7;
  if (ASC_FEATURE_RELAXED_SIMD) return (v << 4) | (lg << 3) | i;
  return (v << 4) | ((i >> 2) << 3) | (lg << 2) | (i & 3);
}

/**
 * Writes the four position vectors of the 64 int8 activations at src (natural order) at dst,
 * and (baseline build) their int16 copy at dst16: the permuted activations of one chunk.
 */
// @ts-ignore: decorator
@inline export function permuteChunk(src: usize, dst: usize, dst16: usize): void {
  const e0 = v128.load(src), e1 = v128.load(src, 16), e2 = v128.load(src, 32), e3 = v128.load(src, 48);
  const v0 = positionVector(0, e0, e1, e2, e3), v1 = positionVector(1, e0, e1, e2, e3);
  const v2 = positionVector(2, e0, e1, e2, e3), v3 = positionVector(3, e0, e1, e2, e3);
  v128.store(dst, v0);
  v128.store(dst, v1, 16);
  v128.store(dst, v2, 32);
  v128.store(dst, v3, 48);
  if (!ASC_FEATURE_RELAXED_SIMD) {
    v128.store(dst16, i16x8.extend_low_i8x16_s(v0));
    v128.store(dst16, i16x8.extend_high_i8x16_s(v0), 16);
    v128.store(dst16, i16x8.extend_low_i8x16_s(v1), 32);
    v128.store(dst16, i16x8.extend_high_i8x16_s(v1), 48);
    v128.store(dst16, i16x8.extend_low_i8x16_s(v2), 64);
    v128.store(dst16, i16x8.extend_high_i8x16_s(v2), 80);
    v128.store(dst16, i16x8.extend_low_i8x16_s(v3), 96);
    v128.store(dst16, i16x8.extend_high_i8x16_s(v3), 112);
  }
}

// @ts-ignore: decorator
@inline function bytes(v: i32): v128 {
  return i8x16.splat(<i8>v);
}

/** Bits `shift`, `shift + 1` of every byte of v, as 0..3 (i16 shifts: the mask drops what crosses bytes). */
// @ts-ignore: decorator
@inline function twoBits(v: v128, shift: i32): v128 {
  return v128.and(i16x8.shr_u(v, shift), bytes(3));
}

/** Q4_K, in place: the 128 qs bytes of the GGUF super-block at p, permuted by π chunk by chunk. */
export function repackQ4K(p: usize): void {
  for (let c: usize = 0; c < 4; c++) {
    const q = p + 16 + (c << 5);
    const b0 = v128.load(q), b1 = v128.load(q, 16);
    const e0 = v128.and(b0, bytes(15)), e1 = v128.and(b1, bytes(15));
    const e2 = v128.and(i16x8.shr_u(b0, 4), bytes(15)), e3 = v128.and(i16x8.shr_u(b1, 4), bytes(15));
    const v0 = positionVector(0, e0, e1, e2, e3), v1 = positionVector(1, e0, e1, e2, e3);
    const v2 = positionVector(2, e0, e1, e2, e3), v3 = positionVector(3, e0, e1, e2, e3);
    // Positions 0..31 are the low nibbles of the chunk's 32 bytes, 32..63 their high nibbles.
    v128.store(q, v128.or(v0, i16x8.shl(v2, 4)));
    v128.store(q, v128.or(v1, i16x8.shl(v3, 4)), 16);
  }
}

/** Bit b (a constant, 0..7) of every byte of v at bit 4, the rest zero (m10: 0x10 bytes): one i16 shift, then the mask. */
// @ts-ignore: decorator
@inline export function bitTo4(v: v128, b: i32, m10: v128): v128 {
  return v128.and(b < 4 ? i16x8.shl(v, 4 - b) : b > 4 ? i16x8.shr_u(v, b - 4) : v, m10);
}

/** Q5_K, in place: the 160 quant bytes (qh, qs) of the GGUF super-block at p, permuted by π chunk by chunk. */
export function repackQ5K(p: usize): void {
  const h0 = v128.load(p + 16), h1 = v128.load(p + 32);
  const m = bytes(15), one = bytes(1);
  let n0 = i32x4.splat(0), n1 = i32x4.splat(0);
  for (let c = 0; c < 4; c++) {
    const q = p + 48 + (<usize>c << 5);
    const b0 = v128.load(q), b1 = v128.load(q, 16);
    const lo = 2 * c, hi = 2 * c + 1;
    const e0 = v128.or(v128.and(b0, m), i16x8.shl(v128.and(i16x8.shr_u(h0, lo), one), 4));
    const e1 = v128.or(v128.and(b1, m), i16x8.shl(v128.and(i16x8.shr_u(h1, lo), one), 4));
    const e2 = v128.or(v128.and(i16x8.shr_u(b0, 4), m), i16x8.shl(v128.and(i16x8.shr_u(h0, hi), one), 4));
    const e3 = v128.or(v128.and(i16x8.shr_u(b1, 4), m), i16x8.shl(v128.and(i16x8.shr_u(h1, hi), one), 4));
    const v0 = positionVector(0, e0, e1, e2, e3), v1 = positionVector(1, e0, e1, e2, e3);
    const v2 = positionVector(2, e0, e1, e2, e3), v3 = positionVector(3, e0, e1, e2, e3);
    v128.store(q, v128.or(v128.and(v0, m), i16x8.shl(v128.and(v2, m), 4)));
    v128.store(q, v128.or(v128.and(v1, m), i16x8.shl(v128.and(v3, m), 4)), 16);
    // The fifth bits: positions 0..31 in bit 2c of qh bytes 0..31, positions 32..63 in bit 2c + 1.
    n0 = v128.or(n0, v128.or(i16x8.shl(v128.and(i16x8.shr_u(v0, 4), one), lo), i16x8.shl(v128.and(i16x8.shr_u(v2, 4), one), hi)));
    n1 = v128.or(n1, v128.or(i16x8.shl(v128.and(i16x8.shr_u(v1, 4), one), lo), i16x8.shl(v128.and(i16x8.shr_u(v3, 4), one), hi)));
  }
  v128.store(p + 16, n0);
  v128.store(p + 32, n1);
}

/** Q6_K: chunk c of the repacked layout at p + 48c from its elements e0..e3 (six-bit values). */
// @ts-ignore: decorator
@inline function storeQ6Chunk(q: usize, e0: v128, e1: v128, e2: v128, e3: v128): void {
  const v0 = positionVector(0, e0, e1, e2, e3), v1 = positionVector(1, e0, e1, e2, e3);
  const v2 = positionVector(2, e0, e1, e2, e3), v3 = positionVector(3, e0, e1, e2, e3);
  v128.store(q, v128.or(v0, i16x8.shl(v128.and(v3, bytes(3)), 6)));
  v128.store(q, v128.or(v1, i16x8.shl(twoBits(v3, 2), 6)), 16);
  v128.store(q, v128.or(v2, i16x8.shl(twoBits(v3, 4), 6)), 32);
}

/**
 * Q6_K: chunks 2n and 2n + 1 of the repacked layout at q from half n of a GGUF super-block:
 * its ql bytes l0..l3 (16 each) and qh bytes h0, h1. In GGUF's half, element l (< 32) is
 * ql[l]'s low nibble with qh[l]'s bits 0, 1; l + 32: ql[l + 32] low, qh[l] bits 2, 3; l + 64:
 * ql[l] high, bits 4, 5; l + 96: ql[l + 32] high, bits 6, 7.
 */
// @ts-ignore: decorator
@inline function storeQ6Half(q: usize, l0: v128, l1: v128, l2: v128, l3: v128, h0: v128, h1: v128): void {
  const m = bytes(15);
  storeQ6Chunk(q,
    v128.or(v128.and(l0, m), i16x8.shl(twoBits(h0, 0), 4)),
    v128.or(v128.and(l1, m), i16x8.shl(twoBits(h1, 0), 4)),
    v128.or(v128.and(l2, m), i16x8.shl(twoBits(h0, 2), 4)),
    v128.or(v128.and(l3, m), i16x8.shl(twoBits(h1, 2), 4)));
  storeQ6Chunk(q + 48,
    v128.or(v128.and(i16x8.shr_u(l0, 4), m), i16x8.shl(twoBits(h0, 4), 4)),
    v128.or(v128.and(i16x8.shr_u(l1, 4), m), i16x8.shl(twoBits(h1, 4), 4)),
    v128.or(v128.and(i16x8.shr_u(l2, 4), m), i16x8.shl(twoBits(h0, 6), 4)),
    v128.or(v128.and(i16x8.shr_u(l3, 4), m), i16x8.shl(twoBits(h1, 6), 4)));
}

/**
 * Q6_K, in place: the 192 quant bytes (ql, qh) of the GGUF super-block at p re-encoded as four
 * chunks of 48 bytes (see the top of this file). The scales and d stay where they are.
 */
export function repackQ6K(p: usize): void {
  // Everything is read before anything is written: chunk 1 lands on the second half's ql.
  const l0 = v128.load(p), l1 = v128.load(p, 16), l2 = v128.load(p, 32), l3 = v128.load(p, 48);
  const l4 = v128.load(p, 64), l5 = v128.load(p, 80), l6 = v128.load(p, 96), l7 = v128.load(p, 112);
  const h0 = v128.load(p, 128), h1 = v128.load(p, 144), h2 = v128.load(p, 160), h3 = v128.load(p, 176);
  storeQ6Half(p, l0, l1, l2, l3, h0, h1);
  storeQ6Half(p + 96, l4, l5, l6, l7, h2, h3);
}

/** Q4_K repacked: the 4-bit quant of element e (0..255) of the super-block at p. */
// @ts-ignore: decorator
@inline export function q4kQuant(p: usize, e: i32): i32 {
  const r = positionOf(e & 63);
  const b = <i32>load<u8>(p + 16 + (<usize>(e >> 6) << 5) + <usize>(r & 31));
  return (b >> ((r >> 5) << 2)) & 15;
}

/** Q5_K repacked: the 5-bit quant of element e (0..255) of the super-block at p. */
// @ts-ignore: decorator
@inline export function q5kQuant(p: usize, e: i32): i32 {
  const r = positionOf(e & 63), c = e >> 6, l = <usize>(r & 31), hi = r >> 5;
  const nibble = (<i32>load<u8>(p + 48 + (<usize>c << 5) + l) >> (hi << 2)) & 15;
  return nibble | (((<i32>load<u8>(p + 16 + l) >> (2 * c + hi)) & 1) << 4);
}

/** Q6_K repacked: the 6-bit quant (0..63, before the -32) of element e (0..255) of the super-block at p. */
// @ts-ignore: decorator
@inline export function q6kQuant(p: usize, e: i32): i32 {
  const r = positionOf(e & 63);
  const q = p + <usize>(e >> 6) * 48 + <usize>(r & 15);
  const v = r >> 4;
  if (v < 3) return <i32>load<u8>(q + (<usize>v << 4)) & 63;
  return (<i32>load<u8>(q) >> 6) | ((<i32>load<u8>(q + 16) >> 6) << 2) | ((<i32>load<u8>(q + 32) >> 6) << 4);
}

/** Q6_K repacked: vector 3 of a chunk, from the top two bits of its three byte vectors (mc0: 0xc0 bytes). */
// @ts-ignore: decorator
@inline export function q6kVector3(b0: v128, b1: v128, b2: v128, mc0: v128): v128 {
  return v128.or(
    v128.or(i16x8.shr_u(v128.and(b0, mc0), 6), i16x8.shr_u(v128.and(b1, mc0), 4)),
    i16x8.shr_u(v128.and(b2, mc0), 2),
  );
}
