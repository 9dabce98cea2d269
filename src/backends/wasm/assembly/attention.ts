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

/** [sum(a), sum(b), sum(c), sum(d)] of four float vectors. */
// @ts-ignore: decorator
@inline function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/** The byte offset of the next slot of a ring of `ringBytes` bytes, one `rb`-byte row on. */
// @ts-ignore: decorator
@inline function nextSlot(off: usize, rb: usize, ringBytes: usize): usize {
  off += rb;
  return off == ringBytes ? 0 : off;
}

/** ov[0..hd) += p * vr[0..hd). */
// @ts-ignore: decorator
@inline function axpy(ov: usize, vr: usize, p: f32, hd: i32): void {
  const pv = f32x4.splat(p);
  let d = 0;
  for (; d + 4 <= hd; d += 4) {
    const o = <usize>d << 2;
    v128.store(ov + o, fma(pv, v128.load(vr + o), v128.load(ov + o)));
  }
  for (; d < hd; d++) {
    const o = <usize>d << 2;
    store<f32>(ov + o, load<f32>(ov + o) + p * load<f32>(vr + o));
  }
}

/**
 * One query row against cached slots lo..pos. The ring is walked with a wrapping pointer (a
 * modulo per key cost more than the dot product at long contexts), and values are added four
 * keys at a time so that the output row is loaded and stored once per four keys.
 */
function attendOne(qv: usize, ov: usize, kBase: usize, vBase: usize, cap: i32, hd: i32, lo: i32, pos: i32, scale: f32, scores: usize): void {
  const rb = <usize>hd << 2;
  const cnt = pos - lo + 1;
  const first = <usize>(lo % cap) * rb;
  const ringBytes = <usize>cap * rb;
  let mx: f32 = -Infinity;
  let off = first;
  let j = 0;
  if ((hd & 3) == 0) {
    // Four keys at a time: each query vector load serves four dot products, whose sums are
    // gathered into one vector instead of four horizontal sums.
    const sc = f32x4.splat(scale);
    let m4 = f32x4.splat(-Infinity);
    for (; j + 4 <= cnt; j += 4) {
      const k0 = kBase + off;
      off = nextSlot(off, rb, ringBytes);
      const k1 = kBase + off;
      off = nextSlot(off, rb, ringBytes);
      const k2 = kBase + off;
      off = nextSlot(off, rb, ringBytes);
      const k3 = kBase + off;
      off = nextSlot(off, rb, ringBytes);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let d = 0; d < hd; d += 4) {
        const o = <usize>d << 2;
        const qd = v128.load(qv + o);
        a0 = fma(qd, v128.load(k0 + o), a0);
        a1 = fma(qd, v128.load(k1 + o), a1);
        a2 = fma(qd, v128.load(k2 + o), a2);
        a3 = fma(qd, v128.load(k3 + o), a3);
      }
      const s4 = f32x4.mul(sum4(a0, a1, a2, a3), sc);
      v128.store(scores + (<usize>j << 2), s4);
      m4 = f32x4.max(m4, s4);
    }
    mx = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  }
  for (; j < cnt; j++) {
    const s = dot(qv, kBase + off, hd) * scale;
    store<f32>(scores + (<usize>j << 2), s);
    if (s > mx) mx = s;
    off = nextSlot(off, rb, ringBytes);
  }
  const mv = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  j = 0;
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
  let d = 0;
  for (; d + 4 <= hd; d += 4) v128.store(ov + (<usize>d << 2), f32x4.splat(0));
  for (; d < hd; d++) store<f32>(ov + (<usize>d << 2), 0);
  off = first;
  j = 0;
  for (; j + 4 <= cnt; j += 4) {
    const sp = scores + (<usize>j << 2);
    const v0 = vBase + off;
    off = nextSlot(off, rb, ringBytes);
    const v1 = vBase + off;
    off = nextSlot(off, rb, ringBytes);
    const v2 = vBase + off;
    off = nextSlot(off, rb, ringBytes);
    const v3 = vBase + off;
    off = nextSlot(off, rb, ringBytes);
    const p0 = f32x4.splat(load<f32>(sp)), p1 = f32x4.splat(load<f32>(sp, 4));
    const p2 = f32x4.splat(load<f32>(sp, 8)), p3 = f32x4.splat(load<f32>(sp, 12));
    d = 0;
    for (; d + 4 <= hd; d += 4) {
      const o = <usize>d << 2;
      let acc = v128.load(ov + o);
      acc = fma(p0, v128.load(v0 + o), acc);
      acc = fma(p1, v128.load(v1 + o), acc);
      acc = fma(p2, v128.load(v2 + o), acc);
      acc = fma(p3, v128.load(v3 + o), acc);
      v128.store(ov + o, acc);
    }
    for (; d < hd; d++) {
      const o = <usize>d << 2;
      store<f32>(ov + o, load<f32>(ov + o) + load<f32>(sp) * load<f32>(v0 + o) + load<f32>(sp, 4) * load<f32>(v1 + o) + load<f32>(sp, 8) * load<f32>(v2 + o) + load<f32>(sp, 12) * load<f32>(v3 + o));
    }
  }
  for (; j < cnt; j++) {
    axpy(ov, vBase + off, load<f32>(scores + (<usize>j << 2)), hd);
    off = nextSlot(off, rb, ringBytes);
  }
  // Normalise once at the end instead of every probability.
  const inv = f32x4.splat(<f32>1 / sum);
  d = 0;
  for (; d + 4 <= hd; d += 4) v128.store(ov + (<usize>d << 2), f32x4.mul(v128.load(ov + (<usize>d << 2)), inv));
  for (; d < hd; d++) store<f32>(ov + (<usize>d << 2), load<f32>(ov + (<usize>d << 2)) / sum);
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
