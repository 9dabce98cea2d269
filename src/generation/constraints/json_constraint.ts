/**
 * Constrained decoding over the token vocabulary: before each sample, every token whose
 * bytes the JSON grammar would refuse gets -Infinity, and EOS is allowed only once the
 * document is complete.
 *
 * Testing 151k tokens byte by byte at every step would be slow, so:
 * - the vocabulary is sorted by bytes once per tokenizer ({@link VocabIndex}); walking it
 *   in order, each token starts from the grammar state of the prefix it shares with the
 *   previous token, and a refused prefix refuses every following token sharing it. That
 *   is a walk of the byte trie without building one;
 * - the resulting set of allowed ids is cached per grammar state key (LRU, shared by all
 *   requests), and most steps of a document revisit a few states (inside a string, after a
 *   comma, ...).
 */
import type { LogitsProcessor, ProcessorContext } from "../logits_processors.js";
import type { TextTokenizer } from "../../tokenizer/types.js";
import { initialState, step, stepBytes, type JsonState } from "./json_grammar.js";
import type { SchemaNode } from "./json_schema.js";

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export class VocabIndex {
  /** Token ids sorted by their bytes. */
  readonly order: Int32Array;
  /** Bytes of each id in `order`, concatenated, with offsets ([n + 1]). */
  readonly bytes: Uint8Array;
  readonly offsets: Int32Array;
  /** Length of the prefix shared with the previous token in `order`. */
  readonly lcp: Int32Array;
  /** Bytes of every id (empty for ids left out: special tokens, unknown ids). */
  readonly tokenBytes: (Uint8Array | null)[];

  constructor(
    readonly vocabSize: number,
    tokenizer: TextTokenizer,
  ) {
    const list: { id: number; b: Uint8Array }[] = [];
    this.tokenBytes = new Array<Uint8Array | null>(vocabSize).fill(null);
    for (let id = 0; id < vocabSize; id++) {
      if (tokenizer.isSpecialId(id)) continue;
      const b = tokenizer.idToBytes(id);
      if (!b || b.length === 0) continue;
      this.tokenBytes[id] = b;
      list.push({ id, b });
    }
    list.sort((x, y) => compareBytes(x.b, y.b));
    const n = list.length;
    this.order = new Int32Array(n);
    this.offsets = new Int32Array(n + 1);
    this.lcp = new Int32Array(n);
    let total = 0;
    for (const t of list) total += t.b.length;
    this.bytes = new Uint8Array(total);
    let at = 0;
    list.forEach((t, i) => {
      this.order[i] = t.id;
      this.offsets[i] = at;
      this.bytes.set(t.b, at);
      at += t.b.length;
      if (i > 0) {
        const p = list[i - 1]!.b;
        let k = 0;
        while (k < p.length && k < t.b.length && p[k] === t.b[k]) k++;
        this.lcp[i] = k;
      }
    });
    this.offsets[n] = at;
  }

  /** Ids whose bytes the grammar accepts from `state` (as a bitset over ids). */
  allowed(state: JsonState): Uint8Array {
    return this.allowedBy(state, step);
  }

  /** The same walk for any byte grammar with immutable states. */
  allowedBy<S>(state: S, stepFn: (s: S, b: number) => S | null): Uint8Array {
    const out = new Uint8Array(this.vocabSize);
    const states: (S | null)[] = [state];
    // Depth of the shortest refused prefix of the previous token (Infinity: none).
    let dead = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.order.length; i++) {
      const start = this.offsets[i]!;
      const len = this.offsets[i + 1]! - start;
      const shared = this.lcp[i]!;
      if (dead <= shared) continue; // a refused prefix of the previous token is ours too
      dead = Number.POSITIVE_INFINITY;
      let s = states[shared]!;
      let d = shared;
      for (; d < len; d++) {
        const next = stepFn(s, this.bytes[start + d]!);
        if (!next) break;
        s = next;
        states[d + 1] = s;
      }
      if (d === len) out[this.order[i]!] = 1;
      else dead = d + 1;
    }
    return out;
  }
}

const indexes = new WeakMap<TextTokenizer, VocabIndex>();

export function vocabIndex(tokenizer: TextTokenizer, vocabSize: number): VocabIndex {
  let idx = indexes.get(tokenizer);
  if (!idx || idx.vocabSize !== vocabSize) {
    idx = new VocabIndex(vocabSize, tokenizer);
    indexes.set(tokenizer, idx);
  }
  return idx;
}

/** Allowed-id sets by state key, shared by every request on a vocabulary. */
export class MaskCache {
  private readonly map = new Map<string, Uint8Array>();
  constructor(private readonly limit: number) {}
  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: Uint8Array): void {
    this.map.set(key, v);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value!);
  }
}

const masks = new WeakMap<VocabIndex, MaskCache>();

/** The mask cache shared by every request on this vocabulary. */
export function sharedMasks(index: VocabIndex): MaskCache {
  let c = masks.get(index);
  if (!c) {
    c = new MaskCache(256);
    masks.set(index, c);
  }
  return c;
}

/** A logits processor that keeps a sequence's output a JSON document of `schema`. */
export class JsonConstraint implements LogitsProcessor {
  private state: JsonState | null;
  private consumed = 0;
  private readonly cache: MaskCache;

  constructor(
    private readonly index: VocabIndex,
    schema: SchemaNode,
    private readonly eosIds: readonly number[],
  ) {
    this.state = initialState(schema);
    this.cache = sharedMasks(index);
  }

  /** True when the output so far is a complete document. */
  get complete(): boolean {
    return this.state?.complete ?? false;
  }

  process(logits: Float32Array, context: ProcessorContext): void {
    const gen = context.generated;
    for (; this.consumed < gen.length; this.consumed++) {
      const b = this.index.tokenBytes[gen[this.consumed]!];
      this.state = b ? stepBytes(this.state, b) : null;
    }
    const s = this.state;
    let mask: Uint8Array | undefined;
    if (s) {
      mask = this.cache.get(s.key);
      if (!mask) {
        mask = this.index.allowed(s);
        this.cache.set(s.key, mask);
      }
    }
    const endOk = !s || s.complete;
    const eosLogits = this.eosIds.map((id) => logits[id] ?? -Infinity);
    for (let id = 0; id < logits.length; id++) if (!mask || mask[id] === 0) logits[id] = -Infinity;
    // EOS keeps its own logit once the document is complete (and is the only way out of Done).
    if (endOk)
      this.eosIds.forEach((id, i) => {
        if (id < logits.length) logits[id] = Number.isFinite(eosLogits[i]!) ? eosLogits[i]! : 0;
      });
  }
}
