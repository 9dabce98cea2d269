/**
 * Prompt prefix reuse. When a sequence finishes normally its K/V cache is kept here with
 * the tokens it holds; the next request whose prompt starts with the same tokens (the next
 * turn of the same conversation re-sends the whole history) takes that cache, truncates it
 * to the common prefix and only computes the rest. Bounded: the least recently stored
 * cache is released first. Caches of cancelled sequences never come here.
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
  /** Prompt tokens served from a reused cache instead of being recomputed (for /health). */
  reusedTokens = 0;

  constructor(
    private readonly model: CausalLM,
    /** Capacity of every cache (the server's context length). */
    readonly capacity: number,
    readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /**
   * A cache for a prompt: the stored one sharing the longest prefix (truncated to it), or a
   * fresh one. The caller owns the result until it gives it back with `put` or disposes it.
   */
  acquire(prompt: ArrayLike<number>, key = ""): SequenceCache {
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
        entry!.cache.dispose();
      }
    }
    return this.model.createCache(this.capacity);
  }

  /** Keeps a finished sequence's cache; `tokens` are the ids it holds, oldest first. */
  put(tokens: ArrayLike<number>, cache: SequenceCache, key = ""): void {
    if (this.maxEntries <= 0) {
      cache.dispose();
      return;
    }
    this.entries.push({ tokens: Int32Array.from(tokens).subarray(0, cache.length), cache, key });
    while (this.entries.length > this.maxEntries) this.entries.shift()!.cache.dispose();
  }

  clear(): void {
    for (const e of this.entries) e.cache.dispose();
    this.entries = [];
  }
}
