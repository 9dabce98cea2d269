/**
 * The one place where a model folder's generation_config.json meets what a caller asks for.
 * `qwen2 generate`, `qwen2 chat`, `qwen2 serve` and library users all go through
 * {@link resolveGenerationOptions}, so one folder and one request sample the same tokens
 * whichever way they are run:
 *
 *   const options = resolveGenerationOptions(m.generationConfig, { temperature: 0.9 });
 *   await generate(m.model, m.tokenizer, messages, { ...options, seed: 1, eosIds: m.eosIds });
 *
 * The policy (the way vLLM's `--generation-config auto` works, with transformers' reading
 * of `do_sample`):
 * 1. generation_config.json supplies the defaults, read as transformers' `generate` reads
 *    it: `do_sample` absent or false → greedy; `do_sample: true` → its `temperature`,
 *    `top_k` (50 when absent, transformers' default), `top_p` and `min_p`.
 *    `repetition_penalty` and `max_new_tokens` apply either way.
 * 2. Every field the caller sets (a CLI flag, a request field) overrides its default.
 *    Setting temperature, top_p, top_k or min_p turns sampling on; temperature 0 is greedy.
 * 3. Where neither says anything, decoding is greedy, as `model.generate()` is. This differs
 *    from OpenAI's API, whose default temperature is 1: a client that wants sampling from a
 *    model without a sampling generation_config.json sends a temperature.
 */
import type { GenerationConfig } from "../formats/config.js";
import type { GenerationOptions } from "./sequence_generator.js";

/** transformers' GenerationConfig default for `top_k`, in force whenever sampling is on. */
export const HF_DEFAULT_TOP_K = 50;

/** The fields generation_config.json can set. */
export type GenerationDefaults = Pick<
  GenerationOptions,
  "doSample" | "temperature" | "topK" | "topP" | "minP" | "repetitionPenalty" | "maxNewTokens"
>;

/** What a caller sets explicitly; `undefined` means "not given, use the default". */
export type GenerationOverrides = Pick<GenerationOptions, "temperature" | "topK" | "topP" | "minP" | "repetitionPenalty" | "maxNewTokens">;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** generation_config.json → defaults, as transformers' `generate` reads it (rule 1 above). */
export function optionsFromGenerationConfig(gc: GenerationConfig | null | undefined): GenerationDefaults {
  if (!gc) return {};
  const out: Mutable<GenerationDefaults> = {};
  if (gc.max_new_tokens !== undefined) out.maxNewTokens = gc.max_new_tokens;
  if (gc.repetition_penalty !== undefined && gc.repetition_penalty !== 1) out.repetitionPenalty = gc.repetition_penalty;
  if (gc.do_sample) {
    out.doSample = true;
    if (gc.temperature !== undefined) out.temperature = gc.temperature;
    out.topK = gc.top_k ?? HF_DEFAULT_TOP_K;
    if (gc.top_p !== undefined) out.topP = gc.top_p;
    if (gc.min_p !== undefined) out.minP = gc.min_p;
  } else {
    out.doSample = false;
  }
  return out;
}

/**
 * generation_config.json's defaults (rule 1), overridden field by field by what the caller
 * set (rules 2 and 3 above).
 */
export function resolveGenerationOptions(
  generationConfig: GenerationConfig | null | undefined,
  overrides: GenerationOverrides = {},
): GenerationDefaults {
  const out: Mutable<GenerationDefaults> = optionsFromGenerationConfig(generationConfig);
  for (const key of ["temperature", "topK", "topP", "minP", "repetitionPenalty", "maxNewTokens"] as const) {
    const v = overrides[key];
    if (v !== undefined) out[key] = v;
  }
  const asksToSample =
    overrides.temperature !== undefined || overrides.topK !== undefined || overrides.topP !== undefined || overrides.minP !== undefined;
  if (asksToSample) out.doSample = overrides.temperature !== 0;
  // Greedy needs no warpers; dropping them keeps the options honest about what runs.
  if (out.doSample === false || out.temperature === 0) {
    out.doSample = false;
    delete out.temperature;
    delete out.topK;
    delete out.topP;
    delete out.minP;
  }
  return out;
}
