/**
 * What the model commands (generate, chat, serve, demo, bench) share: the model flags, the
 * sampling flags (`generate` and `chat` take the same set, checked the same way) and one
 * way to load a model, announcing random weights and showing progress.
 */
import type { GenerationOverrides } from "../generation/defaults.js";
import { BACKENDS, type BackendName, type LoadedModel, type LoadOptions, type LoadProgress, type Qwen2TaskModel } from "../runtime/load.js";
import type { CausalLM } from "../models/causal_lm.js";
import type { CliIO } from "./command.js";
import { choiceFlag, intFlag, numberFlag, requiredFlag, type FlagOptions, type FlagValues } from "./flags.js";
import { progressReporter } from "./progress.js";

/** `--model`, `--backend`, `--threads`: every command that loads a model. */
export const MODEL_FLAGS = {
  model: { type: "string" },
  backend: { type: "string" },
  threads: { type: "string" },
} as const satisfies FlagOptions;

export const MODEL_FLAGS_USAGE = `  --model PATH|URL         Hugging Face model folder (config.json, *.safetensors, tokenizer files)
                           or .gguf file, on disk or at an http(s) URL
  --backend NAME           ${BACKENDS.join(" | ")} (default wasm; reference is the slow float32 oracle)
  --threads N              compute threads (wasm backend; default: all cores)`;

export interface ModelFlags {
  readonly path: string;
  readonly backend?: BackendName;
  readonly threads?: number;
}

export function readModelFlags(values: FlagValues): ModelFlags {
  const path = requiredFlag(values, "model", "DIR|FILE.gguf (a Hugging Face Qwen2 folder or a GGUF file; `qwen2 demo` makes a random one)");
  const backend = choiceFlag(values, "backend", BACKENDS);
  const threads = intFlag(values, "threads", { min: 1 });
  return { path, ...(backend !== undefined ? { backend } : {}), ...(threads !== undefined ? { threads } : {}) };
}

/** Sampling and stopping: `generate` and `chat` take the same set, checked the same way. */
export const SAMPLING_FLAGS = {
  "max-new-tokens": { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  "top-k": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  stop: { type: "string", multiple: true },
  seed: { type: "string" },
} as const satisfies FlagOptions;

export const SAMPLING_FLAGS_USAGE = `  --max-new-tokens N       most tokens to generate
  --temperature T          0 = greedy; > 0 samples (default: generation_config.json)
  --top-p P                nucleus sampling mass in [0, 1]
  --top-k K                keep the K most likely tokens (0 = off)
  --min-p P                keep tokens at least P times as likely as the best, in [0, 1]
  --repetition-penalty R   Hugging Face repetition penalty (> 0; 1 = off)
  --stop TEXT              stop string (repeatable)
  --seed S                 random seed: same seed, same text
  Sampling defaults come from the folder's generation_config.json; each flag overrides one.`;

export interface SamplingFlags {
  /** Fields that override generation_config.json (see generation/defaults.ts). */
  readonly overrides: GenerationOverrides;
  readonly seed?: number;
  readonly stop?: readonly string[];
}

export function readSamplingFlags(values: FlagValues): SamplingFlags {
  const o: { -readonly [K in keyof GenerationOverrides]: GenerationOverrides[K] } = {};
  const maxNewTokens = intFlag(values, "max-new-tokens", { min: 1 });
  const temperature = numberFlag(values, "temperature", { min: 0 });
  const topP = numberFlag(values, "top-p", { min: 0, max: 1 });
  const topK = intFlag(values, "top-k", { min: 0 });
  const minP = numberFlag(values, "min-p", { min: 0, max: 1 });
  const repetitionPenalty = numberFlag(values, "repetition-penalty", { min: 0, minExclusive: true });
  if (maxNewTokens !== undefined) o.maxNewTokens = maxNewTokens;
  if (temperature !== undefined) o.temperature = temperature;
  if (topP !== undefined) o.topP = topP;
  if (topK !== undefined) o.topK = topK;
  if (minP !== undefined) o.minP = minP;
  if (repetitionPenalty !== undefined) o.repetitionPenalty = repetitionPenalty;
  const seed = intFlag(values, "seed");
  const stop = values.stop as string[] | undefined;
  return { overrides: o, ...(seed !== undefined ? { seed } : {}), ...(stop !== undefined ? { stop } : {}) };
}

/** The message printed wherever output from random weights is shown. */
export function randomWeightsNote(path: string): string {
  return `note: ${path} holds RANDOM weights (made by \`qwen2 create-random\`): the text is noise, not a trained model's answer.\n`;
}

/**
 * Loads the model the flags name, through the loader the CLI was given (tests give a toy
 * one; the default is the runtime's `fromPretrained`), with a progress display on stderr
 * when asked (else only the loader's warnings, unless quiet), then says on stderr when the
 * weights are random and what the loader warned about.
 */
export async function loadModelFor(
  io: CliIO,
  flags: ModelFlags,
  options: { progress?: boolean; quiet?: boolean; announceRandom?: boolean } = {},
): Promise<LoadedModel> {
  const load = io.loadModel ?? (await import("../runtime/load.js")).fromPretrained;
  return loadWith(load, io, flags, options);
}

/**
 * As loadModelFor, for commands that take any class (serve: a causal LM or a sequence
 * classifier): the class config.json `architectures` names. Tests' loaders give causal LMs.
 */
export async function loadAnyModelFor(
  io: CliIO,
  flags: ModelFlags,
  options: { progress?: boolean; quiet?: boolean; announceRandom?: boolean } = {},
): Promise<LoadedModel<Qwen2TaskModel | CausalLM>> {
  const { loadPretrained } = await import("../runtime/load.js");
  const load = io.loadModel ?? ((path: string, o: LoadOptions) => loadPretrained(path, o, "auto"));
  return loadWith<Qwen2TaskModel | CausalLM>(load, io, flags, options);
}

async function loadWith<M>(
  load: (path: string, options: LoadOptions) => Promise<LoadedModel<M>>,
  io: CliIO,
  flags: ModelFlags,
  options: { progress?: boolean; quiet?: boolean; announceRandom?: boolean },
): Promise<LoadedModel<M>> {
  const loadOptions: LoadOptions = {
    ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(options.progress
      ? { onProgress: progressReporter(io.stderr, "loading") }
      : options.quiet
        ? {}
        : { onProgress: (p: LoadProgress) => void (p.phase === "warning" && io.stderr.write(`warning: ${p.message ?? ""}\n`)) }),
  };
  const loaded = await load(flags.path, loadOptions);
  if (loaded.randomWeights && options.announceRandom !== false) io.stderr.write(randomWeightsNote(flags.path));
  if (!options.quiet) for (const w of loaded.warnings ?? []) io.stderr.write(`warning: ${w}\n`);
  return loaded;
}
