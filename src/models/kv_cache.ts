/**
 * The K/V cache of one sequence across all layers: a value the caller owns (generation,
 * chat sessions and prefix reuse are built on it), preallocated for the context asked for.
 *
 * Full-attention layers keep every token. A sliding-window layer of window W only ever
 * looks back W - 1 tokens, so it keeps a ring of W + chunk - 1 slots (chunk = the most new
 * tokens one forward step stores for this sequence), or the whole capacity when that is
 * smaller. Absolute slot s lives at ring index s % ringSize (see `KVBuffer` in ops.ts).
 */
import { InvalidArgumentError } from "../errors.js";
import type { Backend, KVBuffer } from "../backends/ops.js";
import type { SequenceCache } from "./causal_lm.js";

export interface KVLayout {
  readonly kvHeads: number;
  readonly headDim: number;
  /** Per layer: the sliding window W, or null for full attention. */
  readonly windows: readonly (number | null)[];
  /** Most new tokens stored for one sequence in one step (the model's prefill chunk). */
  readonly chunk: number;
}

export class KVCache implements SequenceCache {
  /** One K/V ring per layer. */
  readonly layers: readonly KVBuffer[];
  private len = 0;
  private disposed = false;

  constructor(
    private readonly backend: Backend,
    readonly layout: KVLayout,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new InvalidArgumentError(`cache capacity must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(layout.chunk) || layout.chunk < 1)
      throw new InvalidArgumentError(`cache chunk must be a positive integer, got ${layout.chunk}`);
    this.layers = layout.windows.map((w) => backend.allocKV(layout.kvHeads, KVCache.ringSize(w, layout.chunk, capacity), layout.headDim));
  }

  /** Slots a layer keeps: everything for full attention, window + chunk - 1 for a sliding one. */
  static ringSize(window: number | null, chunk: number, capacity: number): number {
    return window === null ? capacity : Math.min(capacity, window + chunk - 1);
  }

  get length(): number {
    return this.len;
  }

  /** Records that the model stored `count` more tokens (called by the model after each step). */
  advance(count: number): void {
    this.check();
    if (this.len + count > this.capacity)
      throw new InvalidArgumentError(`cache holds ${this.len} of ${this.capacity} tokens; ${count} more do not fit`);
    this.len += count;
  }

  truncate(length: number): void {
    this.check();
    if (!Number.isInteger(length) || length < 0 || length > this.len) {
      throw new InvalidArgumentError(`cannot truncate a cache of ${this.len} tokens to ${length}`);
    }
    // A sliding layer must still hold the W - 1 tokens before `length` that the next query sees.
    this.layout.windows.forEach((w, i) => {
      if (w === null) return;
      const ring = this.layers[i]!.capacity;
      const needed = Math.max(0, length - w + 1);
      const oldestKept = this.len - ring;
      if (needed < oldestKept) {
        throw new InvalidArgumentError(
          `cannot truncate to ${length} tokens: sliding layer ${i} (window ${w}) keeps only slots ${oldestKept}..${this.len - 1} and would need slot ${needed}`,
        );
      }
    });
    this.len = length;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const kv of this.layers) this.backend.free(kv);
  }

  private check(): void {
    if (this.disposed) throw new InvalidArgumentError("cache used after dispose()");
  }
}
