/**
 * Constrained decoding over the token vocabulary: before each sample, every token whose
 * bytes the grammar would refuse gets -Infinity, and EOS is allowed only once the document
 * is complete.
 *
 * The cost per generated token does not grow with the schema:
 * - the vocabulary becomes a byte trie once per tokenizer ({@link VocabIndex}); the set of
 *   allowed tokens in a grammar state is one walk of that trie, pruning every subtree whose
 *   prefix the grammar refuses (llguidance and xgrammar walk a token trie the same way);
 * - the result is a bitset cached under the state's key (a few interned integers,
 *   json_grammar.ts) in a process-wide LRU bounded by bytes ({@link maskCache}), so a state
 *   seen before costs one map lookup. A document revisits few states: inside a string, after
 *   a comma, the same enum or key position, ...
 * - advancing the state by the sampled token's bytes is O(bytes) with O(log n) table lookups.
 */
import type { LogitsProcessor, ProcessorContext } from "../logits_processors.js";
import type { TextTokenizer } from "../../tokenizer/types.js";
import { ByteLru } from "./byte_lru.js";
import type { Grammar, ParseState } from "./json_grammar.js";

/** A bitset over token ids: bit (id & 31) of word id >> 5. */
export type TokenMask = Uint32Array;

let nextIndexUid = 1;

/** A byte trie over token texts (binary strings), walked to find the tokens a grammar state accepts. */
/** Node 0 is the root; `tokenAt` is the token ending at a node (-1: none), more ids with the same bytes in `sameBytes`. */
class TokenTrie {
  private constructor(
    private readonly firstChild: Int32Array,
    private readonly nextSibling: Int32Array,
    private readonly edge: Uint8Array,
    private readonly tokenAt: Int32Array,
    private readonly sameBytes: Map<number, number[]>,
  ) {}

  /** `keys` sorted; `idsOf(key)` the ids with those bytes. Yields between slices. */
  static *build(keys: readonly string[], idsOf: (key: string) => readonly number[]): Generator<void, TokenTrie> {
    const sameBytes = new Map<number, number[]>();
    // Sorted insertion: each token shares a prefix with the path of the one before it.
    const first: number[] = [-1];
    const next: number[] = [-1];
    const last: number[] = [-1];
    const edge: number[] = [0];
    const token: number[] = [-1];
    const path: number[] = [0];
    let prev = "";
    for (let n = 0; n < keys.length; n++) {
      const key = keys[n]!;
      if ((n & 8191) === 8191) yield;
      let k = 0;
      while (k < prev.length && k < key.length && prev.charCodeAt(k) === key.charCodeAt(k)) k++;
      path.length = k + 1;
      for (let d = k; d < key.length; d++) {
        const parent = path[d]!;
        const node = edge.length;
        first.push(-1);
        next.push(-1);
        last.push(-1);
        edge.push(key.charCodeAt(d));
        token.push(-1);
        if (first[parent] === -1) first[parent] = node;
        else next[last[parent]!] = node;
        last[parent] = node;
        path.push(node);
      }
      const end = path[key.length]!;
      const ids = idsOf(key);
      token[end] = ids[0]!;
      if (ids.length > 1) sameBytes.set(end, ids.slice(1));
      prev = key;
    }
    return new TokenTrie(Int32Array.from(first), Int32Array.from(next), Uint8Array.from(edge), Int32Array.from(token), sameBytes);
  }

  get nodes(): number {
    return this.edge.length;
  }

  /** Sets the bit of every token whose bytes `step` accepts from `state`. */
  walk<S>(node: number, state: S, step: (s: S, b: number) => S | null, bits: Uint32Array): void {
    for (let c = this.firstChild[node]!; c !== -1; c = this.nextSibling[c]!) {
      const s = step(state, this.edge[c]!);
      if (s === null) continue;
      const t = this.tokenAt[c]!;
      if (t >= 0) {
        bits[t >>> 5]! |= 1 << (t & 31);
        const more = this.sameBytes.get(c);
        if (more) for (const id of more) bits[id >>> 5]! |= 1 << (id & 31);
      }
      if (this.firstChild[c] !== -1) this.walk(c, s, step, bits);
    }
  }
}

interface VocabParts {
  readonly tokenBytes: (Uint8Array | null)[];
  readonly whitespaceIds: Int32Array;
  readonly all: TokenTrie;
  readonly quoted: TokenTrie;
}

function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

function* vocabParts(vocabSize: number, tokenizer: TextTokenizer): Generator<void, VocabParts> {
  // Tokens as binary strings (one char per byte): the native sort orders them by bytes.
  const keys: string[] = [];
  const idOf = new Map<string, number[]>();
  const ws: number[] = [];
  const tokenBytes = new Array<Uint8Array | null>(vocabSize).fill(null);
  for (let id = 0; id < vocabSize; id++) {
    if ((id & 8191) === 8191) yield;
    if (tokenizer.isSpecialId(id)) continue;
    const b = tokenizer.idToBytes(id);
    if (!b || b.length === 0) continue;
    tokenBytes[id] = b;
    let key = "";
    let allWs = true;
    for (let i = 0; i < b.length; i++) {
      key += String.fromCharCode(b[i]!);
      if (b[i] !== 0x20 && b[i] !== 0x0a && b[i] !== 0x0d && b[i] !== 0x09) allWs = false;
    }
    if (allWs) ws.push(id);
    const same = idOf.get(key);
    if (same) same.push(id);
    else {
      idOf.set(key, [id]);
      keys.push(key);
    }
  }
  yield;
  keys.sort();
  yield;
  const idsOf = (key: string) => idOf.get(key)!;
  const all = yield* TokenTrie.build(keys, idsOf);
  const quoted = yield* TokenTrie.build(
    keys.filter((k) => k.includes('"')),
    idsOf,
  );
  return { tokenBytes, whitespaceIds: Int32Array.from(ws), all, quoted };
}

export class VocabIndex {
  readonly uid = nextIndexUid++;
  /** Bytes of every id (null for ids left out: special tokens, unknown ids). */
  readonly tokenBytes: (Uint8Array | null)[];
  /** Every token. */
  private readonly all: TokenTrie;
  /** Tokens with a '"' byte: the only ones that can leave a string (see {@link maskFor}). */
  private readonly quoted: TokenTrie;
  /** Ids made only of whitespace bytes (masked once a run of layout whitespace is long enough). */
  readonly whitespaceIds: Int32Array;
  /** Trie walks done (one per mask computed), for tests and metrics. */
  walks = 0;

  constructor(
    readonly vocabSize: number,
    tokenizer: TextTokenizer,
    parts?: VocabParts,
  ) {
    const p = parts ?? runToEnd(vocabParts(vocabSize, tokenizer));
    this.tokenBytes = p.tokenBytes;
    this.whitespaceIds = p.whitespaceIds;
    this.all = p.all;
    this.quoted = p.quoted;
  }

  /** The same, built in slices with the event loop served in between (about a second of work for 151k tokens). */
  static async build(vocabSize: number, tokenizer: TextTokenizer): Promise<VocabIndex> {
    const steps = vocabParts(vocabSize, tokenizer);
    for (;;) {
      const start = performance.now();
      let r = steps.next();
      while (!r.done && performance.now() - start < 8) r = steps.next();
      if (r.done) return new VocabIndex(vocabSize, tokenizer, r.value);
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Trie nodes (for memory accounting). */
  get nodes(): number {
    return this.all.nodes + this.quoted.nodes;
  }

  /** Ids whose bytes `step` accepts from `state`, as a bitset over ids. */
  allowedBy<S>(state: S, step: (s: S, b: number) => S | null): TokenMask {
    this.walks++;
    const bits = new Uint32Array((this.vocabSize + 31) >>> 5);
    this.all.walk(0, state, step, bits);
    return bits;
  }

  /** Like {@link allowedBy}, over the tokens containing a '"' only, adding to `bits`. */
  addQuotedAllowed<S>(state: S, step: (s: S, b: number) => S | null, bits: TokenMask): void {
    this.walks++;
    this.quoted.walk(0, state, step, bits);
  }
}

const indexes = new WeakMap<TextTokenizer, VocabIndex>();

const building = new WeakMap<TextTokenizer, Promise<VocabIndex>>();

/**
 * The vocabulary index of a tokenizer, built in slices if not built yet (servers await this
 * before the first constrained request, so building it never holds the event loop long).
 */
export function vocabIndexAsync(tokenizer: TextTokenizer, vocabSize: number): Promise<VocabIndex> {
  const idx = indexes.get(tokenizer);
  if (idx && idx.vocabSize === vocabSize) return Promise.resolve(idx);
  let p = building.get(tokenizer);
  if (!p) {
    p = VocabIndex.build(vocabSize, tokenizer).then((built) => {
      indexes.set(tokenizer, built);
      building.delete(tokenizer);
      return built;
    });
    building.set(tokenizer, p);
  }
  return p.then((built) => (built.vocabSize === vocabSize ? built : vocabIndex(tokenizer, vocabSize)));
}

/** The vocabulary index of a tokenizer, built once (about a second for 151k tokens). */
export function vocabIndex(tokenizer: TextTokenizer, vocabSize: number): VocabIndex {
  let idx = indexes.get(tokenizer);
  if (!idx || idx.vocabSize !== vocabSize) {
    idx = new VocabIndex(vocabSize, tokenizer);
    indexes.set(tokenizer, idx);
  }
  return idx;
}

/** Default bytes of token masks kept (a 151k-token mask is 19 KB: about 3,400 masks). */
export const DEFAULT_MASK_CACHE_BYTES = 64 << 20;

/** Token masks by (vocabulary, grammar state), shared by every request in the process. */
export const maskCache = new ByteLru<TokenMask>(DEFAULT_MASK_CACHE_BYTES, (m) => m.byteLength + 96);

/**
 * The mask of a state, from the cache or trie walks. Inside a string, tokens without a '"'
 * byte cannot leave it, so their part of the mask depends on the string's own state only
 * (shared by every string of that kind, in every schema: one walk of the whole vocabulary per
 * process for plain strings); the tokens with a '"' are walked from the full state.
 */
export function maskFor(index: VocabIndex, grammar: Grammar, state: ParseState): TokenMask {
  const key = `${index.uid}/${grammar.stateKey(state)}`;
  let mask = maskCache.get(key);
  if (mask) return mask;
  const step = (s: ParseState, b: number) => grammar.step(s, b);
  const inString = grammar.stringAlone(state);
  if (inString) {
    const localKey = `${index.uid}/${inString.key}`;
    let local = maskCache.get(localKey);
    if (!local) {
      local = index.allowedBy(inString.state, step);
      maskCache.set(localKey, local);
    }
    mask = local.slice();
    index.addQuotedAllowed(state, step, mask);
  } else mask = index.allowedBy(state, step);
  maskCache.set(key, mask);
  return mask;
}

/**
 * Writes -Infinity over every id the mask refuses (ids beyond the vocabulary included);
 * when `endOk`, the EOS ids keep their logits (0 if they were -Infinity).
 */
export function applyMask(logits: Float32Array, mask: TokenMask | null, eosIds: readonly number[], endOk: boolean): void {
  const eos = endOk ? eosIds.map((id) => logits[id] ?? -Infinity) : [];
  const n = logits.length;
  if (!mask) logits.fill(-Infinity);
  else
    for (let w = 0; w * 32 < n; w++) {
      const word = w < mask.length ? mask[w]! : 0;
      if (word === 0xffffffff) continue;
      const end = Math.min(n, w * 32 + 32);
      for (let id = w * 32, bit = 0; id < end; id++, bit++) if (((word >>> bit) & 1) === 0) logits[id] = -Infinity;
    }
  if (endOk)
    eosIds.forEach((id, i) => {
      if (id < n) logits[id] = Number.isFinite(eos[i]!) ? eos[i]! : 0;
    });
}

/**
 * Layout whitespace allowed in a row (between tokens). The grammar state does not count it
 * (so whitespace costs no mask computation); the constraint masks whitespace-only tokens
 * once a run is this long, so a model cannot loop on newlines.
 */
export const MAX_WHITESPACE_RUN = 16;

const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** A logits processor that keeps a sequence's output a document of a compiled schema. */
export class JsonConstraint implements LogitsProcessor {
  private state: ParseState | null;
  private consumed = 0;
  /** Whitespace bytes at the end of the output so far. */
  private wsRun = 0;

  constructor(
    private readonly index: VocabIndex,
    private readonly grammar: Grammar,
    private readonly eosIds: readonly number[],
  ) {
    this.state = grammar.initial();
  }

  /** True when the output so far is a complete document. */
  get complete(): boolean {
    return this.state !== null && this.grammar.complete(this.state);
  }

  process(logits: Float32Array, context: ProcessorContext): void {
    const gen = context.generated;
    for (; this.consumed < gen.length; this.consumed++) {
      const b = this.index.tokenBytes[gen[this.consumed]!];
      this.state = b && this.state ? this.grammar.stepBytes(this.state, b) : null;
      if (b) for (let i = 0; i < b.length; i++) this.wsRun = isWs(b[i]!) ? this.wsRun + 1 : 0;
    }
    const s = this.state;
    // Off the grammar (a token forced from elsewhere): only the end of sequence is left.
    const mask = s ? maskFor(this.index, this.grammar, s) : null;
    applyMask(logits, mask, this.eosIds, !s || this.grammar.complete(s));
    if (s && this.wsRun >= MAX_WHITESPACE_RUN && !this.grammar.inString(s))
      for (const id of this.index.whitespaceIds) if (id < logits.length) logits[id] = -Infinity;
  }
}
