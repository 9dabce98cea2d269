/**
 * Padded batches as Hugging Face builds them (`input_ids` rows of equal length with an
 * `attention_mask`), mapped onto per-sequence caches so that every row computes exactly
 * what its unpadded sequence would.
 *
 * Hugging Face's generate gives masked slots no attention and positions
 * `cumsum(mask) - 1`, so the tokens a row attends to are its real (mask 1) tokens at
 * positions 0, 1, 2, ...: the unpadded sequence. Rows still go through one forward call
 * together, which also keeps what depends on the whole batch (dynamic NTK RoPE reads the
 * longest sequence) as in transformers.
 */
import { InvalidArgumentError } from "../errors.js";
import type { CausalLM, ForwardItem, SequenceCache } from "../models/causal_lm.js";

export interface PaddedBatch {
  /** [batch, seq] token ids, padded. */
  readonly inputIds: readonly (readonly number[])[];
  /** [batch, seq]: 1 for a real token, 0 for padding. */
  readonly attentionMask: readonly (readonly number[])[];
}

/** Left-pads ragged rows with `padId` to the longest row (Hugging Face's padding_side="left"). */
export function leftPad(rows: readonly (readonly number[])[], padId: number): PaddedBatch {
  const width = Math.max(0, ...rows.map((r) => r.length));
  return {
    inputIds: rows.map((r) => [...new Array<number>(width - r.length).fill(padId), ...r]),
    attentionMask: rows.map((r) => [...new Array<number>(width - r.length).fill(0), ...new Array<number>(r.length).fill(1)]),
  };
}

/** Hugging Face generate's position ids: cumsum(mask) - 1, with masked slots set to 1. */
export function positionIds(attentionMask: readonly (readonly number[])[]): number[][] {
  return attentionMask.map((row) => {
    let seen = 0;
    return row.map((m) => {
      if (m === 1) return seen++;
      return 1;
    });
  });
}

function checkBatch(batch: PaddedBatch): void {
  const { inputIds, attentionMask } = batch;
  if (inputIds.length !== attentionMask.length)
    throw new InvalidArgumentError(`input_ids has ${inputIds.length} rows, attention_mask ${attentionMask.length}`);
  inputIds.forEach((row, r) => {
    const mask = attentionMask[r]!;
    if (mask.length !== row.length)
      throw new InvalidArgumentError(`row ${r}: input_ids has ${row.length} columns, attention_mask ${mask.length}`);
    mask.forEach((m, c) => {
      if (m !== 0 && m !== 1) throw new InvalidArgumentError(`attention_mask[${r}][${c}] is ${m}, expected 0 or 1`);
    });
  });
}

/** The real tokens of each row (where the mask is 1), in order: the unpadded sequences. */
export function unpaddedRows(batch: PaddedBatch): Int32Array[] {
  checkBatch(batch);
  return batch.inputIds.map((row, r) => Int32Array.from(row.filter((_, c) => batch.attentionMask[r]![c] === 1)));
}

/** Index of the last real token of each row (the one whose logits generation reads). */
export function lastRealIndex(attentionMask: readonly (readonly number[])[]): number[] {
  return attentionMask.map((row, r) => {
    const i = row.lastIndexOf(1);
    if (i < 0) throw new InvalidArgumentError(`row ${r} of the attention mask has no real token`);
    return i;
  });
}

/**
 * A padded batch being decoded: one cache per row. `prefill` runs the prompt rows,
 * `step` appends one token per row; both return per-row logits.
 */
export class PaddedBatchRunner {
  readonly caches: SequenceCache[];
  private readonly rows: Int32Array[];

  constructor(
    private readonly model: CausalLM,
    batch: PaddedBatch,
    /** Tokens each row's cache can hold (prompt + new tokens). */
    capacity: number,
  ) {
    this.rows = unpaddedRows(batch);
    this.rows.forEach((r, i) => {
      if (r.length === 0) throw new InvalidArgumentError(`row ${i} has no real token`);
      if (r.length > capacity) throw new InvalidArgumentError(`row ${i} has ${r.length} tokens, more than the capacity ${capacity}`);
    });
    this.caches = this.rows.map(() => model.createCache(capacity));
  }

  /**
   * Runs the prompts. Returns per row the logits of its last real token ([vocab]), or with
   * `allLogits` those of every real token ([realCount * vocab], in order).
   */
  prefill(options: { allLogits?: boolean } = {}): Promise<Float32Array[]> {
    const items: ForwardItem[] = this.rows.map((ids, i) => ({ ids, cache: this.caches[i]! }));
    return this.model.forward(items, { allLogits: options.allLogits ?? false });
  }

  /** Appends one token per row (Hugging Face feeds pad tokens to finished rows too) and returns each row's logits. */
  step(next: readonly number[]): Promise<Float32Array[]> {
    if (next.length !== this.rows.length)
      throw new InvalidArgumentError(`step needs ${this.rows.length} tokens, one per row, got ${next.length}`);
    const items: ForwardItem[] = next.map((id, i) => ({ ids: Int32Array.of(id), cache: this.caches[i]! }));
    return this.model.forward(items);
  }

  dispose(): void {
    for (const c of this.caches) c.dispose();
  }
}

/** A model that exposes final-normed hidden states (Qwen2Model, Qwen2ForCausalLM). */
export interface HiddenStatesModel {
  readonly config: { readonly hidden_size: number };
  createCache(capacity: number): SequenceCache;
  hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]>;
}

/**
 * Last-token pooling for embedding models: each row's final-normed hidden state at its last
 * real token (whatever the padding side). Returns [batch] vectors of hidden_size.
 */
export async function lastTokenPool(model: HiddenStatesModel, batch: PaddedBatch): Promise<Float32Array[]> {
  const rows = unpaddedRows(batch);
  const caches = rows.map((r, i) => {
    if (r.length === 0) throw new InvalidArgumentError(`row ${i} has no real token`);
    return model.createCache(r.length);
  });
  try {
    const hidden = await model.hiddenStates(rows.map((ids, i) => ({ ids, cache: caches[i]! })));
    const d = model.config.hidden_size;
    return hidden.map((h, i) => h.slice((rows[i]!.length - 1) * d, rows[i]!.length * d));
  } finally {
    for (const c of caches) c.dispose();
  }
}
