// Causal grouped-query attention over a float32 K/V ring cache, with optional sliding
// window, for a batch of sequence segments.
//
// Segment descriptors (6 x i32 each at desc): k cache ptr, v cache ptr, capacity, first
// query row, query count, tokens cached before. A cache is [kvHeads, capacity, hd]; absolute
// slot s lives at index s % capacity. Work items are (segment, head, query) in that order;
// a thread handles items [it0, it1). `scores` is a per-thread scratch of >= capacity floats.
import { fma, hsum, exp4 } from "./simd";

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, hd: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let d = 0;
  for (; d + 8 <= hd; d += 8) {
    const o = <usize>d << 2;
    a0 = fma(v128.load(a + o), v128.load(b + o), a0);
    a1 = fma(v128.load(a + o, 16), v128.load(b + o, 16), a1);
  }
  for (; d + 4 <= hd; d += 4) {
    const o = <usize>d << 2;
    a0 = fma(v128.load(a + o), v128.load(b + o), a0);
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; d < hd; d++) {
    const o = <usize>d << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

function attendOne(qv: usize, ov: usize, kBase: usize, vBase: usize, cap: i32, hd: i32, lo: i32, pos: i32, scale: f32, scores: usize): void {
  const rb = <usize>hd << 2;
  let mx: f32 = -Infinity;
  for (let j = lo; j <= pos; j++) {
    const s = dot(qv, kBase + <usize>(j % cap) * rb, hd) * scale;
    store<f32>(scores + (<usize>(j - lo) << 2), s);
    if (s > mx) mx = s;
  }
  const cnt = pos - lo + 1;
  const mv = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= cnt; j += 4) {
    const p = scores + (<usize>j << 2);
    const e = exp4(f32x4.sub(v128.load(p), mv));
    v128.store(p, e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum(sv);
  for (; j < cnt; j++) {
    const p = scores + (<usize>j << 2);
    const e = Mathf.exp(load<f32>(p) - mx);
    store<f32>(p, e);
    sum += e;
  }
  const inv: f32 = <f32>1 / sum;
  let d = 0;
  for (; d + 4 <= hd; d += 4) v128.store(ov + (<usize>d << 2), f32x4.splat(0));
  for (; d < hd; d++) store<f32>(ov + (<usize>d << 2), 0);
  for (let j = lo; j <= pos; j++) {
    const p: f32 = load<f32>(scores + (<usize>(j - lo) << 2)) * inv;
    const pv = f32x4.splat(p);
    const vr = vBase + <usize>(j % cap) * rb;
    d = 0;
    for (; d + 4 <= hd; d += 4) {
      const o = <usize>d << 2;
      v128.store(ov + o, fma(pv, v128.load(vr + o), v128.load(ov + o)));
    }
    for (; d < hd; d++) {
      const o = <usize>d << 2;
      store<f32>(ov + o, load<f32>(ov + o) + p * load<f32>(vr + o));
    }
  }
}

/** window <= 0 means full causal attention. */
export function attention(out: usize, q: usize, desc: usize, nseg: i32, heads: i32, kvHeads: i32, hd: i32, scale: f32, window: i32, it0: i32, it1: i32, scores: usize): void {
  const group = heads / kvHeads;
  const rowBytes = <usize>(heads * hd) << 2;
  let item = 0;
  for (let s = 0; s < nseg && item < it1; s++) {
    const dp = desc + <usize>s * 24;
    const count = load<i32>(dp, 16);
    const segItems = heads * count;
    if (item + segItems <= it0) {
      item += segItems;
      continue;
    }
    const kP = <usize>load<i32>(dp), vP = <usize>load<i32>(dp, 4);
    const cap = load<i32>(dp, 8), row = load<i32>(dp, 12), past = load<i32>(dp, 20);
    const headBytes = (<usize>cap * hd) << 2;
    for (let h = 0; h < heads; h++) {
      if (item + count <= it0) {
        item += count;
        continue;
      }
      if (item >= it1) break;
      const kvh = h / group;
      const kBase = kP + <usize>kvh * headBytes, vBase = vP + <usize>kvh * headBytes;
      for (let i = 0; i < count; i++, item++) {
        if (item < it0 || item >= it1) continue;
        const pos = past + i;
        const lo = window > 0 ? max(0, pos - window + 1) : 0;
        const r = <usize>(row + i) * rowBytes + ((<usize>h * hd) << 2);
        attendOne(q + r, out + r, kBase, vBase, cap, hd, lo, pos, scale, scores);
      }
    }
  }
}
