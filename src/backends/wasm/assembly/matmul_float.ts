// Matrix products with float weights (f32, f16, bf16) kept in their storage type and
// widened to float32 in registers. out[i, o] = sum_k x[i, k] * w[o, k] (+ bias[o]).
//
// The weight dtype is a type tag: f32 = float32, u16 = bfloat16, i16 = IEEE half. Every
// kernel processes output rows [r0, r1) so that threads can split rows statically.
import { fma, hsum, loadBf16x4, loadF16x4, f16ToF32 } from "./simd";

// @ts-ignore: decorator
@inline function w4<T>(p: usize): v128 {
  if (isFloat<T>()) return v128.load(p);
  if (isSigned<T>()) return loadF16x4(p);
  return loadBf16x4(p);
}

// @ts-ignore: decorator
@inline function w1<T>(p: usize): f32 {
  if (isFloat<T>()) return load<f32>(p);
  if (isSigned<T>()) return f16ToF32(<u32>load<u16>(p));
  return reinterpret<f32>(<u32>load<u16>(p) << 16);
}

// @ts-ignore: decorator
@inline function biasAt(bias: usize, o: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>o << 2));
}

/** Decode path: two weight rows against one activation row, four independent accumulators. */
// @ts-ignore: decorator
@inline function dot2x1<T>(wa: usize, wb: usize, xr: usize, K: i32, out: usize, outB: usize, ba: f32, bb: f32): void {
  const S = sizeof<T>();
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const x0 = v128.load(xr + (<usize>k << 2));
    const x1 = v128.load(xr + (<usize>k << 2), 16);
    a0 = fma(w4<T>(wa + <usize>k * S), x0, a0);
    b0 = fma(w4<T>(wb + <usize>k * S), x0, b0);
    a1 = fma(w4<T>(wa + <usize>(k + 4) * S), x1, a1);
    b1 = fma(w4<T>(wb + <usize>(k + 4) * S), x1, b1);
  }
  for (; k + 4 <= K; k += 4) {
    const x0 = v128.load(xr + (<usize>k << 2));
    a0 = fma(w4<T>(wa + <usize>k * S), x0, a0);
    b0 = fma(w4<T>(wb + <usize>k * S), x0, b0);
  }
  let sa = hsum(f32x4.add(a0, a1)), sb = hsum(f32x4.add(b0, b1));
  for (; k < K; k++) {
    const xv = load<f32>(xr + (<usize>k << 2));
    sa += w1<T>(wa + <usize>k * S) * xv;
    sb += w1<T>(wb + <usize>k * S) * xv;
  }
  store<f32>(out, sa + ba);
  store<f32>(outB, sb + bb);
}

/** One weight row against one activation row. */
// @ts-ignore: decorator
@inline function dot1x1<T>(wa: usize, xr: usize, K: i32): f32 {
  const S = sizeof<T>();
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    a0 = fma(w4<T>(wa + <usize>k * S), v128.load(xr + (<usize>k << 2)), a0);
    a1 = fma(w4<T>(wa + <usize>(k + 4) * S), v128.load(xr + (<usize>k << 2), 16), a1);
  }
  for (; k + 4 <= K; k += 4) a0 = fma(w4<T>(wa + <usize>k * S), v128.load(xr + (<usize>k << 2)), a0);
  let s = hsum(f32x4.add(a0, a1));
  for (; k < K; k++) s += w1<T>(wa + <usize>k * S) * load<f32>(xr + (<usize>k << 2));
  return s;
}

/**
 * Prefill tile: four weight rows against three activation rows (12 accumulators). Each
 * widened weight vector is reused for three activation rows, each activation vector for
 * four weight rows.
 */
// @ts-ignore: decorator
@inline function tile4x3<T>(w: usize, rowBytes: usize, x: usize, K: i32, out: usize, N: i32, o: i32, bias: usize): void {
  const S = sizeof<T>();
  const w0 = w, w1p = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
  const xs = <usize>K << 2;
  const x0 = x, x1 = x + xs, x2 = x + 2 * xs;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0), c32 = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const kb = <usize>k << 2;
    const xa = v128.load(x0 + kb), xb = v128.load(x1 + kb), xc = v128.load(x2 + kb);
    const ko = <usize>k * S;
    let wv = w4<T>(w0 + ko);
    c00 = fma(wv, xa, c00); c01 = fma(wv, xb, c01); c02 = fma(wv, xc, c02);
    wv = w4<T>(w1p + ko);
    c10 = fma(wv, xa, c10); c11 = fma(wv, xb, c11); c12 = fma(wv, xc, c12);
    wv = w4<T>(w2 + ko);
    c20 = fma(wv, xa, c20); c21 = fma(wv, xb, c21); c22 = fma(wv, xc, c22);
    wv = w4<T>(w3 + ko);
    c30 = fma(wv, xa, c30); c31 = fma(wv, xb, c31); c32 = fma(wv, xc, c32);
  }
  let s00 = hsum(c00), s01 = hsum(c01), s02 = hsum(c02);
  let s10 = hsum(c10), s11 = hsum(c11), s12 = hsum(c12);
  let s20 = hsum(c20), s21 = hsum(c21), s22 = hsum(c22);
  let s30 = hsum(c30), s31 = hsum(c31), s32 = hsum(c32);
  for (; k < K; k++) {
    const kb = <usize>k << 2;
    const xa = load<f32>(x0 + kb), xb = load<f32>(x1 + kb), xc = load<f32>(x2 + kb);
    const ko = <usize>k * S;
    let wv = w1<T>(w0 + ko);
    s00 += wv * xa; s01 += wv * xb; s02 += wv * xc;
    wv = w1<T>(w1p + ko);
    s10 += wv * xa; s11 += wv * xb; s12 += wv * xc;
    wv = w1<T>(w2 + ko);
    s20 += wv * xa; s21 += wv * xb; s22 += wv * xc;
    wv = w1<T>(w3 + ko);
    s30 += wv * xa; s31 += wv * xb; s32 += wv * xc;
  }
  const b0 = biasAt(bias, o), b1 = biasAt(bias, o + 1), b2 = biasAt(bias, o + 2), b3 = biasAt(bias, o + 3);
  const on = <usize>N << 2;
  let p = out + (<usize>o << 2);
  store<f32>(p, s00 + b0); store<f32>(p, s10 + b1, 4); store<f32>(p, s20 + b2, 8); store<f32>(p, s30 + b3, 12);
  p += on;
  store<f32>(p, s01 + b0); store<f32>(p, s11 + b1, 4); store<f32>(p, s21 + b2, 8); store<f32>(p, s31 + b3, 12);
  p += on;
  store<f32>(p, s02 + b0); store<f32>(p, s12 + b1, 4); store<f32>(p, s22 + b2, 8); store<f32>(p, s32 + b3, 12);
}

/** Rows of a column block of 4 output features processed 4x3, with 2x1/1x1 leftovers. */
function matmulFloat<T>(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const S = sizeof<T>();
  const rowBytes = <usize>K * S;
  const xs = <usize>K << 2;
  const on = <usize>N << 2;
  let o = r0;
  if (n >= 3) {
    for (; o + 4 <= r1; o += 4) {
      const wo = w + <usize>o * rowBytes;
      let i = 0;
      for (; i + 3 <= n; i += 3) tile4x3<T>(wo, rowBytes, x + <usize>i * xs, K, out + <usize>i * on, N, o, bias);
      for (; i < n; i++) {
        const xr = x + <usize>i * xs, orow = out + <usize>i * on + (<usize>o << 2);
        dot2x1<T>(wo, wo + rowBytes, xr, K, orow, orow + 4, biasAt(bias, o), biasAt(bias, o + 1));
        dot2x1<T>(wo + 2 * rowBytes, wo + 3 * rowBytes, xr, K, orow + 8, orow + 12, biasAt(bias, o + 2), biasAt(bias, o + 3));
      }
    }
  }
  for (; o + 2 <= r1; o += 2) {
    const wa = w + <usize>o * rowBytes;
    const ba = biasAt(bias, o), bb = biasAt(bias, o + 1);
    for (let i = 0; i < n; i++) {
      const orow = out + <usize>i * on + (<usize>o << 2);
      dot2x1<T>(wa, wa + rowBytes, x + <usize>i * xs, K, orow, orow + 4, ba, bb);
    }
  }
  if (o < r1) {
    const wa = w + <usize>o * rowBytes;
    const ba = biasAt(bias, o);
    for (let i = 0; i < n; i++) {
      store<f32>(out + <usize>i * on + (<usize>o << 2), dot1x1<T>(wa, x + <usize>i * xs, K) + ba);
    }
  }
}

export function matmul_f32(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<f32>(out, x, w, bias, n, K, N, r0, r1);
}
export function matmul_bf16(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<u16>(out, x, w, bias, n, K, N, r0, r1);
}
export function matmul_f16(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  matmulFloat<i16>(out, x, w, bias, n, K, N, r0, r1);
}
