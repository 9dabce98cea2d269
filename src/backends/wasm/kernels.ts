/**
 * The compiled kernel module: its exports, where its two builds live, and how one thread
 * runs its share of an operation. Shared by the main thread and the workers, which run the
 * same operation table on the same memory.
 */
import { wasm, type WasmMemory, type WasmModule } from "./wasm_api.js";
import { relaxed, simd } from "./kernel_bytes.js";
import { unsharedMemoryImport } from "./memory_import.js";
import { forClaimedRows, resetClaims } from "./row_claims.js";
import { share } from "./share.js";

/**
 * A matrix product over quantised weights w in the paired layout of assembly/matmul_quant.ts
 * (written by pack_blocks; x already quantised by quantize_q8 into xq/xq16/xd/xs) or of
 * assembly/matmul_kquant.ts (written by pack_superblocks; x quantised by quantize_q8_k, with
 * its 16-sums in xs).
 */
type QuantMatmul = (
  out: number,
  xq: number,
  xq16: number,
  xd: number,
  xs: number,
  w: number,
  bias: number,
  n: number,
  K: number,
  N: number,
  r0: number,
  r1: number,
) => void;

/** Exports of src/backends/wasm/assembly/index.ts (pointers are byte offsets into the shared memory). */
export interface KernelExports {
  /** Float weights w in the paired layout of assembly/matmul_float.ts (written by pack_float). */
  matmul_f32(out: number, x: number, w: number, bias: number, n: number, K: number, N: number, r0: number, r1: number): void;
  /** xp: x permuted by permute8 for the decode path, or 0 (K not a multiple of 8). */
  matmul_bf16(out: number, x: number, xp: number, w: number, bias: number, n: number, K: number, N: number, r0: number, r1: number): void;
  permute8(xp: number, x: number, K: number, i0: number, i1: number): void;
  /** Writes `rows` row-major float rows at src in the paired layout at dst (the first row's pair). */
  pack_float(dst: number, src: number, rows: number, K: number, elemBytes: number): void;
  /** Bytes of one row pair in the float paired layout. */
  float_pair_bytes(K: number, elemBytes: number): number;
  matmul_f16(out: number, x: number, w: number, bias: number, n: number, K: number, N: number, r0: number, r1: number): void;
  matmul_q8_0: QuantMatmul;
  matmul_q4_0: QuantMatmul;
  matmul_q5_0: QuantMatmul;
  matmul_q4_1: QuantMatmul;
  matmul_q5_1: QuantMatmul;
  matmul_iq4_nl: QuantMatmul;
  matmul_q2_k: QuantMatmul;
  matmul_q3_k: QuantMatmul;
  matmul_q4_k: QuantMatmul;
  matmul_q5_k: QuantMatmul;
  matmul_q6_k: QuantMatmul;
  /** q8_1: 1 for Q4_1/Q5_1 weights (xs is Q8_1's f16 block sum), else 0. */
  quantize_q8(x: number, xq: number, xq16: number, xd: number, xs: number, K: number, i0: number, i1: number, q8_1: number): void;
  /**
   * Q8_K: xd one f32 per 256 values, xb one int16 sum per 16; the quants again in the order of
   * the Q4_K/Q5_K/Q6_K layout (assembly/kquant_layout.ts) `perm` bytes after xq (2 perm after xq16).
   */
  quantize_q8_k(x: number, xq: number, xq16: number, xd: number, xb: number, K: number, i0: number, i1: number, perm: number): void;
  rmsnorm(out: number, x: number, w: number, eps: number, K: number, i0: number, i1: number): void;
  rope(x: number, cos: number, sin: number, heads: number, hd: number, i0: number, i1: number): void;
  swiglu(out: number, g: number, u: number, e0: number, e1: number): void;
  add(out: number, a: number, b: number, e0: number, e1: number): void;
  embed(out: number, table: number, kind: number, ids: number, K: number, i0: number, i1: number): void;
  touch_pages(p0: number, p1: number): void;
  zero_bytes(p0: number, p1: number): void;
  copy_f32(dst: number, src: number, e0: number, e1: number): void;
  store_kv(k: number, v: number, ks: number, vs: number, kvHeads: number, cap: number, hd: number, slot: number, r0: number, r1: number): void;
  copy_rows(out: number, x: number, rows: number, cols: number, i0: number, i1: number): void;
  add_scaled_rows(out: number, x: number, rows: number, cols: number, scale: number, i0: number, i1: number): void;
  /**
   * Writes `rows` rows of GGUF 32-weight blocks (`halves` f16 values, then `qBytes` payload
   * bytes each) at src in the paired layout at dst (the first row's pair).
   */
  pack_blocks(dst: number, src: number, rows: number, K: number, qBytes: number, halves: number): void;
  /** Bytes of one row pair in the paired layout. */
  pair_bytes(K: number, qBytes: number, halves: number): number;
  /** Writes `rows` rows of GGUF K-quant super-blocks (`bb` bytes each) at src in the paired layout at dst. */
  pack_superblocks(dst: number, src: number, rows: number, K: number, bb: number): void;
  /** Bytes of one row pair in the paired super-block layout. */
  superpair_bytes(K: number, bb: number): number;
  attention(
    out: number,
    q: number,
    desc: number,
    nseg: number,
    heads: number,
    kvHeads: number,
    hd: number,
    scale: number,
    window: number,
    it0: number,
    it1: number,
    scores: number,
  ): void;
}

export type KernelBuild = "simd" | "relaxed";

const decoded = new Map<string, Uint8Array>();

/**
 * A build's module bytes. They are embedded in a JavaScript module (kernel_bytes.js, written
 * by scripts/build-wasm.mjs) rather than read from the .wasm files beside it, so that they
 * load the same way in Node, Deno, Bun, browsers and bundles: no file system, no fetch.
 */
export function readKernelBytes(build: KernelBuild, sharedMemory = true): Uint8Array {
  const key = `${build}:${sharedMemory}`;
  let bytes = decoded.get(key);
  if (!bytes) {
    const text = atob(build === "relaxed" ? relaxed : simd);
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    // One thread in a runtime without shared memory: the same kernels on an ordinary memory.
    if (!sharedMemory) bytes = unsharedMemoryImport(bytes);
    decoded.set(key, bytes);
  }
  return bytes;
}

export function instantiateKernels(module: WasmModule, memory: WasmMemory): KernelExports {
  const instance = new wasm.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}

/** Operation codes understood by every thread. */
export const Op = {
  Exit: 0,
  MatmulFloat: 1,
  MatmulQuant: 2,
  Quantize: 3,
  RmsNorm: 4,
  Rope: 5,
  SwiGLU: 6,
  Add: 7,
  Embed: 8,
  Attention: 9,
  Permute8: 10,
  TouchPages: 11,
  QuantizeK: 12,
  Copy: 13,
  StoreKV: 14,
  CopyRows: 15,
  AddScaledRows: 16,
  ZeroBytes: 17,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]));

/** An op code's name for error messages ("Attention"), or the number itself when unknown. */
export function opName(op: number): string {
  return OP_NAMES.get(op) ?? `#${op}`;
}

/** Weight kinds as the kernels number them (assembly/elementwise.ts embed). */
export const Kind = {
  F32: 0,
  BF16: 1,
  F16: 2,
  Q8_0: 3,
  Q4_0: 4,
  Q5_0: 5,
  Q4_1: 6,
  Q5_1: 7,
  IQ4_NL: 8,
  Q2_K: 9,
  Q3_K: 10,
  Q4_K: 11,
  Q5_K: 12,
  Q6_K: 13,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The matrix product of each quantised kind. */
function quantMatmul(k: KernelExports, kind: number): QuantMatmul {
  switch (kind) {
    case Kind.Q8_0:
      return k.matmul_q8_0;
    case Kind.Q4_0:
      return k.matmul_q4_0;
    case Kind.Q5_0:
      return k.matmul_q5_0;
    case Kind.Q4_1:
      return k.matmul_q4_1;
    case Kind.Q5_1:
      return k.matmul_q5_1;
    case Kind.IQ4_NL:
      return k.matmul_iq4_nl;
    case Kind.Q2_K:
      return k.matmul_q2_k;
    case Kind.Q3_K:
      return k.matmul_q3_k;
    case Kind.Q4_K:
      return k.matmul_q4_k;
    case Kind.Q5_K:
      return k.matmul_q5_k;
    default:
      return k.matmul_q6_k;
  }
}

/** Rows of a matrix product op (the N of its arguments; of all its products for a joined one), or -1 for other ops. */
function productRows(op: number, a: Float64Array): number {
  if (op === Op.MatmulFloat) return a[7]!;
  if (op !== Op.MatmulQuant) return -1;
  let rows = a[10]!;
  for (let p = 0; p < a[11]!; p++) rows += a[16 + 5 * p]!;
  return rows;
}

/** Bytes per weight of each Kind (F32 .. Q6_K), for chunk sizes only. */
const WEIGHT_BYTES = [4, 2, 2, 34 / 32, 18 / 32, 22 / 32, 20 / 32, 24 / 32, 18 / 32, 84 / 256, 110 / 256, 144 / 256, 176 / 256, 210 / 256];

/**
 * The fewest rows of a product that one claim takes (a multiple of 4): about 16 KiB of
 * weights, so that a claim and a kernel call (a fraction of a microsecond) stay small beside
 * the rows' work.
 */
function minChunkRows(op: number, a: Float64Array): number {
  const K = op === Op.MatmulQuant ? a[9]! : a[6]!;
  return Math.max(4, Math.ceil(16384 / (K * (WEIGHT_BYTES[a[0]!] ?? 1)) / 4) * 4);
}

/** Main thread, before `op` is published to the workers: resets a product's row claims. */
export function prepare(op: number, a: Float64Array, threads: number, ctl: Int32Array): void {
  const N = productRows(op, a);
  if (N >= 0) resetClaims(ctl, N, threads, minChunkRows(op, a));
}

/**
 * Runs thread t's share of operation `op` whose arguments are in `a` (layout per op below).
 * The same code runs on the main thread (t = 0) and in each worker. Matrix products take
 * their rows through forClaimedRows (row_claims.ts); the other ops split statically.
 */
export function execute(k: KernelExports, op: number, a: Float64Array, t: number, threads: number, ctl: Int32Array): void {
  switch (op) {
    case Op.MatmulFloat: {
      // kind, out, x, w, bias, n, K, N, xp (bf16 only)
      const N = a[7]!;
      const minRows = minChunkRows(op, a);
      if (a[0] === Kind.BF16)
        forClaimedRows(ctl, N, t, threads, (r0, r1) => k.matmul_bf16(a[1]!, a[2]!, a[8]!, a[3]!, a[4]!, a[5]!, a[6]!, N, r0, r1), minRows);
      else {
        const f = a[0] === Kind.F32 ? k.matmul_f32 : k.matmul_f16;
        forClaimedRows(ctl, N, t, threads, (r0, r1) => f(a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, N, r0, r1), minRows);
      }
      return;
    }
    case Op.MatmulQuant: {
      // kind, out, xq, xq16, xd, xs, w, bias, n, K, N (chunks start at even rows: the layout
      // pairs rows), joined: how many more products on the same xq, then per product kind, out,
      // w, bias, N; their rows are claimed as one range (every N a multiple of 4, see joinProduct).
      const N = a[10]!;
      const joined = a[11]!;
      const minRows = minChunkRows(op, a);
      if (joined === 0) {
        const f = quantMatmul(k, a[0]!);
        forClaimedRows(ctl, N, t, threads, (r0, r1) => f(a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, N, r0, r1), minRows);
        return;
      }
      forClaimedRows(ctl, productRows(op, a), t, threads, (r0, r1) => {
        let first = 0;
        for (let p = 0; p <= joined && first < r1; p++) {
          const e = 12 + 5 * (p - 1);
          const rows = p === 0 ? N : a[e + 4]!;
          const lo = Math.max(r0, first) - first;
          const hi = Math.min(r1, first + rows) - first;
          if (lo < hi) {
            if (p === 0) quantMatmul(k, a[0]!)(a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, N, lo, hi);
            else quantMatmul(k, a[e]!)(a[e + 1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[e + 2]!, a[e + 3]!, a[8]!, a[9]!, rows, lo, hi);
          }
          first += rows;
        }
      }, minRows);
      return;
    }
    case Op.Quantize:
    case Op.QuantizeK: {
      // x, xq, xq16, xd, xs, K, n, then Quantize: q8_1 (Q8_1's f16 sums for Q4_1/Q5_1);
      // QuantizeK: the byte distance from xq to its permuted copy (n K, see quantize_q8_k).
      const K = a[5]!;
      const n = a[6]!;
      if (n >= threads) {
        const [i0, i1] = share(n, t, threads, 1);
        if (i0 >= i1) return;
        if (op === Op.Quantize) k.quantize_q8(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, K, i0, i1, a[7]!);
        else k.quantize_q8_k(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, K, i0, i1, a[7]!);
        return;
      }
      // Fewer rows than threads (decode): each thread takes a share of every row's blocks, each
      // quantised on its own, as a row of its own (one scale per block, sums per 16 or 32).
      const size = op === Op.Quantize ? 32 : 256;
      const nb = K / size;
      const [b0, b1] = share(nb, t, threads, 1);
      if (b0 >= b1) return;
      for (let i = 0; i < n; i++) {
        const e = i * K + b0 * size;
        const b = i * nb + b0;
        if (op === Op.Quantize)
          k.quantize_q8(a[0]! + 4 * e, a[1]! + e, a[2]! + 2 * e, a[3]! + 4 * b, a[4]! + 4 * b, (b1 - b0) * size, 0, 1, a[7]!);
        else k.quantize_q8_k(a[0]! + 4 * e, a[1]! + e, a[2]! + 2 * e, a[3]! + 4 * b, a[4]! + 32 * b, (b1 - b0) * size, 0, 1, a[7]!);
      }
      return;
    }
    case Op.TouchPages: {
      // start, bytes (shares are whole 4 KiB pages)
      const [b0, b1] = share(a[1]!, t, threads, 4096);
      if (b0 < b1) k.touch_pages(a[0]! + b0, a[0]! + b1);
      return;
    }
    case Op.ZeroBytes: {
      // start, bytes (shares are whole 4 KiB pages, so each thread faults in its own)
      const [b0, b1] = share(a[1]!, t, threads, 4096);
      if (b0 < b1) k.zero_bytes(a[0]! + b0, a[0]! + b1);
      return;
    }
    case Op.Permute8: {
      // xp, x, K, n
      const [i0, i1] = share(a[3]!, t, threads, 1);
      if (i0 < i1) k.permute8(a[0]!, a[1]!, a[2]!, i0, i1);
      return;
    }
    case Op.RmsNorm: {
      // out, x, w, eps, K, n
      const [i0, i1] = share(a[5]!, t, threads, 1);
      if (i0 < i1) k.rmsnorm(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, i0, i1);
      return;
    }
    case Op.Rope: {
      // x, cos, sin, heads, hd, n
      const [i0, i1] = share(a[5]!, t, threads, 1);
      if (i0 < i1) k.rope(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, i0, i1);
      return;
    }
    case Op.SwiGLU:
    case Op.Add: {
      // out, a, b, count
      const [e0, e1] = share(a[3]!, t, threads, 4);
      if (e0 < e1) (op === Op.Add ? k.add : k.swiglu)(a[0]!, a[1]!, a[2]!, e0, e1);
      return;
    }
    case Op.Embed: {
      // out, table, kind, ids, K, n
      const [i0, i1] = share(a[5]!, t, threads, 1);
      if (i0 < i1) k.embed(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, i0, i1);
      return;
    }
    case Op.Attention: {
      // out, q, desc, nseg, heads, kvHeads, hd, scale, window, items, scores, scoresStride
      const [i0, i1] = share(a[9]!, t, threads, 1);
      if (i0 < i1) k.attention(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, i0, i1, a[10]! + t * a[11]!);
      return;
    }
    case Op.Copy: {
      // dst, src, count (floats)
      const [e0, e1] = share(a[2]!, t, threads, 16);
      if (e0 < e1) k.copy_f32(a[0]!, a[1]!, e0, e1);
      return;
    }
    case Op.StoreKV: {
      // k, v, ks, vs, kvHeads, capacity, hd, slot, count
      const [r0, r1] = share(a[8]!, t, threads, 1);
      if (r0 < r1) k.store_kv(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, r0, r1);
      return;
    }
    case Op.CopyRows: {
      // out, x, rows (i32), cols, count
      const [i0, i1] = share(a[4]!, t, threads, 1);
      if (i0 < i1) k.copy_rows(a[0]!, a[1]!, a[2]!, a[3]!, i0, i1);
      return;
    }
    case Op.AddScaledRows: {
      // out, x, rows (i32), cols, count, scale; always local: rows may repeat
      if (t === 0) k.add_scaled_rows(a[0]!, a[1]!, a[2]!, a[3]!, a[5]!, 0, a[4]!);
      return;
    }
  }
}
