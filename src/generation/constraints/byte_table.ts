/**
 * A sorted set of byte strings (enum values, object keys, tool-call heads) matched one byte
 * at a time without building a trie: the texts that share the `pos` bytes read so far are a
 * contiguous range [lo, hi) of the sorted list, and the next byte narrows that range by two
 * binary searches. A 100k-entry enum costs one sort and no per-entry nodes.
 *
 * Texts are "binary strings" (one char per byte, 0-255), so the native string sort orders
 * them exactly as their bytes and each entry costs one compact string.
 */

export class ByteTable {
  /** Entries sorted by bytes, without duplicates. */
  readonly entries: readonly string[];
  /** A payload per entry (e.g. the property index a key belongs to), same order. */
  readonly payload: Int32Array;
  /** Segment tree of payload maxima (only built on request), for "any payload ≥ i in [lo, hi)". */
  private tree: Int32Array | null = null;

  /** Texts (duplicates dropped) with no payload. */
  constructor(texts: readonly string[]);
  /** Already sorted, unique entries and their payloads (see {@link ByteTable.build}). */
  constructor(texts: readonly string[], payload: Int32Array);
  constructor(texts: readonly string[], payload?: Int32Array) {
    if (payload) {
      this.entries = texts;
      this.payload = payload;
    } else {
      const entries = [...texts].sort();
      const unique = entries.filter((t, i) => i === 0 || t !== entries[i - 1]);
      this.entries = unique;
      this.payload = new Int32Array(unique.length);
    }
  }

  /** The same table as `new ByteTable(texts)`, built in slices (see {@link sortedSteps}). */
  static *set(texts: readonly string[]): Generator<void, ByteTable> {
    const sorted = yield* sortedSteps(texts);
    const unique: string[] = [];
    for (let i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[i - 1]) unique.push(sorted[i]!);
      if ((i & 8191) === 8191) yield;
    }
    return new ByteTable(unique, new Int32Array(unique.length));
  }

  /** A table with a payload per text (the first one for duplicates), built in slices. */
  static *build(texts: readonly string[], payloads: readonly number[]): Generator<void, ByteTable> {
    // Payloads follow the sorted keys by lookup.
    const payloadOf = new Map<string, number>();
    for (let i = 0; i < texts.length; i++) {
      if (!payloadOf.has(texts[i]!)) payloadOf.set(texts[i]!, payloads[i]!);
      if ((i & 8191) === 8191) yield;
    }
    const entries = yield* sortedSteps([...payloadOf.keys()]);
    const payload = new Int32Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      payload[i] = payloadOf.get(entries[i]!)!;
      if ((i & 8191) === 8191) yield;
    }
    return new ByteTable(entries, payload);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Approximate heap bytes, for cache accounting. */
  get bytes(): number {
    let n = this.payload.byteLength + (this.tree?.byteLength ?? 0) + this.entries.length * 16;
    for (const e of this.entries) n += e.length;
    return n;
  }

  private byteAt(i: number, pos: number): number {
    const e = this.entries[i]!;
    return pos < e.length ? e.charCodeAt(pos) : -1;
  }

  /** First index in [lo, hi) whose byte at `pos` is ≥ b (entries shorter than pos+1 count as -1). */
  private lowerBound(lo: number, hi: number, pos: number, b: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.byteAt(mid, pos) < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The sub-range of [lo, hi) (entries sharing `pos` bytes) whose byte at `pos` is `b`,
   * packed as lo * 2^24 + count... returned through `out` to avoid allocating; false when empty.
   */
  narrow(lo: number, hi: number, pos: number, b: number, out: { lo: number; hi: number }): boolean {
    const a = this.lowerBound(lo, hi, pos, b);
    if (a >= hi || this.byteAt(a, pos) !== b) return false;
    out.lo = a;
    out.hi = this.lowerBound(a, hi, pos, b + 1);
    return true;
  }

  /** True when an entry of the range ends after `pos` bytes (it sorts first). */
  completeAt(lo: number, pos: number): boolean {
    return this.entries[lo]!.length === pos;
  }

  /** Largest payload in [lo, hi). */
  maxPayload(lo: number, hi: number): number {
    const n = this.payload.length;
    if (hi - lo === 1) return this.payload[lo]!;
    if (!this.tree) {
      const t = new Int32Array(2 * n);
      t.set(this.payload, n);
      for (let i = n - 1; i > 0; i--) t[i] = Math.max(t[2 * i]!, t[2 * i + 1]!);
      this.tree = t;
    }
    const t = this.tree;
    let m = -1;
    for (let l = lo + n, r = hi + n; l < r; l >>= 1, r >>= 1) {
      if (l & 1) m = Math.max(m, t[l++]!);
      if (r & 1) m = Math.max(m, t[--r]!);
    }
    return m;
  }
}

/** Strings sorted natively at once; longer lists are sorted in runs of this many, then merged. */
const SORT_RUN = 8192;
/** Merge steps between yields. */
const MERGE_SLICE = 16384;

/**
 * `[...texts].sort()` (code-unit order, as the native sort without a comparator) in slices:
 * runs of {@link SORT_RUN} sorted natively, then merged pairwise, yielding between runs and
 * every {@link MERGE_SLICE} merged entries, so a 100k-entry enum never sorts in one go
 * (that held the event loop 10-40 ms on a loaded machine).
 */
export function* sortedSteps(texts: readonly string[]): Generator<void, string[]> {
  const n = texts.length;
  if (n <= SORT_RUN) return [...texts].sort();
  let runs: string[][] = [];
  for (let i = 0; i < n; i += SORT_RUN) {
    runs.push(texts.slice(i, i + SORT_RUN).sort());
    yield;
  }
  let work = 0;
  while (runs.length > 1) {
    const next: string[][] = [];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1]!;
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        // On a tie the left run's entry first, as a stable sort keeps them.
        out[k++] = b[j]! < a[i]! ? b[j++]! : a[i++]!;
        if (++work === MERGE_SLICE) {
          work = 0;
          yield;
        }
      }
      while (i < a.length) out[k++] = a[i++]!;
      while (j < b.length) out[k++] = b[j++]!;
      next.push(out);
    }
    if (runs.length % 2 === 1) next.push(runs.at(-1)!);
    runs = next;
    yield;
  }
  return runs[0]!;
}

const utf8 = new TextEncoder();

/** A JavaScript string as a binary string of its UTF-8 bytes. */
export function binaryString(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++)
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  if (ascii) return text;
  const bytes = utf8.encode(text);
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}
