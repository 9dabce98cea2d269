/**
 * An LRU map bounded by the bytes its values hold, not by their count: a cache of 19 KB token
 * masks and one of multi-megabyte compiled schemas share one rule, "stay under N bytes".
 * A value larger than the whole budget is not kept.
 */
export class ByteLru<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  constructor(
    private budget: number,
    private readonly sizeOf: (v: V) => number,
  ) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  get limit(): number {
    return this.budget;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    const old = this.map.get(key);
    if (old) {
      this.total -= old.bytes;
      this.map.delete(key);
    }
    const bytes = this.sizeOf(value);
    if (bytes > this.budget) return;
    this.map.set(key, { value, bytes });
    this.total += bytes;
    this.evict();
  }

  /** Changes the budget, evicting least recently used entries to fit. */
  resize(budget: number): void {
    this.budget = budget;
    this.evict();
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  private evict(): void {
    while (this.total > this.budget) {
      const [k, e] = this.map.entries().next().value as [string, { value: V; bytes: number }];
      this.map.delete(k);
      this.total -= e.bytes;
    }
  }
}
