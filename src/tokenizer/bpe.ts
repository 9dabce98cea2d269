/**
 * Byte-level BPE with merge ranks. A word's bytes start as single-byte tokens and the pair
 * of adjacent tokens with the lowest merge rank (leftmost on ties) is merged until no pair
 * has a merge, exactly Hugging Face's `Word::merge_all`. Short words use a flat array scan,
 * which beats any structure for the usual 2-10 symbols; long words (long runs of spaces,
 * digits-free letter strings) use a binary heap over a linked list, O(n log n).
 */

/**
 * Open-addressing hash table from a pair of token ids to (merge rank, merged id). The four
 * fields of a slot sit side by side (stride 4), so a probe touches one cache line.
 */
export class PairTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.slots = new Int32Array(cap * 4).fill(-1);
    this.mask = cap - 1;
  }

  private home(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & this.mask;
  }

  /** Adds a merge; a pair listed twice takes its later rank, as the reference's map does. */
  add(a: number, b: number, rank: number, merged: number): void {
    const t = this.slots;
    let i = this.home(a, b);
    for (;;) {
      const at = i << 2;
      if (t[at] === -1) {
        t[at] = a;
        t[at + 1] = b;
        this.size++;
      } else if (t[at] !== a || t[at + 1] !== b) {
        i = (i + 1) & this.mask;
        continue;
      }
      t[at + 2] = rank;
      t[at + 3] = merged;
      return;
    }
  }

  /** The slot of pair (a, b), or -1 when the pair has no merge. */
  find(a: number, b: number): number {
    const t = this.slots;
    let i = this.home(a, b);
    for (;;) {
      const at = i << 2;
      const l = t[at];
      if (l === -1) return -1;
      if (l === a && t[at + 1] === b) return at;
      i = (i + 1) & this.mask;
    }
  }

  // A slot is what find() returned for a present pair: a multiple of 4 inside the table.
  rankAt(slot: number): number {
    return this.slots[slot + 2]!;
  }
  mergedAt(slot: number): number {
    return this.slots[slot + 3]!;
  }
}

const NO_MERGE = 0x7fffffff;
const SHORT_WORD = 128;

/**
 * Merges `syms[0..n)` (token ids) in place and returns the new length.
 */
export function bpeMerge(pairs: PairTable, syms: Int32Array, n: number): number {
  // Every index below is in [0, n) with n <= syms.length <= the scratch arrays' length
  // (SHORT_WORD), hence the non-null assertions.
  if (n < 2) return n;
  if (n > SHORT_WORD) return bpeMergeLong(pairs, syms, n);
  // ranks[i]: rank of the pair (syms[i], syms[i+1]); slots for the merged id.
  const ranks = SHORT_RANKS;
  const slots = SHORT_SLOTS;
  for (let i = 0; i < n - 1; i++) {
    const s = pairs.find(syms[i]!, syms[i + 1]!);
    slots[i] = s;
    ranks[i] = s < 0 ? NO_MERGE : pairs.rankAt(s);
  }
  for (;;) {
    let best = NO_MERGE;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      const r = ranks[i]!;
      if (r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return n;
    syms[at] = pairs.mergedAt(slots[at]!);
    // Remove position at+1.
    for (let i = at + 1; i < n - 1; i++) {
      syms[i] = syms[i + 1]!;
      ranks[i] = ranks[i + 1]!;
      slots[i] = slots[i + 1]!;
    }
    n--;
    if (at > 0) {
      const s = pairs.find(syms[at - 1]!, syms[at]!);
      slots[at - 1] = s;
      ranks[at - 1] = s < 0 ? NO_MERGE : pairs.rankAt(s);
    }
    if (at < n - 1) {
      const s = pairs.find(syms[at]!, syms[at + 1]!);
      slots[at] = s;
      ranks[at] = s < 0 ? NO_MERGE : pairs.rankAt(s);
    }
    if (n < 2) return n;
  }
}

const HEAP = { rank: new Int32Array(4096), pos: new Int32Array(4096), merged: new Int32Array(4096) };
const SHORT_RANKS = new Int32Array(1024);
const SHORT_SLOTS = new Int32Array(1024);

/** Heap-based merging for long words: entries are (rank, position) keyed by the left symbol. */
let scratch = { prev: new Int32Array(1024), next: new Int32Array(1024), alive: new Uint8Array(1024) };

function bpeMergeLong(pairs: PairTable, syms: Int32Array, n: number): number {
  // Indexes are positions in [0, n) (prev/next/alive/syms, all at least n long) or heap
  // entries in [0, size) (the heap arrays grow before size reaches their length), and a
  // position read from next/prev is checked against -1 first: hence the non-null assertions.
  if (scratch.prev.length < n) scratch = { prev: new Int32Array(n * 2), next: new Int32Array(n * 2), alive: new Uint8Array(n * 2) };
  const { prev, next, alive } = scratch;
  alive.fill(1, 0, n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // Heap of candidate merges, ordered by (rank, position); stale entries are skipped on pop.
  let heapRank: Int32Array = HEAP.rank.length >= n ? HEAP.rank : new Int32Array(n);
  let heapPos: Int32Array = HEAP.pos.length >= n ? HEAP.pos : new Int32Array(n);
  let heapMerged: Int32Array = HEAP.merged.length >= n ? HEAP.merged : new Int32Array(n);
  let size = 0;
  const less = (a: number, b: number): boolean => {
    const ra = heapRank[a]!;
    const rb = heapRank[b]!;
    return ra < rb || (ra === rb && heapPos[a]! < heapPos[b]!);
  };
  const swap = (a: number, b: number): void => {
    let t = heapRank[a]!;
    heapRank[a] = heapRank[b]!;
    heapRank[b] = t;
    t = heapPos[a]!;
    heapPos[a] = heapPos[b]!;
    heapPos[b] = t;
    t = heapMerged[a]!;
    heapMerged[a] = heapMerged[b]!;
    heapMerged[b] = t;
  };
  const push = (pos: number): void => {
    const nx = next[pos]!;
    if (nx < 0) return;
    const s = pairs.find(syms[pos]!, syms[nx]!);
    if (s < 0) return;
    if (size === heapRank.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      heapRank = grow(heapRank);
      heapPos = grow(heapPos);
      heapMerged = grow(heapMerged);
    }
    let i = size++;
    heapRank[i] = pairs.rankAt(s);
    heapPos[i] = pos;
    heapMerged[i] = pairs.mergedAt(s);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const pop = (): void => {
    size--;
    if (size === 0) return;
    heapRank[0] = heapRank[size]!;
    heapPos[0] = heapPos[size]!;
    heapMerged[0] = heapMerged[size]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      let c = l;
      if (l + 1 < size && less(l + 1, l)) c = l + 1;
      if (!less(c, i)) break;
      swap(c, i);
      i = c;
    }
  };
  for (let i = 0; i < n - 1; i++) push(i);
  while (size > 0) {
    const pos = heapPos[0]!;
    const merged = heapMerged[0]!;
    pop();
    if (!alive[pos]) continue;
    const nx = next[pos]!;
    if (nx < 0) continue;
    // Stale entry: the pair at pos changed since it was pushed.
    const s = pairs.find(syms[pos]!, syms[nx]!);
    if (s < 0 || pairs.mergedAt(s) !== merged) continue;
    syms[pos] = merged;
    alive[nx] = 0;
    const nn = next[nx]!;
    next[pos] = nn;
    if (nn >= 0) prev[nn] = pos;
    const pv = prev[pos]!;
    if (pv >= 0) push(pv);
    push(pos);
  }
  let out = 0;
  for (let i = 0; i >= 0 && i < n; i = next[i]!) syms[out++] = syms[i]!;
  return out;
}
