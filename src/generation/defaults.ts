/**
 * Sampling defaults a model folder asks for in generation_config.json, read the way
 * transformers' `generate` reads them, so `qwen2 generate` without flags behaves as
 * `model.generate(...)` would in Python.
 */
import type { GenerationConfig } from "../formats/config.js";
import type { GenerationOptions } from "./sequence_generator.js";

/** transformers' GenerationConfig default for `top_k`, in force whenever sampling is on. */
export const HF_DEFAULT_TOP_K = 50;

export function optionsFromGenerationConfig(gc: GenerationConfig | null | undefined): GenerationOptions {
  if (!gc) return {};
  const out: { -readonly [K in keyof GenerationOptions]?: GenerationOptions[K] } = {};
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
