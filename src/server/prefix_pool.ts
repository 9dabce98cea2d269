/**
 * The server's K/V caches: a budget of at most `budget` caches alive at once (running,
 * paused and waiting sequences, finished ones kept for prefix reuse, spares), so no load can
 * grow the backend's memory past it (the wasm backend's memory never shrinks).
 *
 * Prompt prefix reuse. When a sequence finishes normally its cache is kept here with the
 * tokens it holds; the next request whose prompt starts with the same tokens (the next turn
 * of the same conversation re-sends the whole history) takes that cache, truncates it to the
 * common prefix and only computes the rest. At most `maxEntries` are kept this way; an older
 * one is forgotten (its cache becomes a spare). Caches of cancelled sequences never hold a
 * prefix here.
 *
 * Reserved (`reserve()`): the whole budget is allocated up front, as llama.cpp allocates
 * its K/V cache for every slot at startup, and a released cache becomes a spare instead of
 * being freed. Otherwise caches are created on demand up to the budget and released ones are
 * freed.
 */
import type { CausalLM, SequenceCache } from "../models/causal_lm.js";

interface Entry {
  readonly tokens: Int32Array;
  readonly cache: SequenceCache;
  /** What else the cache's keys and values depend on (the LoRA adapters: server/adapters.ts adapterKey); "" for the base model. */
  readonly key: string;
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class PrefixPool {
  private entries: Entry[] = [];
  /** Empty caches ready for the next sequence. */
  private spares: SequenceCache[] = [];
  /** Caches this pool made that are not disposed (in use, kept or spare). */
  private liveCount = 0;
  private reserved = false;
  /** Prompt tokens served from a reused cache instead of being recomputed (for /health). */
  reusedTokens = 0;

  constructor(
    private readonly model: CausalLM,
    /** Capacity of every cache (the server's context length). */
    readonly capacity: number,
    readonly maxEntries: number,
    /** Most caches alive at once. */
    readonly budget: number = Number.POSITIVE_INFINITY,
  ) {}

  /** Finished caches kept with their tokens. */
  get size(): number {
    return this.entries.length;
  }

  /** Caches alive: in use by sequences, kept for a prefix, or spare. */
  get live(): number {
    return this.liveCount;
  }

  /** Allocates the whole budget now (the backend zero-fills them), and keeps released caches as spares from now on. */
  reserve(): void {
    this.reserved = true;
    while (this.liveCount < this.budget) this.spares.push(this.create());
  }

  /**
   * A cache for a prompt: the stored one sharing the longest prefix (truncated to it), else
   * a spare, a new one while under the budget, or the least recently kept prefix's (emptied).
   * Null when every cache of the budget is in use. The caller owns the result until it gives
   * it back with `put` or `release`.
   */
  acquire(prompt: ArrayLike<number>, key = ""): SequenceCache | null {
    let best = -1;
    let bestLen = 0;
    this.entries.forEach((e, i) => {
      if (e.key !== key) return;
      const n = commonPrefix(e.tokens, prompt);
      if (n > bestLen) {
        best = i;
        bestLen = n;
      }
    });
    if (best >= 0) {
      const [entry] = this.entries.splice(best, 1);
      try {
        entry!.cache.truncate(Math.min(bestLen, entry!.cache.length));
        this.reusedTokens += Math.min(bestLen, prompt.length - 1);
        return entry!.cache;
      } catch {
        // A sliding-window ring may have overwritten the prefix: start afresh.
        return this.emptied(entry!.cache);
      }
    }
    const spare = this.spares.pop();
    if (spare) return spare;
    if (this.liveCount < this.budget) return this.create();
    const oldest = this.entries.shift();
    return oldest ? this.emptied(oldest.cache) : null;
  }

  /** Keeps a finished sequence's cache; `tokens` are the ids it holds, oldest first. */
  put(tokens: ArrayLike<number>, cache: SequenceCache, key = ""): void {
    this.entries.push({ tokens: Int32Array.from(tokens).subarray(0, cache.length), cache, key });
    while (this.entries.length > Math.max(0, this.maxEntries)) this.release(this.entries.shift()!.cache);
  }

  /** Gives back a cache whose contents are of no further use: a spare when reserved, freed otherwise. */
  release(cache: SequenceCache): void {
    if (this.reserved) this.spares.push(this.emptied(cache));
    else {
      cache.dispose();
      this.liveCount--;
    }
  }

  clear(): void {
    for (const c of [...this.entries.map((e) => e.cache), ...this.spares]) c.dispose();
    this.liveCount -= this.entries.length + this.spares.length;
    this.entries = [];
    this.spares = [];
  }

  private create(): SequenceCache {
    const cache = this.model.createCache(this.capacity);
    this.liveCount++;
    return cache;
  }

  /** The cache truncated to nothing, or a new one in its place when a sliding-window ring refuses. */
  private emptied(cache: SequenceCache): SequenceCache {
    try {
      cache.truncate(0);
      return cache;
    } catch {
      cache.dispose();
      this.liveCount--;
      return this.create();
    }
  }
}
