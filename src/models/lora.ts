/**
 * LoRA adapters applied unmerged, next to base weights of any type (f32, f16, bf16 or
 * quantised): for each adapted linear layer
 *
 *   y = x W^T (+ bias) + scale * (x A^T) B^T       A [r, in], B [out, r], float32
 *
 * with scale = PEFT's alpha / r (or alpha / sqrt(r)) times the caller's multiplier. Only ops
 * of the Backend interface are used: two matrix products and a scaled scatter-add per
 * adapted layer, so every backend runs adapters without knowing about them.
 *
 * Several adapters can be loaded on one model at once and chosen per sequence: a forward
 * step groups its rows by (adapter, scale). A group covering every row of the step in order
 * (one adapter for the whole batch) multiplies the step's activations directly; otherwise
 * its rows are gathered first (copyRows), and the deltas go back to those rows
 * (addScaledRows). Per adapted layer and group of g rows this costs g * r * (in + out)
 * multiply-adds (the base costs g * in * out: 2r / hidden more for square layers), plus
 * reading A and B (r * (in + out) floats) once per group.
 */
import type { Backend, Mat, Weight } from "../backends/ops.js";
import type { CausalLM } from "./causal_lm.js";
import type { Qwen2Config } from "../formats/config.js";
import { loraFloat32, type LoraLinearKey, type LoraModuleSpec, type PeftAdapter } from "../formats/peft_adapter.js";
import type { HostTensor } from "../formats/weights.js";

/** One adapted linear layer on a backend. */
export interface LoraModule {
  readonly a: Weight; // [r, in] f32
  readonly b: Weight; // [out, r] f32
  readonly rank: number;
  /** PEFT's alpha / r (or alpha / sqrt(r)). */
  readonly scale: number;
}

export interface LoraLoadOptions {
  /** A name for messages and for choosing it per request (default: the folder's location). */
  readonly name?: string;
  readonly signal?: AbortSignal;
}

/** A LoRA adapter uploaded to the backend of one model; choose it per sequence with {@link AdapterChoice}. */
export class LoraAdapter {
  private static loaded = 0;
  /** Unique per adapter loaded in this thread: what caches are keyed by (names may repeat). */
  readonly id = ++LoraAdapter.loaded;
  private disposed = false;

  private constructor(
    readonly name: string,
    readonly backend: Backend,
    /** The base config's shape it was checked against. */
    readonly layerCount: number,
    readonly hiddenSize: number,
    /** Per decoder layer, the adapted linear layers. */
    readonly layers: readonly Readonly<Partial<Record<LoraLinearKey, LoraModule>>>[],
    /** What the folder declared, for listings. */
    readonly modules: readonly LoraModuleSpec[],
  ) {}

  /** Uploads the A and B tensors of an opened adapter folder (as float32) onto `backend`. */
  static async load(adapter: PeftAdapter, base: Qwen2Config, backend: Backend, options: LoraLoadOptions = {}): Promise<LoraAdapter> {
    const layers: Partial<Record<LoraLinearKey, LoraModule>>[] = Array.from({ length: base.num_hidden_layers }, () => ({}));
    const uploaded: Weight[] = [];
    try {
      for (const m of adapter.modules) {
        options.signal?.throwIfAborted();
        const a = await backend.upload(asFloat32(await adapter.weights.read(m.a)));
        uploaded.push(a);
        const b = await backend.upload(asFloat32(await adapter.weights.read(m.b)));
        uploaded.push(b);
        layers[m.layer]![m.key] = { a, b, rank: m.r, scale: m.scale };
      }
    } catch (err) {
      for (const w of uploaded) backend.free(w);
      throw err;
    }
    return new LoraAdapter(options.name ?? adapter.location, backend, base.num_hidden_layers, base.hidden_size, layers, adapter.modules);
  }

  /** Whether it was loaded for a model of this shape on this backend. */
  fits(backend: Backend, config: Qwen2Config): boolean {
    return backend === this.backend && config.num_hidden_layers === this.layerCount && config.hidden_size === this.hiddenSize;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees the adapter's weights; a forward call choosing it afterwards throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const L of this.layers)
      for (const m of Object.values(L))
        if (m) {
          this.backend.free(m.a);
          this.backend.free(m.b);
        }
  }
}

/** An adapter chosen for a sequence, with a multiplier of its trained scale (1 = as trained). */
export interface AdapterChoice {
  readonly adapter: LoraAdapter;
  /** Multiplies PEFT's alpha / r; default 1. 0 turns the adapter off. */
  readonly scale?: number;
}

/** A LoRA tensor as a float32 HostTensor (adapters are small: converted once at load). */
function asFloat32(t: HostTensor): HostTensor {
  if (t.dtype === "f32") return t;
  return { name: t.name, dtype: "f32", shape: t.shape, data: new Uint8Array(loraFloat32(t).buffer) };
}

/** The rows of one step that use one (adapter, scale). */
interface RowGroup {
  readonly adapter: LoraAdapter;
  readonly scale: number;
  readonly rows: Int32Array;
  /** True when rows are 0..n-1 in order: the step's activations serve without a gather. */
  readonly whole: boolean;
}

/**
 * Applies the chosen adapters inside a model's forward steps: `plan` once per step with each
 * row range's choices, then `apply` after each base matrix product. Scratch matrices are
 * allocated on first use for `capacity` rows and reused.
 */
export class LoraStep {
  private groups: RowGroup[] = [];
  private n = 0;
  private readonly gathered = new Map<number, Mat>();
  private readonly low = new Map<number, Mat>();
  private readonly delta = new Map<number, Mat>();
  private capacity = 0;

  constructor(private readonly backend: Backend) {}

  /** True when some row of the current step uses an adapter. */
  get active(): boolean {
    return this.groups.length > 0;
  }

  /**
   * Groups the step's rows by (adapter, scale). `ranges` lists row ranges with their
   * choices (a sequence's tokens in this step); rows nobody adapts run the base alone.
   * Scratch matrices get `capacity` rows (the model's largest step), so they are allocated once.
   */
  plan(
    n: number,
    capacity: number,
    ranges: readonly { readonly row: number; readonly count: number; readonly choices: readonly AdapterChoice[] }[],
  ): void {
    this.n = n;
    this.capacity = Math.max(this.capacity, capacity, n);
    if (ranges.length === 0) {
      if (this.groups.length > 0) this.groups = [];
      return; // no adapter in this step: nothing to allocate
    }
    const byKey = new Map<LoraAdapter, Map<number, number[]>>();
    for (const range of ranges) {
      for (const c of range.choices) {
        const scale = c.scale ?? 1;
        if (scale === 0) continue;
        let scales = byKey.get(c.adapter);
        if (!scales) byKey.set(c.adapter, (scales = new Map()));
        let rows = scales.get(scale);
        if (!rows) scales.set(scale, (rows = []));
        for (let r = range.row; r < range.row + range.count; r++) rows.push(r);
      }
    }
    this.groups = [];
    for (const [adapter, scales] of byKey) {
      for (const [scale, rows] of scales) {
        const whole = rows.length === n && rows.every((r, i) => r === i);
        this.groups.push({ adapter, scale, rows: Int32Array.from(rows), whole });
      }
    }
  }

  /** out[rows] += scale * (x A^T) B^T for every group that adapts (layer, key); x and out are the base product's. */
  apply(out: Mat, x: Mat, layer: number, key: LoraLinearKey): void {
    const b = this.backend;
    for (const g of this.groups) {
      const m = g.adapter.layers[layer]?.[key];
      if (m === undefined) continue;
      const count = g.rows.length;
      let input = x;
      if (!g.whole) {
        input = this.scratch(this.gathered, x.cols);
        b.copyRows(input, x, g.rows);
      }
      const low = this.scratch(this.low, m.rank);
      b.matmul(low, input, m.a, null, count);
      const delta = this.scratch(this.delta, out.cols);
      b.matmul(delta, low, m.b, null, count);
      b.addScaledRows(out, delta, g.rows, g.scale * m.scale);
    }
  }

  private scratch(map: Map<number, Mat>, cols: number): Mat {
    let m = map.get(cols);
    if (m === undefined || m.rows < this.n) {
      if (m) this.backend.free(m);
      map.delete(cols); // a failed allocation below must not leave the freed one in place
      m = this.backend.alloc(this.capacity, cols);
      map.set(cols, m);
    }
    return m;
  }

  free(): void {
    for (const map of [this.gathered, this.low, this.delta]) {
      for (const m of map.values()) this.backend.free(m);
      map.clear();
    }
  }
}

/**
 * `model` with `choices` applied to every item of every forward call that chooses no adapter
 * itself: for code that runs a CausalLM without knowing about adapters (padded batches, a
 * one-adapter CLI run). dispose() of the view leaves the model and the adapters alone.
 */
export function withAdapters(model: CausalLM, choices: readonly AdapterChoice[]): CausalLM {
  return {
    get vocabSize() {
      return model.vocabSize;
    },
    get maxContext() {
      return model.maxContext;
    },
    createCache: (capacity) => model.createCache(capacity),
    forward: (items, options) =>
      model.forward(
        items.map((it) => (it.adapters === undefined ? { ...it, adapters: choices } : it)),
        options,
      ),
    dispose: () => {},
  };
}
