// Row-wise and element-wise kernels on float32 activations: RMSNorm, RoPE, SwiGLU, add,
// and embedding lookup from any weight storage type. Ranges [i0, i1) are rows (or elements
// for the flat ops) so that threads can split the work.
import { fma, hsum, f16ToF32, exp4 } from "./simd";
import { dequant_row } from "./matmul_quant";
import { dequant_row_k } from "./matmul_kquant";
import { float_row } from "./matmul_float";

/** out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * w, float32 statistics. out may alias x. */
export function rmsnorm(out: usize, x: usize, w: usize, eps: f32, K: i32, i0: i32, i1: i32): void {
  const rb = <usize>K << 2;
  for (let i = i0; i < i1; i++) {
    const xr = x + <usize>i * rb, orow = out + <usize>i * rb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const v0 = v128.load(xr + (<usize>k << 2)), v1 = v128.load(xr + (<usize>k << 2), 16);
      a0 = fma(v0, v0, a0);
      a1 = fma(v1, v1, a1);
    }
    let ss = hsum(f32x4.add(a0, a1));
    for (; k < K; k++) {
      const v = load<f32>(xr + (<usize>k << 2));
      ss += v * v;
    }
    const inv: f32 = <f32>1 / Mathf.sqrt(ss / <f32>K + eps);
    const iv = f32x4.splat(inv);
    k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), iv), v128.load(w + o)));
    }
    for (; k < K; k++) {
      const o = <usize>k << 2;
      store<f32>(orow + o, load<f32>(xr + o) * inv * load<f32>(w + o));
    }
  }
}

/**
 * Rotary embedding in place on rows [i0, i1) of x [n, heads * hd], rotate-half layout:
 * (a, b) = (x[d], x[d + h]) becomes (a cos - b sin, b cos + a sin); cos, sin are [n, h].
 */
export function rope(x: usize, cosp: usize, sinp: usize, heads: i32, hd: i32, i0: i32, i1: i32): void {
  const h = hd >> 1;
  const rb = <usize>(heads * hd) << 2;
  for (let i = i0; i < i1; i++) {
    const cr = cosp + ((<usize>i * h) << 2), sr = sinp + ((<usize>i * h) << 2);
    for (let hh = 0; hh < heads; hh++) {
      const base = x + <usize>i * rb + ((<usize>hh * hd) << 2);
      const hb = base + (<usize>h << 2);
      let d = 0;
      for (; d + 4 <= h; d += 4) {
        const o = <usize>d << 2;
        const a = v128.load(base + o), b = v128.load(hb + o);
        const c = v128.load(cr + o), s = v128.load(sr + o);
        v128.store(base + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(hb + o, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
      }
      for (; d < h; d++) {
        const o = <usize>d << 2;
        const a = load<f32>(base + o), b = load<f32>(hb + o);
        const c = load<f32>(cr + o), s = load<f32>(sr + o);
        store<f32>(base + o, a * c - b * s);
        store<f32>(hb + o, b * c + a * s);
      }
    }
  }
}

/** out[e] = silu(g[e]) * u[e] for elements [e0, e1). out may alias g or u. */
export function swiglu(out: usize, g: usize, u: usize, e0: i32, e1: i32): void {
  let e = e0;
  const one = f32x4.splat(1);
  for (; e + 4 <= e1; e += 4) {
    const o = <usize>e << 2;
    const gv = v128.load(g + o);
    v128.store(out + o, f32x4.mul(f32x4.div(gv, f32x4.add(one, exp4(f32x4.neg(gv)))), v128.load(u + o)));
  }
  for (; e < e1; e++) {
    const o = <usize>e << 2;
    const gv = load<f32>(g + o);
    store<f32>(out + o, (gv / (<f32>1 + Mathf.exp(-gv))) * load<f32>(u + o));
  }
}

/** out[e] = a[e] + b[e] for elements [e0, e1). */
export function add(out: usize, a: usize, b: usize, e0: i32, e1: i32): void {
  let e = e0;
  for (; e + 4 <= e1; e += 4) {
    const o = <usize>e << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; e < e1; e++) {
    const o = <usize>e << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/**
 * out[i, :] = table[ids[i], :] as float32 for rows [i0, i1). kind: 0 f32, 1 bf16, 2 f16,
 * 3 q8_0, 4 q4_0, 5 q5_0, 6 q4_1, 7 q5_1, 8 iq4_nl, 9 q2_k, 10 q3_k, 11 q4_k, 12 q5_k,
 * 13 q6_k (tables in the paired layouts of matmul_float.ts, matmul_quant.ts, matmul_kquant.ts).
 */
export function embed(out: usize, table: usize, kind: i32, ids: usize, K: i32, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const orow = out + ((<usize>i * K) << 2);
    if (kind <= 2) float_row(orow, table, kind, id, K);
    else if (kind <= 8) dequant_row(orow, table, kind - 3, id, K);
    else dequant_row_k(orow, table, kind - 7, id, K);
  }
}

/**
 * Writes a zero into every 4 KiB page of [p0, p1): each thread of the pool faults in its
 * share of a region before the weights are read into it (see WasmBackend.prefault).
 */
export function touch_pages(p0: usize, p1: usize): void {
  for (let p = p0; p < p1; p += 4096) store<u8>(p, 0);
}

/** Zeroes bytes [p0, p1): a new K/V cache, cleared by the pool's threads instead of the thread that allocates it. */
export function zero_bytes(p0: usize, p1: usize): void {
  if (p1 > p0) memory.fill(p0, 0, p1 - p0);
}

/** Copies float elements [e0, e1) of src to dst (a staged write, see WasmBackend.write). */
export function copy_f32(dst: usize, src: usize, e0: i32, e1: i32): void {
  if (e1 > e0) memory.copy(dst + (<usize>e0 << 2), src + (<usize>e0 << 2), <usize>(e1 - e0) << 2);
}

/**
 * Stores rows [r0, r1) of k and v ([rows, kvHeads * hd], starting at ks and vs) into the
 * [kvHeads, cap, hd] caches k and v at absolute slots slot + r (index modulo cap).
 */
export function store_kv(k: usize, v: usize, ks: usize, vs: usize, kvHeads: i32, cap: i32, hd: i32, slot: i32, r0: i32, r1: i32): void {
  const rb = <usize>(kvHeads * hd) << 2;
  const hb = <usize>hd << 2;
  for (let r = r0; r < r1; r++) {
    const s = (slot + r) % cap;
    for (let h = 0; h < kvHeads; h++) {
      const dst = (<usize>(h * cap + s) * <usize>hd) << 2;
      const src = <usize>r * rb + <usize>h * hb;
      memory.copy(k + dst, ks + src, hb);
      memory.copy(v + dst, vs + src, hb);
    }
  }
}

/** out[i, :] = x[rows[i], :] for i in [i0, i1); rows is an i32 array, rows of `cols` floats. */
export function copy_rows(out: usize, x: usize, rows: usize, cols: i32, i0: i32, i1: i32): void {
  const rb = <usize>cols << 2;
  for (let i = i0; i < i1; i++) memory.copy(out + <usize>i * rb, x + <usize>load<i32>(rows + (<usize>i << 2)) * rb, rb);
}

/**
 * out[rows[i], :] += scale * x[i, :] for i in [i0, i1), each sum computed in double and
 * rounded once to float32: the arithmetic of the TypeScript reference (no fused multiply-add).
 */
export function add_scaled_rows(out: usize, x: usize, rows: usize, cols: i32, scale: f64, i0: i32, i1: i32): void {
  const rb = <usize>cols << 2;
  for (let i = i0; i < i1; i++) {
    const d = out + <usize>load<i32>(rows + (<usize>i << 2)) * rb;
    const s = x + <usize>i * rb;
    for (let c = 0; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(d + o, <f32>(<f64>load<f32>(d + o) + scale * <f64>load<f32>(s + o)));
    }
  }
}
