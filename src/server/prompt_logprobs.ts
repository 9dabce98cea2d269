/**
 * The log-probability the model gives each prompt token after the tokens before it: one
 * forward pass over the prompt with every position's logits (`allLogits`), on a throwaway
 * cache. This is what evaluation harnesses sum to score a continuation (`echo: true` with
 * `logprobs` on /v1/completions); the first token has no context, so it has no logprob.
 *
 * The prompt runs in pieces small enough that one piece's logits stay near 64 MB whatever
 * the vocabulary (about 110 positions of Qwen2's 151,936 tokens). Sums are in float64.
 */
import type { CausalLM } from "../models/causal_lm.js";
import { logSumExp, topIndices } from "../generation/logits_processors.js";

export interface PromptTokenLogprob {
  readonly id: number;
  readonly logprob: number;
  /** The `top` most likely tokens at this position, best first. */
  readonly top: readonly { readonly id: number; readonly logprob: number }[];
}

/** Logits of at most this many floats per forward piece. */
const LOGITS_BUDGET = 1 << 24;

/** Runs one piece of work with the model to itself (the server passes Scheduler.exclusive). */
export type Exclusive = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * One entry per prompt token: null for the first, then each token's logprob and the `top`
 * alternatives. Each piece runs through `exclusive`, so running streams go on between pieces.
 */
export async function scorePrompt(
  model: CausalLM,
  ids: readonly number[],
  top: number,
  exclusive: Exclusive = (work) => work(),
): Promise<(PromptTokenLogprob | null)[]> {
  const out: (PromptTokenLogprob | null)[] = [null];
  if (ids.length < 2) return out;
  const vocab = model.vocabSize;
  const piece = Math.max(1, Math.floor(LOGITS_BUDGET / vocab));
  // The last token predicts nothing in the prompt, so it never needs to run.
  const inputs = ids.slice(0, -1);
  const cache = model.createCache(inputs.length);
  try {
    for (let start = 0; start < inputs.length; start += piece) {
      const chunk = Int32Array.from(inputs.slice(start, start + piece));
      const [logits] = await exclusive(() => model.forward([{ ids: chunk, cache }], { allLogits: true }));
      for (let r = 0; r < chunk.length; r++) {
        const row = logits!.subarray(r * vocab, (r + 1) * vocab);
        const next = ids[start + r + 1]!;
        const lse = logSumExp(row, null);
        const alternatives = top > 0 ? Array.from(topIndices(row, top), (t) => ({ id: t, logprob: row[t]! - lse })) : [];
        out.push({ id: next, logprob: row[next]! - lse, top: alternatives });
      }
    }
  } finally {
    cache.dispose();
  }
  return out;
}
