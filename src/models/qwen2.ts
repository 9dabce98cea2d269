/**
 * Qwen2 (Qwen2, Qwen2.5, their Instruct/Coder/Math variants, DeepSeek-R1-Distill-Qwen: any
 * `model_type: "qwen2"`) on the ops interface. It never knows which backend runs it.
 *
 *   x = embed(ids)                                         [n, hidden]
 *   per layer:
 *     h = rmsnorm(x)
 *     q, k, v = h Wq + bq, h Wk + bk, h Wv + bv             [n, heads * d], [n, kvHeads * d] x2
 *     rotate q, k (RoPE); store k, v in the sequence's cache
 *     x += attention(q, cache) Wo                           causal, optionally sliding, GQA
 *     x += (silu(rmsnorm(x) Wgate) * rmsnorm(x) Wup) Wdown   SwiGLU MLP
 *   logits = rmsnorm(x) Wlm                                 Wlm = embed table when tied
 *
 * Each linear layer may carry LoRA adapters chosen per sequence (`ForwardItem.adapters`,
 * models/lora.ts): x W + scale * (x A) B next to a base weight of any type.
 *
 * Several sequences (each with its own cache) run through the same matrix products; long
 * inputs are processed in chunks of `chunkSize` rows so activations stay preallocated.
 */
import { FormatError, InvalidArgumentError } from "../errors.js";
import type { AttentionSegment, Backend, Mat, Weight } from "../backends/ops.js";
import { layerWindows, type Qwen2Config } from "../formats/config.js";
import {
  qwen2EmbedTensor,
  qwen2HeadTensor,
  qwen2LayerTensors,
  qwen2NormTensor,
  type ExpectedTensor,
  type Qwen2LayerKey,
} from "../formats/qwen2_tensors.js";
import { tensorReader, type WeightSource } from "../formats/weights.js";
import { KVCache, type KVLayout } from "./kv_cache.js";
import type { CausalLM, ForwardItem, ForwardOptions, SequenceCache } from "./causal_lm.js";
import { LoraStep, type AdapterChoice } from "./lora.js";
import type { LoraLinearKey } from "../formats/peft_adapter.js";
import { RotaryEmbedding } from "./rope.js";

/** Rows processed per step when a forward call has more new tokens than that. */
export const DEFAULT_CHUNK_SIZE = 512;

export interface Qwen2Source {
  readonly config: Qwen2Config;
  readonly weights: WeightSource;
}

export interface Qwen2LoadOptions {
  /** Most rows (tokens over all sequences) per step; also sizes sliding-window rings. */
  readonly chunkSize?: number;
  /** Aborts the upload between (and during) tensor reads. */
  readonly signal?: AbortSignal;
  /** Called after each tensor is uploaded with the weight bytes done and in all. */
  readonly onTensor?: (done: number, total: number) => void;
}

/** Where a step's rows came from: rows [row, row + count) are tokens start.. of item `item`. */
export interface StepSegment {
  readonly item: number;
  readonly row: number;
  readonly count: number;
  /** Absolute position of the first of these tokens in its sequence. */
  readonly position: number;
}

/**
 * Called with named intermediates when set (for debugging: compare layer by layer with a
 * reference to find the first place that diverges). `values` is [n, cols] row-major.
 * Names: "embed", "attn_out" and "mlp_out" (per layer, before the residual add),
 * "layer_out" (per layer, the residual stream), "final_norm".
 */
export type LayerHook = (name: string, layer: number | null, values: Float32Array, cols: number, segments: readonly StepSegment[]) => void;

interface LayerWeights {
  readonly inputNorm: Weight; // [hidden]
  readonly q: Weight; // [heads * d, hidden]
  readonly qBias: Weight; // [heads * d]
  readonly k: Weight; // [kvHeads * d, hidden]
  readonly kBias: Weight;
  readonly v: Weight; // [kvHeads * d, hidden]
  readonly vBias: Weight;
  readonly o: Weight; // [hidden, heads * d]
  readonly postNorm: Weight; // [hidden]
  readonly gate: Weight; // [intermediate, hidden]
  readonly up: Weight; // [intermediate, hidden]
  readonly down: Weight; // [hidden, intermediate]
}

/** Reads one tensor, checking its shape against the spec, and uploads it. */
async function uploadChecked(
  backend: Backend,
  source: WeightSource,
  { name, shape }: ExpectedTensor,
  signal?: AbortSignal,
): Promise<Weight> {
  if (!source.has(name)) throw new FormatError(source.location, `missing tensor ${name} (expected shape [${shape.join(", ")}])`);
  const info = source.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(source.location, `tensor ${name} has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  signal?.throwIfAborted();
  return backend.upload(await tensorReader(source, name, signal));
}

/** Uploads tensors in order, counting bytes for progress. */
class Uploader {
  private done = 0;
  readonly total: number;
  constructor(
    private readonly backend: Backend,
    private readonly source: WeightSource,
    specs: readonly ExpectedTensor[],
    private readonly options: Qwen2LoadOptions,
  ) {
    let total = 0;
    for (const e of specs) if (source.has(e.name)) total += source.info(e.name).byteLength;
    this.total = total;
  }
  async upload(spec: ExpectedTensor): Promise<Weight> {
    const w = await uploadChecked(this.backend, this.source, spec, this.options.signal);
    this.done += this.source.info(spec.name).byteLength;
    this.options.onTensor?.(this.done, this.total);
    return w;
  }
}

/** Activations for up to `rows` rows, allocated once. */
class Scratch {
  readonly x: Mat; // residual stream [rows, hidden]
  readonly h: Mat; // normed / projected back [rows, hidden]
  readonly q: Mat; // [rows, heads * d]
  readonly k: Mat; // [rows, kvHeads * d]
  readonly v: Mat;
  readonly attn: Mat; // [rows, heads * d]
  readonly gate: Mat; // [rows, intermediate]
  readonly up: Mat;
  readonly ids: Int32Array;
  readonly cos: Float32Array; // [rows, d / 2]
  readonly sin: Float32Array;
  constructor(
    backend: Backend,
    c: Qwen2Config,
    readonly rows: number,
  ) {
    const d = c.head_dim;
    this.x = backend.alloc(rows, c.hidden_size);
    this.h = backend.alloc(rows, c.hidden_size);
    this.q = backend.alloc(rows, c.num_attention_heads * d);
    this.k = backend.alloc(rows, c.num_key_value_heads * d);
    this.v = backend.alloc(rows, c.num_key_value_heads * d);
    this.attn = backend.alloc(rows, c.num_attention_heads * d);
    this.gate = backend.alloc(rows, c.intermediate_size);
    this.up = backend.alloc(rows, c.intermediate_size);
    this.ids = new Int32Array(rows);
    this.cos = new Float32Array((rows * d) / 2);
    this.sin = new Float32Array((rows * d) / 2);
  }
  free(backend: Backend): void {
    for (const m of [this.x, this.h, this.q, this.k, this.v, this.attn, this.gate, this.up]) backend.free(m);
  }
}

/** What a forward pass keeps of each item: its last token or all of them. */
type Keep = "last" | "all";

/** Rows [row, row + count) of a step are tokens offset.. of item `item` (offset 0 for a last token kept alone). */
export interface KeptRows {
  readonly item: number;
  readonly row: number;
  readonly offset: number;
  readonly count: number;
}

/** The decoder stack without the LM head: token ids to final-normed hidden states. */
export class Qwen2Model {
  readonly windows: readonly (number | null)[];
  readonly chunkSize: number;
  private readonly rope: RotaryEmbedding;
  /** Activations for the largest step so far (at most chunkSize rows): decoding alone needs one row. */
  private scratch: Scratch | null = null;
  private readonly layout: KVLayout;
  private hook: LayerHook | null = null;
  /** The LoRA adapters of the current step (models/lora.ts); inactive when no item chose one. */
  private readonly lora: LoraStep;
  /** Intermediates snapshotted during the current step for the hook. */
  private readonly taps: { name: string; layer: number | null; copy: Mat }[] = [];
  /** During a run that keeps every layer: the embeddings and the outputs of layers 0..L-2, [rows, hidden] each. */
  private layerStates: readonly Mat[] | null = null;
  private disposed = false;

  private constructor(
    readonly backend: Backend,
    readonly config: Qwen2Config,
    readonly embedTokens: Weight,
    private readonly layers: readonly LayerWeights[],
    private readonly norm: Weight,
    chunkSize: number,
  ) {
    this.windows = layerWindows(config);
    this.chunkSize = chunkSize;
    this.rope = new RotaryEmbedding(config);
    this.layout = { kvHeads: config.num_key_value_heads, headDim: config.head_dim, windows: this.windows, chunk: chunkSize };
    this.lora = new LoraStep(backend);
  }

  /** Uploads the decoder weights (Hugging Face names, shapes from formats/qwen2_tensors.ts) from `source` onto `backend`. */
  static async load(source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions = {}): Promise<Qwen2Model> {
    return (await Qwen2Model.loadWithHead(source, backend, options, null)).model;
  }

  /**
   * load(), then `head` (the LM head, when not tied) as the last tensor, all counted in one
   * progress total. Used by Qwen2ForCausalLM.load.
   */
  static async loadWithHead(
    source: Qwen2Source,
    backend: Backend,
    options: Qwen2LoadOptions,
    head: ExpectedTensor | null,
  ): Promise<{ model: Qwen2Model; head: Weight | null }> {
    const c = source.config;
    const chunk = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunk) || chunk < 1) throw new InvalidArgumentError(`chunkSize must be a positive integer, got ${chunk}`);
    if (c.num_attention_heads % c.num_key_value_heads !== 0) {
      throw new FormatError(
        source.weights.location,
        `num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${c.num_key_value_heads}`,
      );
    }
    const layerSpecs = Array.from({ length: c.num_hidden_layers }, (_, i) => qwen2LayerTensors(c, i));
    const embedSpec = qwen2EmbedTensor(c);
    const normSpec = qwen2NormTensor(c);
    const up = new Uploader(backend, source.weights, [embedSpec, ...layerSpecs.flat(), normSpec, ...(head ? [head] : [])], options);
    const embed = await up.upload(embedSpec);
    const layers: LayerWeights[] = [];
    for (const specs of layerSpecs) {
      const layer: Partial<Record<Qwen2LayerKey, Weight>> = {};
      for (const spec of specs) layer[spec.key] = await up.upload(spec);
      layers.push(layer as LayerWeights);
    }
    const norm = await up.upload(normSpec);
    const model = new Qwen2Model(backend, c, embed, layers, norm, chunk);
    if (head === null) return { model, head: null };
    try {
      return { model, head: await up.upload(head) };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  get hiddenSize(): number {
    return this.config.hidden_size;
  }

  /** Creates an empty cache for one sequence of at most `capacity` tokens. */
  createCache(capacity: number): KVCache {
    this.check();
    return new KVCache(this.backend, this.layout, capacity);
  }

  /** Sets (or clears with null) the debugging hook for named intermediates. */
  setHook(hook: LayerHook | null): void {
    this.hook = hook;
  }

  /**
   * Final-normed hidden states of every new token of each item ([count * hidden]), appending
   * the tokens to each cache. For embedding models; see `lastTokenPool` for pooling.
   */
  async hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]> {
    const hidden = this.hiddenSize;
    const out = items.map((it) => new Float32Array(it.ids.length * hidden));
    await this.run(items, "all", async (normed, _n, kept) => {
      for (const k of kept) await this.backend.readInto(normed, k.row, k.count, out[k.item]!, k.offset * hidden);
    });
    return out;
  }

  /**
   * transformers' `output_hidden_states` for every new token of each item: per item
   * num_hidden_layers + 1 arrays of [count * hidden], the embeddings, the output of each
   * layer but the last, and the final-normed states (which replace the last layer's output,
   * as in transformers). Appends the tokens to each cache.
   */
  async allHiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[][]> {
    const hidden = this.hiddenSize;
    const layers = this.config.num_hidden_layers;
    const out = items.map((it) => Array.from({ length: layers + 1 }, () => new Float32Array(it.ids.length * hidden)));
    await this.run(
      items,
      "all",
      async (normed, _n, kept, states) => {
        for (const k of kept) {
          const at = k.offset * hidden;
          for (let l = 0; l < layers; l++) await this.backend.readInto(states[l]!, k.row, k.count, out[k.item]![l]!, at);
          await this.backend.readInto(normed, k.row, k.count, out[k.item]![layers]!, at);
        }
      },
      { everyLayer: true },
    );
    return out;
  }

  /**
   * Runs the new tokens of all items in steps of at most `chunkSize` rows. After each step
   * `onStep(finalNormed, n, kept, layerStates)` receives the rows to keep: the last token of
   * an item (keep "last", on the step that finishes it) or all rows (keep "all"), and with
   * `everyLayer` the step's embeddings and outputs of layers 0..L-2 (else an empty list); the
   * next step starts once it resolves, since the scratch is reused.
   * @internal used by Qwen2ForCausalLM
   */
  async run(
    items: readonly ForwardItem[],
    keep: Keep,
    onStep: (normed: Mat, n: number, kept: readonly KeptRows[], layerStates: readonly Mat[]) => Promise<void>,
    options: { readonly everyLayer?: boolean } = {},
  ): Promise<void> {
    this.check();
    const caches = items.map((it, i) => this.validate(it, i));
    const adapters = items.map((it, i) => this.validateAdapters(it.adapters, i));
    if (new Set(caches).size !== caches.length) throw new InvalidArgumentError("the same cache appears in two items of one forward call");
    // Dynamic NTK RoPE depends on the longest sequence of the whole call, as in transformers.
    let longest = 0;
    items.forEach((it, i) => (longest = Math.max(longest, caches[i]!.length + it.ids.length)));
    const ropeParams = this.rope.parameters(longest);
    const s = this.scratchFor(
      Math.min(
        this.chunkSize,
        items.reduce((sum, it) => sum + it.ids.length, 0),
      ),
    );
    const states = options.everyLayer
      ? Array.from({ length: this.config.num_hidden_layers }, () => this.backend.alloc(s.rows, this.config.hidden_size))
      : [];
    this.layerStates = options.everyLayer ? states : null;
    try {
      await this.runSteps(items, keep, onStep, caches, adapters, ropeParams, s, states);
    } finally {
      this.layerStates = null;
      for (const m of states) this.backend.free(m);
    }
  }

  private async runSteps(
    items: readonly ForwardItem[],
    keep: Keep,
    onStep: (normed: Mat, n: number, kept: readonly KeptRows[], layerStates: readonly Mat[]) => Promise<void>,
    caches: readonly KVCache[],
    adapters: readonly (readonly AdapterChoice[])[],
    ropeParams: ReturnType<RotaryEmbedding["parameters"]>,
    s: Scratch,
    states: readonly Mat[],
  ): Promise<void> {
    const anyAdapter = adapters.some((a) => a.length > 0);
    const done = new Array<number>(items.length).fill(0);
    for (;;) {
      const segments: StepSegment[] = [];
      let n = 0;
      for (let i = 0; i < items.length && n < s.rows; i++) {
        const ids = items[i]!.ids;
        const count = Math.min(ids.length - done[i]!, s.rows - n);
        if (count <= 0) continue;
        s.ids.set(ids.subarray(done[i]!, done[i]! + count), n);
        const position = caches[i]!.length;
        this.rope.fill(ropeParams, position, count, s.cos, s.sin, n);
        segments.push({ item: i, row: n, count, position });
        n += count;
      }
      if (n === 0) break;
      this.lora.plan(
        n,
        s.rows,
        anyAdapter ? segments.map((seg) => ({ row: seg.row, count: seg.count, choices: adapters[seg.item]! })) : [],
      );
      this.step(n, segments, caches);
      if (this.taps.length > 0) await this.deliverTaps(segments);
      const kept: KeptRows[] = [];
      for (const seg of segments) {
        caches[seg.item]!.advance(seg.count);
        const offset = done[seg.item]!;
        done[seg.item] = offset + seg.count;
        if (keep === "all") kept.push({ item: seg.item, row: seg.row, offset, count: seg.count });
        else if (done[seg.item] === items[seg.item]!.ids.length)
          kept.push({ item: seg.item, row: seg.row + seg.count - 1, offset: 0, count: 1 });
      }
      if (kept.length > 0) await onStep(s.h, n, kept, states);
    }
  }

  /** The scratch, grown (to a multiple of 16 rows, at most chunkSize) to hold `rows` rows. */
  private scratchFor(rows: number): Scratch {
    if (this.scratch === null || this.scratch.rows < rows) {
      const want = Math.min(this.chunkSize, Math.ceil(rows / 16) * 16);
      this.scratch?.free(this.backend);
      this.scratch = null; // a failed allocation below must not leave the freed one in place
      this.scratch = new Scratch(this.backend, this.config, want);
    }
    return this.scratch;
  }

  /** One step over n rows already in scratch (ids, cos, sin); leaves final-normed rows in scratch.h. */
  private step(n: number, segments: readonly StepSegment[], caches: readonly KVCache[]): void {
    const b = this.backend;
    const c = this.config;
    const s = this.scratch!;
    const eps = c.rms_norm_eps;
    const d = c.head_dim;
    b.embed(s.x, this.embedTokens, s.ids.subarray(0, n));
    this.tap("embed", null, s.x, n);
    this.keepLayerState(0, s.x, n);
    const scale = 1 / Math.sqrt(d);
    this.layers.forEach((L, l) => {
      // Attention block.
      b.rmsnorm(s.h, s.x, L.inputNorm, eps, n);
      this.linear(s.q, s.h, L.q, L.qBias, n, l, "q");
      this.linear(s.k, s.h, L.k, L.kBias, n, l, "k");
      this.linear(s.v, s.h, L.v, L.vBias, n, l, "v");
      b.rope(s.q, n, c.num_attention_heads, d, s.cos, s.sin);
      b.rope(s.k, n, c.num_key_value_heads, d, s.cos, s.sin);
      const attnSegments: AttentionSegment[] = segments.map((seg) => {
        const kv = caches[seg.item]!.layers[l]!;
        b.storeKV(kv, s.k, s.v, seg.row, seg.count, seg.position);
        return { kv, row: seg.row, count: seg.count, past: seg.position };
      });
      b.attention(s.attn, s.q, attnSegments, {
        heads: c.num_attention_heads,
        kvHeads: c.num_key_value_heads,
        headDim: d,
        scale,
        window: this.windows[l]!,
      });
      this.linear(s.h, s.attn, L.o, null, n, l, "o");
      this.tap("attn_out", l, s.h, n);
      b.add(s.x, s.x, s.h, n);
      // MLP block.
      b.rmsnorm(s.h, s.x, L.postNorm, eps, n);
      this.linear(s.gate, s.h, L.gate, null, n, l, "gate");
      this.linear(s.up, s.h, L.up, null, n, l, "up");
      b.swiglu(s.gate, s.gate, s.up, n);
      this.linear(s.h, s.gate, L.down, null, n, l, "down");
      this.tap("mlp_out", l, s.h, n);
      b.add(s.x, s.x, s.h, n);
      this.tap("layer_out", l, s.x, n);
      this.keepLayerState(l + 1, s.x, n);
    });
    b.rmsnorm(s.h, s.x, this.norm, eps, n);
    this.tap("final_norm", null, s.h, n);
  }

  /** out = x W^T (+ bias), plus the deltas of the step's LoRA adapters on this layer. */
  private linear(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number, layer: number, key: LoraLinearKey): void {
    this.backend.matmul(out, x, w, bias, n);
    if (this.lora.active) this.lora.apply(out, x, layer, key);
  }

  /** In a run that keeps every layer, copies the residual stream into state `index` (the last layer's is not kept: the final-normed rows replace it). */
  private keepLayerState(index: number, x: Mat, n: number): void {
    const dst = this.layerStates?.[index];
    if (dst === undefined) return;
    this.backend.copyRows(
      dst,
      x,
      Int32Array.from({ length: n }, (_, i) => i),
    );
  }

  /**
   * With a hook set, snapshots an intermediate into its own matrix (the step keeps running
   * without waiting for a read, which a GPU backend could only give asynchronously).
   */
  private tap(name: string, layer: number | null, m: Mat, n: number): void {
    if (this.hook === null) return;
    const copy = this.backend.alloc(n, m.cols);
    this.backend.copyRows(
      copy,
      m,
      Int32Array.from({ length: n }, (_, i) => i),
    );
    this.taps.push({ name, layer, copy });
  }

  /** Reads the step's snapshots back and hands them to the hook, in the order they were taken. */
  private async deliverTaps(segments: readonly StepSegment[]): Promise<void> {
    const taps = this.taps.splice(0);
    try {
      for (const t of taps) {
        const values = await this.backend.read(t.copy);
        this.hook?.(t.name, t.layer, values, t.copy.cols, segments);
      }
    } finally {
      for (const t of taps) this.backend.free(t.copy);
    }
  }

  private validate(item: ForwardItem, index: number): KVCache {
    const cache = item.cache;
    if (!(cache instanceof KVCache) || cache.layout !== this.layout) {
      throw new InvalidArgumentError(`item ${index}: the cache was not created by this model's createCache()`);
    }
    if (item.ids.length === 0) throw new InvalidArgumentError(`item ${index}: no new tokens`);
    if (cache.length + item.ids.length > cache.capacity) {
      throw new InvalidArgumentError(
        `item ${index}: ${item.ids.length} new tokens after ${cache.length} cached exceed the cache capacity ${cache.capacity}`,
      );
    }
    const vocab = this.config.vocab_size;
    for (let t = 0; t < item.ids.length; t++) {
      const id = item.ids[t]!;
      if (!(id >= 0 && id < vocab))
        throw new InvalidArgumentError(`item ${index}: token id ${id} at position ${t} is outside the vocabulary [0, ${vocab})`);
    }
    return cache;
  }

  private validateAdapters(choices: readonly AdapterChoice[] | undefined, index: number): readonly AdapterChoice[] {
    if (choices === undefined) return [];
    for (const c of choices) {
      if (c.adapter.isDisposed) throw new InvalidArgumentError(`item ${index}: LoRA adapter ${c.adapter.name} used after dispose()`);
      if (!c.adapter.fits(this.backend, this.config))
        throw new InvalidArgumentError(`item ${index}: LoRA adapter ${c.adapter.name} was not loaded for this model`);
      if (c.scale !== undefined && !Number.isFinite(c.scale))
        throw new InvalidArgumentError(`item ${index}: LoRA adapter ${c.adapter.name}: scale must be a finite number, got ${c.scale}`);
    }
    return choices;
  }

  private check(): void {
    if (this.disposed) throw new InvalidArgumentError("model used after dispose()");
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scratch?.free(this.backend);
    this.lora.free();
    this.backend.free(this.embedTokens);
    this.backend.free(this.norm);
    for (const L of this.layers) for (const w of Object.values(L)) this.backend.free(w);
  }
}

/** Qwen2 with its LM head: the CausalLM that generation, the server and the CLI use. */
export class Qwen2ForCausalLM implements CausalLM {
  private logits: Mat | null = null;
  private picked: Mat | null = null;
  private disposed = false;

  private constructor(
    readonly model: Qwen2Model,
    private readonly lmHead: Weight,
    /** True when the head is the embedding table (tied, no `lm_head.weight` used). */
    readonly tied: boolean,
  ) {}

  /**
   * Loads config + weights onto a backend. With `tie_word_embeddings` (or no
   * `lm_head.weight` stored while tied) the head is the embedding table;
   * `rotary_emb.inv_freq` tensors are ignored.
   */
  static async load(source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions = {}): Promise<Qwen2ForCausalLM> {
    const c = source.config;
    const { model, head } = await Qwen2Model.loadWithHead(source, backend, options, c.tie_word_embeddings ? null : qwen2HeadTensor(c));
    return head === null ? new Qwen2ForCausalLM(model, model.embedTokens, true) : new Qwen2ForCausalLM(model, head, false);
  }

  get config(): Qwen2Config {
    return this.model.config;
  }

  get vocabSize(): number {
    return this.model.config.vocab_size;
  }

  get maxContext(): number {
    return this.model.config.max_position_embeddings;
  }

  createCache(capacity: number): SequenceCache {
    return this.model.createCache(capacity);
  }

  setHook(hook: LayerHook | null): void {
    this.model.setHook(hook);
  }

  hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]> {
    return this.model.hiddenStates(items);
  }

  async forward(items: readonly ForwardItem[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    if (this.disposed) throw new InvalidArgumentError("model used after dispose()");
    const b = this.model.backend;
    const vocab = this.vocabSize;
    const keep: Keep = options.allLogits ? "all" : "last";
    const out = items.map((it, i) => {
      const size = (keep === "all" ? it.ids.length : 1) * vocab;
      const given = options.into?.[i];
      if (given === undefined) return new Float32Array(size);
      if (given.length !== size) throw new InvalidArgumentError(`item ${i}: the logits array has ${given.length} floats, expected ${size}`);
      return given;
    });
    await this.model.run(items, keep, async (normed, n, kept) => {
      if (keep === "all") {
        const logits = this.logitsFor(n);
        b.matmul(logits, normed, this.lmHead, null, n);
        for (const k of kept) await b.readInto(logits, k.row, k.count, out[k.item]!, k.offset * vocab);
      } else {
        // Only the last rows: gather them so the head multiplies those rows, not the chunk.
        const picked = this.pickedFor(kept.length);
        b.copyRows(
          picked,
          normed,
          Int32Array.from(kept, (k) => k.row),
        );
        const logits = this.logitsFor(kept.length);
        b.matmul(logits, picked, this.lmHead, null, kept.length);
        for (let i = 0; i < kept.length; i++) await b.readInto(logits, i, 1, out[kept[i]!.item]!);
      }
    });
    return out;
  }

  /** The logits buffer, grown (never shrunk) to at least `rows` rows. */
  private logitsFor(rows: number): Mat {
    if (this.logits === null || this.logits.rows < rows) {
      if (this.logits) this.model.backend.free(this.logits);
      this.logits = this.model.backend.alloc(rows, this.vocabSize);
    }
    return this.logits;
  }

  private pickedFor(rows: number): Mat {
    if (this.picked === null || this.picked.rows < rows) {
      if (this.picked) this.model.backend.free(this.picked);
      this.picked = this.model.backend.alloc(rows, this.config.hidden_size);
    }
    return this.picked;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const b = this.model.backend;
    if (this.logits) b.free(this.logits);
    if (this.picked) b.free(this.picked);
    if (!this.tied) b.free(this.lmHead);
    this.model.dispose();
  }
}
