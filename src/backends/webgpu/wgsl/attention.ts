/**
 * Causal grouped-query attention of one sequence's new rows over its K/V ring, optionally
 * with a sliding window. One workgroup per (head, query row): keys are taken 64 at a time,
 * each thread scoring one key against the query (kept in workgroup memory), then an online
 * softmax (running max and sum, rescaled per tile) accumulates V with the threads split over
 * the head dimension (up to 4 values each, so headDim <= 256). Everything in float32.
 */

/** The largest head dimension the kernel holds (4 values per thread, 64 threads). */
export const MAX_HEAD_DIM = 256;

export const ATTENTION = /* wgsl */ `
struct Params {
  row: u32,       // first query row of this sequence in q and out
  past: u32,      // tokens cached before these: query i sits at slot past + i
  capacity: u32,  // ring size
  headDim: u32,
  group: u32,     // query heads per KV head
  window: u32,    // 0: full causal attention
  qCols: u32,     // heads * headDim
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> qv: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> sc: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let i = wg.y;
  let s = p.past + i;
  var first = 0u;
  if (p.window != 0u && s + 1u > p.window) {
    first = s + 1u - p.window;
  }
  let kvBase = (h / p.group) * p.capacity * p.headDim;
  let qBase = (p.row + i) * p.qCols + h * p.headDim;
  for (var d = lid; d < p.headDim; d += 64u) {
    qv[d] = q[qBase + d];
  }
  workgroupBarrier();
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, 4>;
  for (var t0 = first; t0 <= s; t0 += 64u) {
    let j = t0 + lid;
    var score = -3.0e38;
    if (j <= s) {
      let kb = kvBase + (j % p.capacity) * p.headDim;
      var dot = 0.0;
      for (var d = 0u; d < p.headDim; d++) {
        dot += qv[d] * kc[kb + d];
      }
      score = dot * p.scale;
    }
    sc[lid] = score;
    workgroupBarrier();
    let cnt = min(64u, s + 1u - t0);
    var tmax = m;
    for (var u = 0u; u < cnt; u++) {
      tmax = max(tmax, sc[u]);
    }
    let corr = exp(m - tmax);
    l *= corr;
    for (var r = 0u; r < 4u; r++) {
      acc[r] *= corr;
    }
    for (var u = 0u; u < cnt; u++) {
      let e = exp(sc[u] - tmax);
      l += e;
      let vb = kvBase + ((t0 + u) % p.capacity) * p.headDim;
      for (var r = 0u; r < 4u; r++) {
        let d = lid + r * 64u;
        if (d < p.headDim) {
          acc[r] += e * vc[vb + d];
        }
      }
    }
    m = tmax;
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let d = lid + r * 64u;
    if (d < p.headDim) {
      out[qBase + d] = acc[r] / l;
    }
  }
}
`;
