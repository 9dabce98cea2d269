/**
 * The bounded cache of BPE results per pre-tokenised word. Words are looked up by their
 * position in the text (hash computed from the code units, key compared in place), so a hit
 * allocates nothing: no substring, no array. Results live in one shared Int32Array pool.
 * When half the slots are used the whole cache is emptied: bounded memory, no eviction
 * bookkeeping, and the hot words come back within a few documents.
 */
export class WordCache {
  // Allocated on first insertion, so that loading a tokenizer does not pay for them.
  private keys: (string | undefined)[] = [];
  private hashes = new Int32Array(0);
  private offsets = new Int32Array(0);
  private lengths = new Int32Array(0);
  private pool = new Int32Array(0);
  private poolUsed = 0;
  private count = 0;
  private readonly mask: number;
  private readonly limit: number;

  constructor(private readonly slotsLog2 = 18) {
    this.mask = (1 << slotsLog2) - 1;
    this.limit = 1 << (slotsLog2 - 1);
  }

  private allocate(): void {
    const slots = 1 << this.slotsLog2;
    this.keys = new Array<string | undefined>(slots).fill(undefined);
    this.hashes = new Int32Array(slots);
    this.offsets = new Int32Array(slots);
    this.lengths = new Int32Array(slots);
    this.pool = new Int32Array(1 << 16);
  }

  /** FNV-1a over the code units of s[start, end). */
  static hash(s: string, start: number, end: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h;
  }

  /** Appends the cached ids of s[start, end) to `out` and returns true, or returns false. */
  get(s: string, start: number, end: number, hash: number, out: number[]): boolean {
    const len = end - start;
    const keys = this.keys;
    if (keys.length === 0) return false;
    let i = hash & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return false;
      if (this.hashes[i] === hash && k.length === len && s.startsWith(k, start)) {
        const pool = this.pool;
        // The slot's offset and length are set with its key; pool holds [off, off + n).
        const off = this.offsets[i]!;
        const n = this.lengths[i]!;
        for (let j = 0; j < n; j++) out.push(pool[off + j]!);
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  set(key: string, hash: number, ids: Int32Array, n: number): void {
    if (this.keys.length === 0) this.allocate();
    if (this.count >= this.limit) this.clear();
    if (this.poolUsed + n > this.pool.length) {
      const next = new Int32Array(Math.max(this.pool.length * 2, this.poolUsed + n));
      next.set(this.pool.subarray(0, this.poolUsed));
      this.pool = next;
    }
    let i = hash & this.mask;
    while (this.keys[i] !== undefined) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.hashes[i] = hash;
    this.offsets[i] = this.poolUsed;
    this.lengths[i] = n;
    this.pool.set(ids.subarray(0, n), this.poolUsed);
    this.poolUsed += n;
    this.count++;
  }

  clear(): void {
    this.keys.fill(undefined);
    this.count = 0;
    this.poolUsed = 0;
  }
}
