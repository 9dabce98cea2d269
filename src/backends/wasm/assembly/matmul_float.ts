// Matrix products with float weights (f32, f16, bf16) kept in their storage type and
// widened to float32 in registers. out[i, o] = sum_k x[i, k] * w[o, k] (+ bias[o]).
//
// The weight dtype is a type tag: f32 = float32, u16 = bfloat16, i16 = IEEE half. Every
// kernel processes output rows [r0, r1) (r0 even) so that threads can split rows statically.
//
// Weight layout in memory ("paired rows", written by pack_float at upload). Every kernel
// computes two rows at a time, so rows go in pairs (a = row 2p, b = row 2p + 1; an odd last
// row is paired with a zero row) and a pair interleaves 16-byte chunks of its rows:
//   [a chunk 0][b chunk 0][a chunk 1][b chunk 1] ...
// A chunk is 4 float32 or 8 16-bit values; a row's last chunk is zero-padded. A matrix-vector
// product then reads one sequential stream: two rows read side by side were two streams that
// restart every pair, which the hardware prefetcher follows badly (bf16 at 1 thread: 9 GB/s on
// 2 KiB rows against 13-17 GB/s on long ones).
import { fma, hsum, loadBf16x4, loadF16x4, f16ToF32 } from "./simd";

/** Values per 16-byte chunk. */
// @ts-ignore: decorator
@inline function perChunk<T>(): i32 {
  return isFloat<T>() ? 4 : 8;
}

/** Bytes of one row pair of K values of `elemBytes` bytes each. */
export function floatPairBytes(K: i32, elemBytes: i32): usize {
  const e = 16 / elemBytes;
  return <usize>((K + e - 1) / e) << 5;
}

/** Four values at p (a 16-byte chunk's first or, for 16-bit types, second half) as float32 lanes. */
// @ts-ignore: decorator
@inline function w4<T>(p: usize): v128 {
  if (isFloat<T>()) return v128.load(p);
  if (isSigned<T>()) return loadF16x4(p);
  return loadBf16x4(p);
}

/** Value j of the chunk at p as float32. */
// @ts-ignore: decorator
@inline function w1<T>(p: usize, j: i32): f32 {
  if (isFloat<T>()) return load<f32>(p + (<usize>j << 2));
  const h = <u32>load<u16>(p + (<usize>j << 1));
  if (isSigned<T>()) return f16ToF32(h);
  return reinterpret<f32>(h << 16);
}

// @ts-ignore: decorator
@inline function biasAt(bias: usize, o: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>o << 2));
}

/**
 * Decode path: one row pair against one activation row, four independent accumulators.
 * Stores row b's result before row a's, so that outB == out keeps row a (an odd last row).
 */
// @ts-ignore: decorator
@inline function dot2x1<T>(pair: usize, xr: usize, K: i32, out: usize, outB: usize, ba: f32, bb: f32): void {
  const E = perChunk<T>();
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let p = pair;
  let k = 0;
  // Eight values per row per step: two f32 chunks, or both halves of one 16-bit chunk.
  for (; k + 8 <= K; k += 8) {
    const x0 = v128.load(xr + (<usize>k << 2));
    const x1 = v128.load(xr + (<usize>k << 2), 16);
    if (isFloat<T>()) {
      a0 = fma(v128.load(p), x0, a0);
      b0 = fma(v128.load(p, 16), x0, b0);
      a1 = fma(v128.load(p, 32), x1, a1);
      b1 = fma(v128.load(p, 48), x1, b1);
      p += 64;
    } else {
      a0 = fma(w4<T>(p), x0, a0);
      a1 = fma(w4<T>(p + 8), x1, a1);
      b0 = fma(w4<T>(p + 16), x0, b0);
      b1 = fma(w4<T>(p + 24), x1, b1);
      p += 32;
    }
  }
  let sa = hsum(f32x4.add(a0, a1)), sb = hsum(f32x4.add(b0, b1));
  // At most 7 values left, in one or two chunks.
  for (; k < K; k += E) {
    const m = min(E, K - k);
    for (let j = 0; j < m; j++) {
      const xv = load<f32>(xr + (<usize>(k + j) << 2));
      sa += w1<T>(p, j) * xv;
      sb += w1<T>(p + 16, j) * xv;
    }
    p += 32;
  }
  store<f32>(outB, sb + bb);
  store<f32>(out, sa + ba);
}

/**
 * Decode path for bfloat16 on an activation row permuted in groups of eight (evens, then odds;
 * see permute8), K a multiple of 8. A bf16 pair in one int32 lane is (odd << 16) | even, so a
 * shift gives the even value as float32 and a mask the odd one: one load and two logic ops
 * widen eight values, where widening them in order takes two widening loads and two shifts.
 */
// @ts-ignore: decorator
@inline function bf16Dot2x1(pair: usize, xp: usize, K: i32, out: usize, outB: usize, ba: f32, bb: f32): void {
  const hi = i32x4.splat(0xffff0000);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let p = pair;
  for (let k = 0; k < K; k += 8) {
    const xe = v128.load(xp + (<usize>k << 2));
    const xo = v128.load(xp + (<usize>k << 2), 16);
    const va = v128.load(p);
    const vb = v128.load(p, 16);
    a0 = fma(i32x4.shl(va, 16), xe, a0);
    a1 = fma(v128.and(va, hi), xo, a1);
    b0 = fma(i32x4.shl(vb, 16), xe, b0);
    b1 = fma(v128.and(vb, hi), xo, b1);
    p += 32;
  }
  store<f32>(outB, hsum(f32x4.add(b0, b1)) + bb);
  store<f32>(out, hsum(f32x4.add(a0, a1)) + ba);
}

/**
 * x [n, K] to xp with each group of eight as [x0 x2 x4 x6 x1 x3 x5 x7], rows [i0, i1); K a
 * multiple of 8. Feeds bf16Dot2x1.
 */
export function permute8(xp: usize, x: usize, K: i32, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const row = <usize>i * K;
    for (let k = 0; k < K; k += 8) {
      const p = x + ((row + k) << 2), q = xp + ((row + k) << 2);
      const lo = v128.load(p), hi = v128.load(p, 16);
      v128.store(q, v128.shuffle<f32>(lo, hi, 0, 2, 4, 6));
      v128.store(q, v128.shuffle<f32>(lo, hi, 1, 3, 5, 7), 16);
    }
  }
}

/**
 * Prefill tile: one row pair against four activation rows (8 accumulators). Each widened
 * weight vector serves four tokens. Sized for V8's 15 allocatable SIMD registers on x64:
 * 8 accumulators + 4 activations + 1 weight (+ 1 temporary without FMA) do not spill, where
 * a 4x3 tile spilled four accumulators every step. Stores row b before row a (see dot2x1).
 */
// @ts-ignore: decorator
@inline function tile2x4<T>(pair: usize, x: usize, K: i32, out: usize, N: i32, o: i32, bOff: usize, ba: f32, bb: f32): void {
  const E = perChunk<T>();
  const xs = <usize>K << 2;
  const x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = pair;
  let k = 0;
  for (; k + E <= K; k += E) {
    // A chunk: 4 values (f32), or two halves of 4 (16-bit) at byte offsets 0 and 8.
    for (let h = 0; h < E; h += 4) {
      const kb = <usize>(k + h) << 2;
      const wo = isFloat<T>() ? 0 : <usize>h << 1;
      const xa = v128.load(x0 + kb), xb = v128.load(x1 + kb), xc = v128.load(x2 + kb), xd = v128.load(x3 + kb);
      let wv = w4<T>(p + wo);
      a0 = fma(wv, xa, a0); a1 = fma(wv, xb, a1); a2 = fma(wv, xc, a2); a3 = fma(wv, xd, a3);
      wv = w4<T>(p + 16 + wo);
      b0 = fma(wv, xa, b0); b1 = fma(wv, xb, b1); b2 = fma(wv, xc, b2); b3 = fma(wv, xd, b3);
    }
    p += 32;
  }
  let sa0 = hsum(a0), sa1 = hsum(a1), sa2 = hsum(a2), sa3 = hsum(a3);
  let sb0 = hsum(b0), sb1 = hsum(b1), sb2 = hsum(b2), sb3 = hsum(b3);
  const m = K - k;
  for (let j = 0; j < m; j++) {
    const kb = <usize>(k + j) << 2;
    const xa = load<f32>(x0 + kb), xb = load<f32>(x1 + kb), xc = load<f32>(x2 + kb), xd = load<f32>(x3 + kb);
    let wv = w1<T>(p, j);
    sa0 += wv * xa; sa1 += wv * xb; sa2 += wv * xc; sa3 += wv * xd;
    wv = w1<T>(p + 16, j);
    sb0 += wv * xa; sb1 += wv * xb; sb2 += wv * xc; sb3 += wv * xd;
  }
  const on = <usize>N << 2;
  let q = out + (<usize>o << 2);
  store<f32>(q + bOff, sb0 + bb); store<f32>(q, sa0 + ba);
  q += on;
  store<f32>(q + bOff, sb1 + bb); store<f32>(q, sa1 + ba);
  q += on;
  store<f32>(q + bOff, sb2 + bb); store<f32>(q, sa2 + ba);
  q += on;
  store<f32>(q + bOff, sb3 + bb); store<f32>(q, sa3 + ba);
}

/**
 * Output rows [r0, r1) (r0 even) in pairs: 2x4 tiles over the tokens, 2x1 for the last
 * tokens. xp: for bf16, x permuted by permute8 (0 when K is not a multiple of 8).
 */
function matmulFloat<T>(out: usize, x: usize, xp: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const pb = floatPairBytes(K, sizeof<T>());
  const xs = <usize>K << 2;
  const on = <usize>N << 2;
  for (let o = r0; o < r1; o += 2) {
    const pair = w + <usize>(o >> 1) * pb;
    // An odd last row is paired with a zero row: its result is computed and dropped.
    const two = o + 1 < r1;
    const bOff: usize = two ? 4 : 0;
    const ba = biasAt(bias, o), bb = two ? biasAt(bias, o + 1) : <f32>0;
    let i = 0;
    for (; i + 4 <= n; i += 4) tile2x4<T>(pair, x + <usize>i * xs, K, out + <usize>i * on, N, o, bOff, ba, bb);
    for (; i < n; i++) {
      const orow = out + <usize>i * on + (<usize>o << 2);
      if (!isFloat<T>() && !isSigned<T>() && xp != 0) bf16Dot2x1(pair, xp + <usize>i * xs, K, orow, orow + bOff, ba, bb);
      else dot2x1<T>(pair, x + <usize>i * xs, K, orow, orow + bOff, ba, bb);
    }
  }
}

export function matmul_f32(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<f32>(out, x, 0, w, bias, n, K, N, r0, r1);
}
export function matmul_bf16(out: usize, x: usize, xp: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<u16>(out, x, xp, w, bias, n, K, N, r0, r1);
}
export function matmul_f16(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<i16>(out, x, 0, w, bias, n, K, N, r0, r1);
}

/**
 * Writes `rows` row-major rows of K values (`elemBytes` each) at src in the paired layout at
 * dst, which is where the pair of the first row goes (the first row is even). An odd count
 * pairs the last row with a zero row; a row's last chunk is zero-padded. Runs at upload.
 */
export function pack_float(dst: usize, src: usize, rows: i32, K: i32, elemBytes: i32): void {
  const rowBytes = <usize>K * elemBytes;
  const full = rowBytes >> 4;
  const rem = rowBytes & 15;
  let p = dst;
  for (let r = 0; r < rows; r += 2) {
    const sa = src + <usize>r * rowBytes;
    const hasB = r + 1 < rows;
    const sb = sa + rowBytes;
    for (let c: usize = 0; c < full; c++) {
      v128.store(p, v128.load(sa + (c << 4)));
      v128.store(p, hasB ? v128.load(sb + (c << 4)) : v128.splat<i32>(0), 16);
      p += 32;
    }
    if (rem > 0) {
      memory.fill(p, 0, 32);
      memory.copy(p, sa + (full << 4), rem);
      if (hasB) memory.copy(p + 16, sb + (full << 4), rem);
      p += 32;
    }
  }
}

/** pairBytes for the host, which sizes weights with it. */
export function float_pair_bytes(K: i32, elemBytes: i32): i32 {
  return <i32>floatPairBytes(K, elemBytes);
}

/** Row `id` of a paired-layout float table (kind 0 f32, 1 bf16, 2 f16) as float32 at out. */
export function float_row(out: usize, table: usize, kind: i32, id: i32, K: i32): void {
  const eb = kind == 0 ? 4 : 2;
  const E = 16 / eb;
  let p = table + <usize>(id >> 1) * floatPairBytes(K, eb) + (<usize>(id & 1) << 4);
  for (let k = 0; k < K; k += E) {
    const m = min(E, K - k);
    for (let j = 0; j < m; j++) {
      let v: f32;
      if (kind == 0) v = load<f32>(p + (<usize>j << 2));
      else {
        const h = <u32>load<u16>(p + (<usize>j << 1));
        v = kind == 1 ? reinterpret<f32>(h << 16) : f16ToF32(h);
      }
      store<f32>(out + (<usize>(k + j) << 2), v);
    }
    p += 32;
  }
}
