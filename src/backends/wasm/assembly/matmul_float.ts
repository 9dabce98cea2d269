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
 * Prefill tile: two weight rows against four activation rows (8 accumulators). Each widened
 * weight vector serves four tokens. Sized for V8's 15 allocatable SIMD registers on x64:
 * 8 accumulators + 4 activations + 1 weight (+ 1 temporary without FMA) do not spill, where
 * a 4x3 tile spilled four accumulators every step.
 */
// @ts-ignore: decorator
@inline function tile2x4<T>(wa: usize, wb: usize, x: usize, K: i32, out: usize, N: i32, o: i32, bias: usize): void {
  const S = sizeof<T>();
  const xs = <usize>K << 2;
  const x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const kb = <usize>k << 2;
    const ko = <usize>k * S;
    const p = v128.load(x0 + kb), q = v128.load(x1 + kb), r = v128.load(x2 + kb), t = v128.load(x3 + kb);
    let wv = w4<T>(wa + ko);
    a0 = fma(wv, p, a0); a1 = fma(wv, q, a1); a2 = fma(wv, r, a2); a3 = fma(wv, t, a3);
    wv = w4<T>(wb + ko);
    b0 = fma(wv, p, b0); b1 = fma(wv, q, b1); b2 = fma(wv, r, b2); b3 = fma(wv, t, b3);
  }
  let sa0 = hsum(a0), sa1 = hsum(a1), sa2 = hsum(a2), sa3 = hsum(a3);
  let sb0 = hsum(b0), sb1 = hsum(b1), sb2 = hsum(b2), sb3 = hsum(b3);
  for (; k < K; k++) {
    const kb = <usize>k << 2;
    const ko = <usize>k * S;
    const p = load<f32>(x0 + kb), q = load<f32>(x1 + kb), r = load<f32>(x2 + kb), t = load<f32>(x3 + kb);
    let wv = w1<T>(wa + ko);
    sa0 += wv * p; sa1 += wv * q; sa2 += wv * r; sa3 += wv * t;
    wv = w1<T>(wb + ko);
    sb0 += wv * p; sb1 += wv * q; sb2 += wv * r; sb3 += wv * t;
  }
  const ba = biasAt(bias, o), bb = biasAt(bias, o + 1);
  const on = <usize>N << 2;
  let p = out + (<usize>o << 2);
  store<f32>(p, sa0 + ba); store<f32>(p, sb0 + bb, 4);
  p += on;
  store<f32>(p, sa1 + ba); store<f32>(p, sb1 + bb, 4);
  p += on;
  store<f32>(p, sa2 + ba); store<f32>(p, sb2 + bb, 4);
  p += on;
  store<f32>(p, sa3 + ba); store<f32>(p, sb3 + bb, 4);
}

/** Output rows [r0, r1) in pairs: 2x4 tiles over the tokens, 2x1 for the last tokens, 1x1 for an odd row. */
function matmulFloat<T>(out: usize, x: usize, w: usize, bias: usize, n: i32, K: i32, N: i32, r0: i32, r1: i32): void {
  const S = sizeof<T>();
  const rowBytes = <usize>K * S;
  const xs = <usize>K << 2;
  const on = <usize>N << 2;
  let o = r0;
  for (; o + 2 <= r1; o += 2) {
    const wa = w + <usize>o * rowBytes;
    const ba = biasAt(bias, o), bb = biasAt(bias, o + 1);
    let i = 0;
    for (; i + 4 <= n; i += 4) tile2x4<T>(wa, wa + rowBytes, x + <usize>i * xs, K, out + <usize>i * on, N, o, bias);
    for (; i < n; i++) {
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
