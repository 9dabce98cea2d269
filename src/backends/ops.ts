import type { UploadSource } from "../formats/weights.js";
import type { WeightDType } from "../tensor/dtype.js";

/**
 * The ops interface: everything model code may ask of a compute backend. Backends
 * (reference TypeScript, WebAssembly SIMD, later WebGPU) implement it and know nothing of
 * Qwen; model code calls only this and never learns which backend runs it.
 *
 * Conventions
 * - Activations are float32 matrices `Mat` of shape [rows, cols], row-major, owned by the
 *   backend. Ops take the number of rows `n` to process (a Mat is allocated once for the
 *   largest batch and reused), so hot paths allocate nothing per token.
 * - Weights keep their storage dtype (f32, f16, bf16, q8_0, q4_0). A 2-D weight is
 *   [out, in] as in Hugging Face's Linear; a 1-D weight is a vector (norm scale, bias).
 * - `out` may alias an input only where an op says so.
 * - Compute ops are synchronous calls that return nothing: a CPU backend performs the work at
 *   once (blocking on its worker threads), a GPU backend records it and submits at the next
 *   read. Only `read` and `readInto` return data, and they are async, because a GPU hands
 *   results back only through a promise (`mapAsync`); a CPU backend resolves at once.
 */

/** A weight tensor uploaded to a backend, in its storage dtype. */
export interface Weight {
  readonly dtype: WeightDType;
  readonly shape: readonly number[];
}

/** A float32 matrix [rows, cols] owned by a backend. */
export interface Mat {
  readonly rows: number;
  readonly cols: number;
}

/**
 * One attention layer's key and value cache for one sequence: two [kvHeads, capacity,
 * headDim] float32 arrays. Absolute token slot `s` (0-based, counted from the start of the
 * sequence) is stored at index `s % capacity`, so a sliding-window layer can use a ring
 * smaller than the sequence (see {@link AttentionSegment}).
 */
export interface KVBuffer {
  readonly kvHeads: number;
  readonly capacity: number;
  readonly headDim: number;
}

/** The query rows of one sequence inside a batched attention call. */
export interface AttentionSegment {
  /** This sequence's cache for the layer; the keys and values of the new tokens are already stored. */
  readonly kv: KVBuffer;
  /** Index of this sequence's first query row in `q` and `out`. */
  readonly row: number;
  /** Number of new tokens (query rows) of this sequence. */
  readonly count: number;
  /** Tokens of this sequence cached before these: query i sits at absolute slot `past + i`. */
  readonly past: number;
}

export interface AttentionParams {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Multiplier applied to q·k before the softmax (1/sqrt(headDim) for Qwen2). */
  readonly scale: number;
  /**
   * Sliding window W, or null for full causal attention. The query at absolute slot s sees
   * the keys at slots j with s - W < j <= s: W keys, itself included. The caller guarantees
   * the ring holds them: capacity >= past + count for full attention, and
   * capacity >= W + count - 1 (or >= past + count) for a sliding layer.
   */
  readonly window: number | null;
}

export interface Backend {
  /** Short name for logs and benchmarks, e.g. "reference" or "wasm-relaxed". */
  readonly name: string;

  /**
   * Uploads a weight in its storage dtype (f32, f16, bf16, q8_0, q4_0; 1-D or 2-D), from
   * memory or read on demand (a backend with its own memory reads a TensorReader straight in).
   * Async because the bytes may come from a file, a URL or a Blob; uploads run one at a time.
   */
  upload(tensor: UploadSource): Promise<Weight>;
  /** Allocates a zeroed float32 matrix [rows, cols]. */
  alloc(rows: number, cols: number): Mat;
  /** Allocates one layer's K/V cache for one sequence. */
  allocKV(kvHeads: number, capacity: number, headDim: number): KVBuffer;
  /** Releases memory held by a matrix, cache or weight; it must not be used afterwards. */
  free(x: Mat | KVBuffer | Weight): void;
  /** Copies `src` into `dst` starting at row `row` (src.length must be a multiple of cols). */
  write(dst: Mat, src: Float32Array, row?: number): void;
  /** Copies `rows` rows of `src` starting at `row` into a new Float32Array, once the work before it is done. */
  read(src: Mat, row?: number, rows?: number): Promise<Float32Array>;
  /**
   * Copies `rows` rows of `src` starting at `row` into `dst` at element `at` (no allocation:
   * per-token logits), once the work before it is done.
   */
  readInto(src: Mat, row: number, rows: number, dst: Float32Array, at?: number): Promise<void>;

  /** out[i, :] = table[ids[i], :] as float32. Throws on an id outside the table. */
  embed(out: Mat, table: Weight, ids: Int32Array): void;
  /** out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * weight, statistics in float32. out may alias x. */
  rmsnorm(out: Mat, x: Mat, weight: Weight, eps: number, n: number): void;
  /** out[i, o] = sum_k x[i, k] * w[o, k] (+ bias[o]). w is [out, in]. */
  matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void;
  /**
   * Rotary embedding in place on x [n, heads * headDim], rotate-half (GPT-NeoX) layout:
   * for each head, with h = headDim / 2, (a, b) = (x[d], x[d + h]) becomes
   * (a cos - b sin, b cos + a sin) where cos/sin are [n, h] row-major.
   */
  rope(x: Mat, n: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void;
  /**
   * Stores rows [row, row + count) of k and v ([n, kvHeads * headDim]) into the cache at
   * absolute slots slot, slot + 1, ... (index slot % capacity).
   */
  storeKV(kv: KVBuffer, k: Mat, v: Mat, row: number, count: number, slot: number): void;
  /** Causal (optionally sliding-window) grouped-query attention for each segment; out and q are [n, heads * headDim]. */
  attention(out: Mat, q: Mat, segments: readonly AttentionSegment[], params: AttentionParams): void;
  /** out = silu(gate) * up, elementwise over n rows. out may alias gate or up. */
  swiglu(out: Mat, gate: Mat, up: Mat, n: number): void;
  /** out = a + b over n rows. out may alias a or b. */
  add(out: Mat, a: Mat, b: Mat, n: number): void;
  /** out[i, :] = x[rows[i], :]. out must not alias x. */
  copyRows(out: Mat, x: Mat, rows: Int32Array): void;
  /**
   * out[rows[i], :] += scale * x[i, :] for i < rows.length, each sum rounded once to float32
   * (a scatter-add: a LoRA delta computed for some rows of a batch goes back to those rows).
   * out must not alias x.
   */
  addScaledRows(out: Mat, x: Mat, rows: Int32Array, scale: number): void;

  /** Stops worker threads and releases everything. */
  dispose(): void;
}
