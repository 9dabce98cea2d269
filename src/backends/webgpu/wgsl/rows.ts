/**
 * The row-wise and elementwise kernels: RMSNorm, RoPE, SwiGLU, add, embedding lookup,
 * row gathers and K/V stores. Elementwise kernels index 256 threads per workgroup over a
 * 2-D grid of workgroups (the device allows at most 65535 per dimension).
 *
 * WebGPU refuses a buffer bound both read-only and writable in one dispatch, so ops whose
 * output may alias an input (rmsnorm, add, swiglu, rope) have a variant that reads and
 * writes one binding.
 */
import { weightReader } from "./weights.js";

const LINEAR = /* wgsl */ `
fn linear(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}
`;

const ENTRY = `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32)`;

/** out = x / sqrt(mean(x^2) + eps) * g, one workgroup of 64 per row (rows are short: 896..8192); `inPlace`: out is x. */
export function rmsnormShader(inPlace: boolean): string {
  const io = inPlace
    ? `@group(0) @binding(1) var<storage, read_write> x: array<f32>;`
    : `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;`;
  return `struct Params { cols: u32, eps: f32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${io}
@group(0) @binding(2) var<storage, read> g: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.n) {
    return;
  }
  let base = row * p.cols;
  var ss = 0.0;
  for (var k = lid; k < p.cols; k += 64u) {
    let v = x[base + k];
    ss += v * v;
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      red[lid] += red[lid + stride];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(p.cols) + p.eps);
  for (var k = lid; k < p.cols; k += 64u) {
    ${inPlace ? "x" : "out"}[base + k] = g[k] * (x[base + k] * inv);
  }
}
`;
}

/** Rotate-half RoPE in place on x [n, heads * headDim]; cos/sin are [n, headDim / 2], from the upload arena. */
export const ROPE = /* wgsl */ `
struct Params { n: u32, heads: u32, headDim: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<f32>; // cos then sin, n * half each
${LINEAR}
${ENTRY} {
  let half = p.headDim / 2u;
  let t = linear(wg, nwg, lid);
  if (t >= p.n * p.heads * half) {
    return;
  }
  let j = t % half;
  let hd = (t / half) % p.heads;
  let i = t / (half * p.heads);
  let base = i * p.cols + hd * p.headDim;
  let c = cs[i * half + j];
  let s = cs[p.n * half + i * half + j];
  let a = x[base + j];
  let b = x[base + j + half];
  x[base + j] = a * c - b * s;
  x[base + j + half] = b * c + a * s;
}
`;

/** Which input `out` is: none, a, b, or both (a and b the same matrix too). */
export type BinaryAlias = "none" | "a" | "b" | "ab";

/** out = f(a, b) elementwise over `len` values; `expr` uses `a` and `b`. */
export function binaryShader(expr: string, alias: BinaryAlias): string {
  const binds =
    alias === "none"
      ? `@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;`
      : alias === "a"
        ? `@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;`
        : alias === "b"
          ? `@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> B: array<f32>;`
          : `@group(0) @binding(1) var<storage, read_write> A: array<f32>;`;
  const target = alias === "none" ? "O" : alias === "b" ? "B" : "A";
  return `struct Params { len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${binds}
${LINEAR}
fn f(a: f32, b: f32) -> f32 { return ${expr}; }
${ENTRY} {
  let t = linear(wg, nwg, lid);
  if (t >= p.len) {
    return;
  }
  ${target}[t] = f(A[t], ${alias === "ab" ? "A" : "B"}[t]);
}
`;
}

/** silu(gate) * up; silu(a) = a / (1 + exp(-a)). */
export const SWIGLU_EXPR = "(a / (1.0 + exp(-a))) * b";
export const ADD_EXPR = "a + b";

/** out[i, :] = table[ids[i], :] for the ids that fall in this part of the table. */
export function embedShader(): string {
  return `struct Params { n: u32, cols: u32, rowOffset: u32, partRows: u32, dtype: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
${weightReader(2, "p.cols", "p.dtype")}
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${LINEAR}
${ENTRY} {
  let t = linear(wg, nwg, lid);
  if (t >= p.n * p.cols) {
    return;
  }
  let i = t / p.cols;
  let k = t % p.cols;
  let id = ids[i];
  if (id >= p.rowOffset && id < p.rowOffset + p.partRows) {
    out[t] = w_at(id - p.rowOffset, k);
  }
}
`;
}

/** out[i, :] = x[rows[i], :]. */
export const COPY_ROWS = /* wgsl */ `
struct Params { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${LINEAR}
${ENTRY} {
  let t = linear(wg, nwg, lid);
  if (t >= p.n * p.cols) {
    return;
  }
  out[t] = x[rows[t / p.cols] * p.cols + t % p.cols];
}
`;

/** Rows [row, row + count) of k and v into the ring at slots slot.. (index slot % capacity), [kvHeads, capacity, headDim]. */
export const STORE_KV = /* wgsl */ `
struct Params { row: u32, count: u32, slot: u32, capacity: u32, kvHeads: u32, headDim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;
${LINEAR}
${ENTRY} {
  let t = linear(wg, nwg, lid);
  let width = p.kvHeads * p.headDim;
  if (t >= p.count * width) {
    return;
  }
  let i = t / width;
  let c = t % width;
  let g = c / p.headDim;
  let d = c % p.headDim;
  let dst = (g * p.capacity + (p.slot + i) % p.capacity) * p.headDim + d;
  let src = (p.row + i) * width + c;
  kc[dst] = k[src];
  vc[dst] = v[src];
}
`;

/**
 * out[rows[i], :] += scale * x[i, :]. One thread per column walks the rows in order, so a row
 * listed twice gets both additions, as in the reference.
 */
export const ADD_SCALED_ROWS = /* wgsl */ `
struct Params { n: u32, cols: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${LINEAR}
${ENTRY} {
  let k = linear(wg, nwg, lid);
  if (k >= p.cols) {
    return;
  }
  for (var i = 0u; i < p.n; i++) {
    let o = rows[i] * p.cols + k;
    out[o] = out[o] + p.scale * x[i * p.cols + k];
  }
}
`;
