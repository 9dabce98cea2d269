/**
 * out[i, rowOffset + r] = sum_k x[i, k] * w[r, k] (+ bias[rowOffset + r]) for the rows r of
 * one weight buffer (a whole weight, or one part of a weight split by rows).
 *
 * Three shapes of the same product:
 * - `matvec` (decode, up to MATVEC_ROWS input rows): 2 weight rows per workgroup, 32 lanes
 *   per row striding along k, so every weight value is read once for all input rows; lanes
 *   then sum through workgroup memory. For GPUs: neighbouring lanes read neighbouring bytes.
 * - `matvecRows` (decode on a CPU implementation of WebGPU such as SwiftShader): one thread
 *   per weight row and no workgroup barrier. SwiftShader runs a workgroup's threads as
 *   fibres on a CPU core, where each barrier is a switch through all of them: this shape is
 *   some 20x faster there, and far slower on a GPU (its reads do not coalesce).
 * - `tiled` (prefill): 32x32 output tiles from 64 threads, 16 values of k at a time staged
 *   in workgroup memory, 4x4 outputs per thread, so each weight value is read once per 32
 *   input rows.
 * Both accumulate in float32.
 */
import { weightReader } from "./weights.js";

/** Most input rows the matrix-vector kernel takes in one dispatch. */
export const MATVEC_ROWS = 8;
/** Weight rows per workgroup of the lanes kernel (32 lanes each: 64 threads). */
export const LANES_ROWS = 2;

const PARAMS = /* wgsl */ `
struct Params {
  n: u32,         // input rows
  cols: u32,      // K: values per input row and per weight row
  outDim: u32,    // columns of out (all rows of the weight)
  partRows: u32,  // weight rows in this buffer
  rowOffset: u32, // first weight row of this buffer
  hasBias: u32,
  dtype: u32,     // DTYPE_CODE of the weight
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
`;

export function matvecShader(): string {
  return `${PARAMS}${weightReader(2, "p.cols", "p.dtype")}
var<workgroup> red: array<f32, ${64 * MATVEC_ROWS}>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let group = lid >> 5u;
  let lane = lid & 31u;
  let r = (wg.y * nwg.x + wg.x) * ${LANES_ROWS}u + group;
  var acc: array<f32, ${MATVEC_ROWS}>;
  if (r < p.partRows) {
    for (var k = lane; k < p.cols; k += 32u) {
      let wv = w_at(r, k);
      for (var i = 0u; i < p.n; i++) {
        acc[i] += wv * x[i * p.cols + k];
      }
    }
  }
  for (var i = 0u; i < ${MATVEC_ROWS}u; i++) {
    red[lid * ${MATVEC_ROWS}u + i] = acc[i];
  }
  workgroupBarrier();
  if (r < p.partRows && lane < p.n) {
    var s = 0.0;
    for (var l = 0u; l < 32u; l++) {
      s += red[((group << 5u) + l) * ${MATVEC_ROWS}u + lane];
    }
    let o = p.rowOffset + r;
    if (p.hasBias != 0u) {
      s += bias[o];
    }
    out[lane * p.outDim + o] = s;
  }
}
`;
}

export function matvecRowsShader(): string {
  return `${PARAMS}${weightReader(2, "p.cols", "p.dtype")}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * nwg.x + wg.x) * 64u + lid;
  if (r >= p.partRows) {
    return;
  }
  let o = p.rowOffset + r;
  for (var i = 0u; i < p.n; i++) {
    var s = 0.0;
    for (var k = 0u; k < p.cols; k++) {
      s += w_at(r, k) * x[i * p.cols + k];
    }
    if (p.hasBias != 0u) {
      s += bias[o];
    }
    out[i * p.outDim + o] = s;
  }
}
`;
}

export function tiledShader(): string {
  return `${PARAMS}${weightReader(2, "p.cols", "p.dtype")}
var<workgroup> xs: array<f32, ${32 * 17}>;
var<workgroup> ws: array<f32, ${32 * 17}>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row0 = wg.y * 32u;
  let col0 = wg.x * 32u;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.cols; k0 += 16u) {
    for (var e = 0u; e < 8u; e++) {
      let idx = lid + e * 64u;
      let rr = idx >> 4u;
      let kk = idx & 15u;
      let k = k0 + kk;
      var xv = 0.0;
      if (row0 + rr < p.n && k < p.cols) {
        xv = x[(row0 + rr) * p.cols + k];
      }
      var wv = 0.0;
      if (col0 + rr < p.partRows && k < p.cols) {
        wv = w_at(col0 + rr, k);
      }
      xs[rr * 17u + kk] = xv;
      ws[rr * 17u + kk] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var t = 0u; t < 4u; t++) {
        a[t] = xs[(l3.y * 4u + t) * 17u + kk];
        b[t] = ws[(l3.x * 4u + t) * 17u + kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] += a[i] * b[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let xr = row0 + l3.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let wr = col0 + l3.x * 4u + j;
      if (xr < p.n && wr < p.partRows) {
        let o = p.rowOffset + wr;
        var s = acc[i * 4u + j];
        if (p.hasBias != 0u) {
          s += bias[o];
        }
        out[xr * p.outDim + o] = s;
      }
    }
  }
}
`;
}
