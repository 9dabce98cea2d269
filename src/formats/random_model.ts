/**
 * Random Qwen2 models in exact Hugging Face layout, for tests, benchmarks and demos:
 * config.json (the real preset's values, labelled `qwen2_ts_random_weights: true`),
 * generation_config.json, model.safetensors and the embedded tokenizer's files, as texts and
 * lazily generated tensors; `createRandomModel` in node/ writes them to a folder.
 *
 * Weights come from tensor/random.ts (normal(0, 0.02), Hugging Face's initializer_range;
 * RMSNorm weights 1 + normal(0, 0.02)), the generator `RandomQwen2Weights` uses too, so a
 * seed gives the same model on disk and in memory. Tensors are generated in chunks in the
 * target dtype, so memory stays at one chunk, never a whole tensor in float32.
 */
import { InvalidArgumentError } from "../errors.js";
import type { FloatDType } from "../tensor/dtype.js";
import { DEFAULT_RANDOM_STD, randomWeightChunks } from "../tensor/random.js";
import { embeddedTokenizerFiles, type EmbeddedTokenizer } from "../tokenizer/embedded.js";
import type { Qwen2Config } from "./config.js";
import { parseQwen2Config } from "./config_parse.js";
import { qwen2ExpectedTensors } from "./qwen2_tensors.js";
import type { TensorToWrite } from "./safetensors_writer.js";

export type RandomPreset = "tiny" | "qwen2-0.5b" | "qwen2.5-0.5b" | "qwen2-1.5b";
export const RANDOM_PRESETS: readonly RandomPreset[] = ["tiny", "qwen2-0.5b", "qwen2.5-0.5b", "qwen2-1.5b"];

interface PresetSpec {
  readonly tokenizer: EmbeddedTokenizer;
  /** config.json fields; vocab_size null means "the tokenizer's full vocabulary". */
  readonly config: Record<string, unknown> & { vocab_size: number | null };
  readonly generation: Record<string, unknown>;
}

const QWEN_IDS = { bos_token_id: 151643, eos_token_id: 151643 };
const BASE_GENERATION = { bos_token_id: 151643, do_sample: false, eos_token_id: 151643, max_new_tokens: 2048 };

/** Values as published in the Qwen/Qwen2-0.5B, Qwen/Qwen2.5-0.5B and Qwen/Qwen2-1.5B config.json files. */
const PRESETS: Record<RandomPreset, PresetSpec> = {
  tiny: {
    tokenizer: "qwen2.5",
    config: {
      vocab_size: null,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 32768,
      max_window_layers: 2,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      ...QWEN_IDS,
    },
    generation: BASE_GENERATION,
  },
  "qwen2-0.5b": {
    tokenizer: "qwen2",
    config: {
      vocab_size: 151936,
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      max_position_embeddings: 131072,
      max_window_layers: 24,
      rope_theta: 1000000.0,
      sliding_window: 131072,
      tie_word_embeddings: true,
      ...QWEN_IDS,
    },
    generation: BASE_GENERATION,
  },
  "qwen2.5-0.5b": {
    tokenizer: "qwen2.5",
    config: {
      vocab_size: 151936,
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      ...QWEN_IDS,
    },
    generation: BASE_GENERATION,
  },
  "qwen2-1.5b": {
    tokenizer: "qwen2",
    config: {
      vocab_size: 151936,
      hidden_size: 1536,
      intermediate_size: 8960,
      num_hidden_layers: 28,
      num_attention_heads: 12,
      num_key_value_heads: 2,
      max_position_embeddings: 131072,
      max_window_layers: 28,
      rope_theta: 1000000.0,
      sliding_window: 131072,
      tie_word_embeddings: true,
      ...QWEN_IDS,
    },
    generation: BASE_GENERATION,
  },
};

const TORCH_DTYPE: Record<FloatDType, string> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

// ---------------------------------------------------------------- the model folder

export interface RandomModelOptions {
  readonly preset: RandomPreset;
  readonly dtype: FloatDType;
  readonly seed?: number;
}

/** A random model folder's contents, before anything is written. */
export interface RandomModel {
  readonly config: Qwen2Config;
  /** Text files by name: config.json, generation_config.json and the tokenizer's files. */
  readonly files: Readonly<Record<string, string>>;
  /** model.safetensors: its tensors (generated when the writer reaches them) and metadata. */
  readonly tensors: readonly TensorToWrite[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly parameters: number;
  /** Bytes of weights. */
  readonly bytes: number;
}

/** The config.json object written for a preset (the tokenizer decides tiny's vocabulary). */
export function randomPresetConfig(preset: RandomPreset, dtype: FloatDType, tokenizerVocab: number, seed: number): Record<string, unknown> {
  const spec = PRESETS[preset];
  return {
    architectures: ["Qwen2ForCausalLM"],
    attention_dropout: 0.0,
    hidden_act: "silu",
    initializer_range: 0.02,
    model_type: "qwen2",
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    torch_dtype: TORCH_DTYPE[dtype],
    use_cache: true,
    use_sliding_window: false,
    ...spec.config,
    vocab_size: spec.config.vocab_size ?? tokenizerVocab,
    qwen2_ts_random_weights: true,
    qwen2_ts_random_seed: seed,
    qwen2_ts_preset: preset,
  };
}

/** The contents of a random model folder for `opts` (see the file header). */
export async function randomModel(opts: RandomModelOptions): Promise<RandomModel> {
  const spec = PRESETS[opts.preset];
  if (!spec) throw new InvalidArgumentError(`unknown preset '${String(opts.preset)}' (choose one of ${RANDOM_PRESETS.join(", ")})`);
  if (!(opts.dtype in TORCH_DTYPE)) throw new InvalidArgumentError(`unsupported dtype '${String(opts.dtype)}' (f32, bf16 or f16)`);
  const seed = (opts.seed ?? 0) >>> 0;

  const tokenizer = await embeddedTokenizerFiles(spec.tokenizer);
  const configJson = randomPresetConfig(opts.preset, opts.dtype, tokenizer.vocabSize, seed);
  const config = parseQwen2Config(configJson, "config.json");
  if (config.vocab_size < tokenizer.vocabSize) {
    throw new InvalidArgumentError(
      `preset ${opts.preset}: vocab_size ${config.vocab_size} is smaller than the tokenizer's ${tokenizer.vocabSize} ids`,
    );
  }

  const tensors: TensorToWrite[] = [];
  let parameters = 0;
  let bytes = 0;
  for (const e of qwen2ExpectedTensors(config)) {
    if (!e.required) continue; // tied head: not stored, as Hugging Face saves it
    const count = e.shape.reduce((a, b) => a * b, 1);
    parameters += count;
    bytes += count * (opts.dtype === "f32" ? 4 : 2);
    tensors.push({
      name: e.name,
      dtype: opts.dtype,
      shape: e.shape,
      data: () => randomWeightChunks(e.name, count, opts.dtype, seed, DEFAULT_RANDOM_STD),
    });
  }
  return {
    config,
    files: {
      ...tokenizer.files,
      "config.json": `${JSON.stringify(configJson, null, 2)}\n`,
      "generation_config.json": `${JSON.stringify(spec.generation, null, 2)}\n`,
    },
    tensors,
    metadata: { format: "pt", qwen2_ts_random_weights: "true" },
    parameters,
    bytes,
  };
}
