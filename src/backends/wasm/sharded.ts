/**
 * A model larger than one 4 GiB WebAssembly memory, split by layers across several: one
 * WasmBackend (memory, kernels, worker threads) per shard. Weights fill shard 0 until its
 * weight budget is used, then shard 1, ... in upload order, which is layer order. Every op runs
 * in the shard that holds its weight (or its K/V cache, or its first input); matrices keep a
 * copy per shard they visit and remember which copy is current, so only activations cross
 * between memories (the hidden state once per shard boundary per step), never weights.
 * K/V caches are placed on first store, in the shard of the layer that fills them.
 * Only one shard computes at a time, so there are never more compute threads than `threads`.
 */
import { InvalidArgumentError } from "../../errors.js";
import { asReader, type UploadSource } from "../../formats/weights.js";
import type { AttentionParams, AttentionSegment, Backend, KVBuffer, Mat, Weight } from "../ops.js";
import { WasmBackend, type WasmBackendOptions } from "./backend.js";

export interface ShardedWasmOptions extends WasmBackendOptions {
  /** Weight bytes per shard before the next one starts (default: 3/4 of the memory, the rest is left for activations and caches). */
  shardWeightBytes?: number;
}

class ShardMat implements Mat {
  readonly copies: (Mat | null)[];
  /** Shard whose copy is current. */
  valid = 0;
  constructor(
    readonly rows: number,
    readonly cols: number,
    shards: number,
  ) {
    this.copies = new Array<Mat | null>(shards).fill(null);
  }
}

class ShardWeight implements Weight {
  constructor(
    readonly shard: number,
    readonly inner: Weight,
  ) {}
  get dtype(): Weight["dtype"] {
    return this.inner.dtype;
  }
  get shape(): readonly number[] {
    return this.inner.shape;
  }
}

class ShardKV implements KVBuffer {
  shard = -1;
  inner: KVBuffer | null = null;
  constructor(
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
  ) {}
}

export class ShardedWasmBackend implements Backend {
  readonly name: string;
  private current = 0;
  private readonly used: number[];
  /** Weight bytes still expected (set by forWeights): each shard faults in its part before its first upload. */
  private expected = 0;

  private constructor(
    private readonly shards: WasmBackend[],
    private readonly budget: number,
  ) {
    this.name = `${shards[0]!.name}-sharded`;
    this.used = shards.map(() => 0);
  }

  /** Creates `count` shards, each a WasmBackend with the given options. */
  static async create(count: number, options: ShardedWasmOptions = {}): Promise<ShardedWasmBackend> {
    if (!Number.isInteger(count) || count < 1)
      throw new InvalidArgumentError(`sharded wasm backend: shard count must be a positive integer, got ${count}`);
    const shards: WasmBackend[] = [];
    try {
      for (let i = 0; i < count; i++) shards.push(await WasmBackend.create(options));
    } catch (err) {
      for (const s of shards) s.dispose();
      throw err;
    }
    const budget = options.shardWeightBytes ?? Math.floor(shards[0]!.memoryLimit * 0.75);
    return new ShardedWasmBackend(shards, budget);
  }

  /**
   * Enough shards for `weightBytes` of weights at the per-shard budget (one shard when they
   * fit one memory). Loaders use this for models over the 4 GiB of a single memory.
   */
  static async forWeights(weightBytes: number, options: ShardedWasmOptions = {}): Promise<ShardedWasmBackend> {
    const memory = Math.min(options.maxMemoryMiB ?? 4096, 4096) * 2 ** 20;
    const budget = options.shardWeightBytes ?? Math.floor(memory * 0.75);
    // One spare shard absorbs the packing loss of tensors that do not split.
    const backend = await ShardedWasmBackend.create(Math.max(1, Math.ceil(weightBytes / budget)) + (weightBytes > budget ? 1 : 0), options);
    backend.expected = weightBytes;
    return backend;
  }

  /** Shards that hold at least one weight. */
  get shardsUsed(): number {
    return this.used.filter((u) => u > 0).length;
  }

  async upload(source: UploadSource): Promise<Weight> {
    const tensor = asReader(source);
    const bytes = tensor.byteLength;
    while (this.used[this.current]! > 0 && this.used[this.current]! + bytes > this.budget) {
      if (this.current + 1 >= this.shards.length) {
        throw new InvalidArgumentError(
          `sharded wasm backend: tensor ${tensor.name} (${bytes} bytes) does not fit: all ${this.shards.length} shards hold their budget of ${this.budget} bytes of weights`,
        );
      }
      this.current++;
    }
    // A shard's first weight: fault in the pages its share of the weights will take, from
    // all its threads at once (see WasmBackend.prefault).
    if (this.used[this.current] === 0 && this.expected > 0) this.shards[this.current]!.prefault(Math.min(this.budget, this.expected));
    this.used[this.current]! += bytes;
    this.expected = Math.max(0, this.expected - bytes);
    return new ShardWeight(this.current, await this.shards[this.current]!.upload(tensor));
  }

  alloc(rows: number, cols: number): Mat {
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
      throw new InvalidArgumentError(`sharded wasm backend: cannot allocate a [${rows}, ${cols}] matrix`);
    const m = new ShardMat(rows, cols, this.shards.length);
    m.copies[0] = this.shards[0]!.alloc(rows, cols);
    return m;
  }

  allocKV(kvHeads: number, capacity: number, headDim: number): KVBuffer {
    if (!(kvHeads * capacity * headDim > 0))
      throw new InvalidArgumentError(`sharded wasm backend: cannot allocate a K/V cache of ${kvHeads} x ${capacity} x ${headDim}`);
    return new ShardKV(kvHeads, capacity, headDim);
  }

  free(x: Mat | KVBuffer | Weight): void {
    if (x instanceof ShardMat) x.copies.forEach((c, s) => c && this.shards[s]!.free(c));
    else if (x instanceof ShardKV) {
      if (x.inner) this.shards[x.shard]!.free(x.inner);
    } else if (x instanceof ShardWeight) this.shards[x.shard]!.free(x.inner);
    else throw new InvalidArgumentError("sharded wasm backend: free() of an object from another backend");
  }

  write(dst: Mat, src: Float32Array, row = 0): void {
    const m = smat(dst);
    const s = m.valid;
    this.shards[s]!.write(this.at(m, s), src, row);
  }

  async read(src: Mat, row?: number, rows?: number): Promise<Float32Array> {
    const m = smat(src);
    return this.shards[m.valid]!.read(m.copies[m.valid]!, row, rows);
  }

  async readInto(src: Mat, row: number, rows: number, dst: Float32Array, at?: number): Promise<void> {
    const m = smat(src);
    return this.shards[m.valid]!.readInto(m.copies[m.valid]!, row, rows, dst, at);
  }

  embed(out: Mat, table: Weight, ids: Int32Array): void {
    const w = sweight(table);
    this.shards[w.shard]!.embed(this.output(out, w.shard), w.inner, ids);
  }

  rmsnorm(out: Mat, x: Mat, weight: Weight, eps: number, n: number): void {
    const w = sweight(weight);
    const s = w.shard;
    this.shards[s]!.rmsnorm(this.output(out, s, x), this.input(x, s), w.inner, eps, n);
  }

  matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void {
    const sw = sweight(w);
    const s = sw.shard;
    let b: Weight | null = null;
    if (bias) {
      const sb = sweight(bias);
      if (sb.shard !== s)
        throw new InvalidArgumentError("sharded wasm backend: a bias must be uploaded right after its weight (it landed in another shard)");
      b = sb.inner;
    }
    this.shards[s]!.matmul(this.output(out, s, x), this.input(x, s), sw.inner, b, n);
  }

  rope(x: Mat, n: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    const m = smat(x);
    const s = m.valid;
    this.shards[s]!.rope(this.at(m, s), n, heads, headDim, cos, sin);
  }

  storeKV(kv: KVBuffer, k: Mat, v: Mat, row: number, count: number, slot: number): void {
    const c = skv(kv);
    const s = smat(k).valid;
    if (!c.inner) {
      c.shard = s;
      c.inner = this.shards[s]!.allocKV(c.kvHeads, c.capacity, c.headDim);
    }
    this.shards[c.shard]!.storeKV(c.inner, this.input(k, c.shard), this.input(v, c.shard), row, count, slot);
  }

  attention(out: Mat, q: Mat, segments: readonly AttentionSegment[], params: AttentionParams): void {
    if (segments.length === 0) return;
    const caches = segments.map((seg) => skv(seg.kv));
    const s = caches[0]!.shard;
    if (caches.some((c) => c.inner === null || c.shard !== s))
      throw new InvalidArgumentError("sharded wasm backend: attention over caches never stored to, or in different shards");
    const inner = segments.map((seg, i) => ({ ...seg, kv: caches[i]!.inner! }));
    this.shards[s]!.attention(this.output(out, s, q), this.input(q, s), inner, params);
  }

  swiglu(out: Mat, gate: Mat, up: Mat, n: number): void {
    const s = smat(gate).valid;
    this.shards[s]!.swiglu(this.output(out, s, gate, up), this.input(gate, s), this.input(up, s), n);
  }

  add(out: Mat, a: Mat, b: Mat, n: number): void {
    const s = smat(a).valid;
    this.shards[s]!.add(this.output(out, s, a, b), this.input(a, s), this.input(b, s), n);
  }

  copyRows(out: Mat, x: Mat, rows: Int32Array): void {
    const s = smat(x).valid;
    this.shards[s]!.copyRows(this.output(out, s), this.input(x, s), rows);
  }

  addScaledRows(out: Mat, x: Mat, rows: Int32Array, scale: number): void {
    const s = smat(x).valid;
    this.shards[s]!.addScaledRows(this.output(out, s), this.input(x, s), rows, scale);
  }

  dispose(): void {
    for (const s of this.shards) s.dispose();
  }

  /** The copy of m in shard s, allocated on first use (contents not synchronised). */
  private at(m: ShardMat, s: number): Mat {
    return (m.copies[s] ??= this.shards[s]!.alloc(m.rows, m.cols));
  }

  /** m's copy in shard s, brought up to date from the current copy when another shard holds it. */
  private input(x: Mat, s: number): Mat {
    const m = smat(x);
    const dst = this.at(m, s);
    if (m.valid !== s) {
      this.shards[s]!.view(dst).set(this.shards[m.valid]!.view(m.copies[m.valid]!));
      m.valid = s;
    }
    return dst;
  }

  /**
   * out's copy in shard s, which becomes the current one. Rows the op does not write must stay
   * as they were, so out is synchronised first unless it is one of the op's inputs (which are).
   */
  private output(out: Mat, s: number, ...inputs: Mat[]): Mat {
    const m = smat(out);
    if (inputs.includes(out)) return this.at(m, s);
    return this.input(m, s);
  }
}

function smat(x: Mat): ShardMat {
  if (!(x instanceof ShardMat)) throw new InvalidArgumentError("sharded wasm backend: not a matrix of this backend");
  return x;
}
function sweight(x: Weight): ShardWeight {
  if (!(x instanceof ShardWeight)) throw new InvalidArgumentError("sharded wasm backend: not a weight of this backend");
  return x;
}
function skv(x: KVBuffer): ShardKV {
  if (!(x instanceof ShardKV)) throw new InvalidArgumentError("sharded wasm backend: not a K/V cache of this backend");
  return x;
}

/**
 * The WebAssembly backend for a model of `weightBytes` of weights: one memory when they fit
 * (with room for activations and caches), else a ShardedWasmBackend. What loaders call.
 */
export async function createWasmBackend(weightBytes: number, options: ShardedWasmOptions = {}): Promise<WasmBackend | ShardedWasmBackend> {
  const memory = Math.min(options.maxMemoryMiB ?? 4096, 4096) * 2 ** 20;
  const budget = options.shardWeightBytes ?? Math.floor(memory * 0.75);
  if (weightBytes <= budget) {
    const backend = await WasmBackend.create(options);
    backend.prefault(weightBytes);
    return backend;
  }
  return ShardedWasmBackend.forWeights(weightBytes, options);
}
