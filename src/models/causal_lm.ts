/**
 * What generation, the server and the CLI need from a causal language model, whatever
 * its architecture or backend.
 */
import type { AdapterChoice } from "./lora.js";

/** The K/V cache of one sequence across all layers. The caller owns it; the model only fills it. */
export interface SequenceCache {
  /** Tokens cached so far (absolute position of the next token). */
  readonly length: number;
  /** Most tokens this cache can hold. */
  readonly capacity: number;
  /**
   * Forgets every token from `length` on, so that a shared prefix can be reused. Throws when
   * a sliding-window ring has already overwritten what would be needed.
   */
  truncate(length: number): void;
  /** Releases the backend memory. */
  dispose(): void;
}

/** New tokens of one sequence in a (possibly batched) forward call. */
export interface ForwardItem {
  readonly ids: Int32Array;
  readonly cache: SequenceCache;
  /**
   * LoRA adapters (loaded for this model) applied to this sequence's tokens, summed when
   * several; none by default. A cache filled with one choice holds keys and values of that
   * choice: reuse it only with the same adapters.
   */
  readonly adapters?: readonly AdapterChoice[];
}

export interface ForwardOptions {
  /** Return logits for every new token ([count * vocab]) instead of the last one only. */
  readonly allLogits?: boolean;
  /**
   * Per item, an array of the right length (vocab, or count * vocab with allLogits) that
   * receives the logits and is returned: a decode loop reuses one array instead of a fresh
   * 600 KB one per token (whose first-touch page faults cost more than the copy).
   */
  readonly into?: readonly (Float32Array | undefined)[];
}

export interface CausalLM {
  readonly vocabSize: number;
  /** The longest context the model was trained for (config `max_position_embeddings`). */
  readonly maxContext: number;
  /** Creates an empty cache for one sequence of at most `capacity` tokens. */
  createCache(capacity: number): SequenceCache;
  /**
   * Runs the new tokens of one or more sequences together (their matrix products are
   * batched), appends their keys and values to each item's cache, and returns for each item
   * the logits of its last token ([vocab]) or of all its tokens (`allLogits`). Async because
   * a GPU backend hands results back only through a promise; call it once at a time per model.
   */
  forward(items: readonly ForwardItem[], options?: ForwardOptions): Promise<Float32Array[]>;
  /** Releases the weights and worker threads. */
  dispose(): void;
}
