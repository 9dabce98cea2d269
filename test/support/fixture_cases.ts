/**
 * The runtime-neutral half of the fixture helpers (no node: imports, so browser tests bundle
 * it too): the padded batch a case describes, its generation settings as Hugging Face
 * resolves them, and greedy decoding as `generate(do_sample=False)` runs it. fixtures.ts
 * reads the files and re-exports these.
 */
import type { GenerationConfig, Qwen2Config } from "../../src/formats/config.js";
import { leftPad, type PaddedBatch, type PaddedBatchRunner } from "../../src/runtime/padded_batch.js";

export interface CaseInput {
  name: string;
  input_ids?: number[] | number[][];
  attention_mask?: number[][];
  batch?: number[][];
  max_new_tokens: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  ignore_eos?: boolean;
}
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** The padded batch a case describes: explicit rows + mask, or ragged rows left-padded. */
export function caseBatch(c: CaseInput, padId: number): PaddedBatch {
  if (c.batch) return leftPad(c.batch, padId);
  const ids = c.input_ids!;
  const rows = typeof ids[0] === "number" ? [ids as number[]] : (ids as number[][]);
  return { inputIds: rows, attentionMask: c.attention_mask ?? rows.map((r) => r.map(() => 1)) };
}

/**
 * A case's EOS ids and pad id: the case's own, else generation_config.json / config.json;
 * with no pad token Hugging Face pads with the first EOS id.
 */
export function caseGeneration(c: CaseInput, config: Qwen2Config, gc: GenerationConfig): { eos: readonly number[]; pad: number } {
  const configEos = gc.eos_token_id ?? config.eos_token_id;
  const caseEos = c.eos_token_id === undefined ? undefined : ([] as number[]).concat(c.eos_token_id);
  const eos: readonly number[] = c.ignore_eos ? [] : (caseEos ?? configEos);
  const pad = c.pad_token_id ?? gc.pad_token_id ?? config.pad_token_id ?? configEos[0] ?? 0;
  return { eos, pad };
}

/**
 * Greedy decoding as Hugging Face's generate(do_sample=False): every row steps together;
 * a row that produced EOS gets pad tokens from then on; stops when all rows are done.
 */
export async function greedy(
  runner: PaddedBatchRunner,
  first: Float32Array[],
  maxNew: number,
  eos: readonly number[],
  pad: number,
): Promise<{ tokens: number[][]; stepLogits: Float32Array[][] }> {
  const rows = first.length;
  const tokens: number[][] = first.map(() => []);
  const stepLogits: Float32Array[][] = first.map(() => []);
  const done = new Array<boolean>(rows).fill(false);
  let logits = first;
  for (let step = 0; step < maxNew; step++) {
    const next = logits.map((l, r) => (done[r] ? pad : argmax(l)));
    next.forEach((t, r) => {
      tokens[r]!.push(t);
      if (!done[r]) stepLogits[r]!.push(logits[r]!);
      if (eos.includes(t)) done[r] = true;
    });
    if (done.every(Boolean) || step === maxNew - 1) break;
    logits = await runner.step(next);
  }
  return { tokens, stepLogits };
}
