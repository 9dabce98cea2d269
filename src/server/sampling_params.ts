/**
 * The sampling fields shared by /v1/chat/completions and /v1/completions. Defaults come
 * from generation_config.json and each field a request sets overrides its default: the
 * policy of generation/defaults.ts, the same that `qwen2 generate` applies to its flags.
 */
import type { GenerationConfig } from "../formats/config.js";
import { resolveGenerationOptions } from "../generation/defaults.js";
import type { GenerationOptions } from "../generation/sequence_generator.js";
import { invalidField } from "./errors.js";
import type { Fields } from "./validate.js";

export type RequestGeneration = Omit<GenerationOptions, "cache" | "signal" | "keepCache" | "logitsProcessors">;

/**
 * Reads temperature, top_p, max_tokens/max_completion_tokens, stop, seed, penalties and
 * logit_bias, plus llama.cpp's top_k, min_p, repeat_penalty and ignore_eos extensions.
 */
export interface SamplingFieldOptions {
  /** Fields that set the token budget, first present wins (default max_completion_tokens, max_tokens). */
  readonly maxTokenFields?: readonly string[];
  /** The smallest budget allowed (default 1; /v1/completions allows 0 to score only). */
  readonly minTokens?: number;
}

export function readSampling(
  f: Fields,
  vocabSize: number,
  generationConfig: GenerationConfig | null,
  eosIds: readonly number[],
  fieldOptions: SamplingFieldOptions = {},
): RequestGeneration {
  const temperature = f.number("temperature", 0, 2);
  const topP = f.number("top_p", 0, 1);
  const topK = f.integer("top_k", 0, vocabSize);
  const minP = f.number("min_p", 0, 1);
  const repetitionPenalty = f.number("repetition_penalty", 0.01, 10) ?? f.number("repeat_penalty", 0.01, 10);
  const minTokens = fieldOptions.minTokens ?? 1;
  let maxTokens: number | undefined;
  for (const field of fieldOptions.maxTokenFields ?? ["max_completion_tokens", "max_tokens"])
    maxTokens ??= f.integer(field, minTokens, 1 << 30);
  const seed = f.integer("seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const presencePenalty = f.number("presence_penalty", -2, 2);
  const frequencyPenalty = f.number("frequency_penalty", -2, 2);
  const stop = f.stop("stop");
  const logitBias = f.logitBias("logit_bias", vocabSize);
  // llama.cpp's extension, for benchmarks: generate max_tokens whatever the model says.
  const ignoreEos = f.boolean("ignore_eos");
  const resolved = resolveGenerationOptions(generationConfig, {
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(minP !== undefined ? { minP } : {}),
    ...(repetitionPenalty !== undefined ? { repetitionPenalty } : {}),
    ...(maxTokens !== undefined ? { maxNewTokens: maxTokens } : {}),
  });
  const o: { -readonly [K in keyof RequestGeneration]: RequestGeneration[K] } = { ...resolved, eosIds };
  if (seed !== undefined) o.seed = seed;
  if (presencePenalty !== undefined) o.presencePenalty = presencePenalty;
  if (frequencyPenalty !== undefined) o.frequencyPenalty = frequencyPenalty;
  if (stop) o.stop = stop;
  if (logitBias) o.logitBias = logitBias;
  if (ignoreEos) o.ignoreEos = true;
  return o;
}

/** `n`: how many choices, each a sequence of its own. */
export function readN(f: Fields, max: number): number {
  const n = f.integer("n", 1, 128) ?? 1;
  if (n > max) throw invalidField("n", `this server generates at most ${max} choices per request, got ${n}`);
  return n;
}

/** Choice i of a seeded request uses seed + i, so choices differ yet replay exactly. */
export function seedForChoice(o: RequestGeneration, i: number): RequestGeneration {
  return o.seed === undefined || i === 0 ? o : { ...o, seed: o.seed + i };
}
