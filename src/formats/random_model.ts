/**
 * Random Qwen2 models in exact Hugging Face layout, for tests, benchmarks and demos:
 * config.json (the real preset's values, labelled `qwen2_ts_random_weights: true`),
 * generation_config.json, model.safetensors and the embedded tokenizer's files.
 *
 * Weights are deterministic for a seed: each tensor has its own generator seeded from the
 * seed and the tensor name, so a tensor's values do not depend on which others exist.
 * Linear weights, biases and embeddings are normal(0, 0.02) (Hugging Face's
 * initializer_range); RMSNorm weights are 1 + normal(0, 0.02), so norms are ~1 but not
 * trivially so. Normal samples come from a fixed table of 65536 normal draws indexed by a
 * fast 32-bit generator: good enough for random weights and ~10x faster than Box-Muller,
 * which matters for 0.5B-parameter presets.
 *
 * Tensors are generated in chunks and streamed to disk in the target dtype, so memory stays
 * at one chunk, never a whole tensor in float32.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors.js";
import { f32ToF16 } from "../tensor/convert.js";
import type { FloatDType } from "../tensor/dtype.js";
import type { Qwen2Config } from "./config.js";
import { parseQwen2Config } from "./config_parse.js";
import { qwen2ExpectedTensors } from "./qwen2_tensors.js";
import { writeSafetensors, type TensorToWrite } from "./safetensors_writer.js";
import { writeEmbeddedTokenizer, type EmbeddedTokenizerName } from "./tokenizer_files.js";

export type RandomPreset = "tiny" | "qwen2-0.5b" | "qwen2.5-0.5b" | "qwen2-1.5b";
export const RANDOM_PRESETS: readonly RandomPreset[] = ["tiny", "qwen2-0.5b", "qwen2.5-0.5b", "qwen2-1.5b"];

interface PresetSpec {
  readonly tokenizer: EmbeddedTokenizerName;
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

// ---------------------------------------------------------------- deterministic numbers

/** FNV-1a of a string, for per-tensor seeds. */
function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: a small, fast, well-mixed 32-bit generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

let normalTable: Float32Array | null = null;
/** 65536 standard normal draws (Box-Muller from a fixed seed), built once. */
function getNormalTable(): Float32Array {
  if (normalTable) return normalTable;
  const table = new Float32Array(65536);
  const rng = mulberry32(0x5eed);
  for (let i = 0; i < table.length; i += 2) {
    const u1 = (rng() + 1) / 4294967297;
    const u2 = rng() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    table[i] = r * Math.cos(2 * Math.PI * u2);
    table[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  normalTable = table;
  return table;
}

const CHUNK_ELEMENTS = 1 << 20;

/**
 * Yields the tensor's bytes in chunks of at most 1M elements: `mean + std * normal`,
 * rounded to `dtype` (round to nearest even, as PyTorch's casts).
 */
export function* randomTensorChunks(name: string, count: number, dtype: FloatDType, seed: number, mean: number, std: number): Generator<Uint8Array> {
  const table = getNormalTable();
  const rng = mulberry32(hashString(name, seed));
  const f32 = new Float32Array(Math.min(CHUNK_ELEMENTS, Math.max(count, 1)));
  const bits = new Uint32Array(f32.buffer);
  for (let start = 0; start < count; start += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, count - start);
    for (let i = 0; i < n; i += 2) {
      const r = rng();
      f32[i] = mean + std * table[r & 0xffff]!;
      if (i + 1 < n) f32[i + 1] = mean + std * table[r >>> 16]!;
    }
    if (dtype === "f32") {
      yield new Uint8Array(f32.buffer, 0, n * 4).slice();
    } else {
      const out = new Uint16Array(n);
      if (dtype === "bf16") {
        for (let i = 0; i < n; i++) {
          const x = bits[i]!;
          out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff; // values are finite here
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = f32ToF16(f32[i]!);
      }
      yield new Uint8Array(out.buffer);
    }
  }
}

// ---------------------------------------------------------------- the model folder

export interface RandomModelOptions {
  readonly preset: RandomPreset;
  readonly dtype: FloatDType;
  readonly outDir: string;
  readonly seed?: number;
  /** Where the embedded tokenizers live (tests may point elsewhere). */
  readonly tokenizerAssets?: string;
}

export interface RandomModelResult {
  readonly dir: string;
  readonly config: Qwen2Config;
  readonly parameters: number;
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

/** Writes a complete random model folder; returns its resolved config and sizes. */
export function createRandomModel(opts: RandomModelOptions): RandomModelResult {
  const spec = PRESETS[opts.preset];
  if (!spec) throw new InvalidArgumentError(`unknown preset '${String(opts.preset)}' (choose one of ${RANDOM_PRESETS.join(", ")})`);
  if (!(opts.dtype in TORCH_DTYPE)) throw new InvalidArgumentError(`unsupported dtype '${String(opts.dtype)}' (f32, bf16 or f16)`);
  const seed = (opts.seed ?? 0) >>> 0;
  mkdirSync(opts.outDir, { recursive: true });

  const tokenizerVocab = writeEmbeddedTokenizer(spec.tokenizer, opts.outDir, opts.tokenizerAssets);
  const configJson = randomPresetConfig(opts.preset, opts.dtype, tokenizerVocab, seed);
  const configPath = join(opts.outDir, "config.json");
  const config = parseQwen2Config(configJson, configPath);
  if (config.vocab_size < tokenizerVocab) {
    throw new InvalidArgumentError(`preset ${opts.preset}: vocab_size ${config.vocab_size} is smaller than the tokenizer's ${tokenizerVocab} ids`);
  }

  const tensors: TensorToWrite[] = [];
  let parameters = 0;
  let bytes = 0;
  for (const e of qwen2ExpectedTensors(config)) {
    if (!e.required) continue; // tied head: not stored, as Hugging Face saves it
    const count = e.shape.reduce((a, b) => a * b, 1);
    const isNorm = e.name.endsWith("layernorm.weight") || e.name === "model.norm.weight";
    parameters += count;
    bytes += count * (opts.dtype === "f32" ? 4 : 2);
    tensors.push({
      name: e.name,
      dtype: opts.dtype,
      shape: e.shape,
      data: () => randomTensorChunks(e.name, count, opts.dtype, seed, isNorm ? 1 : 0, 0.02),
    });
  }
  writeSafetensors(join(opts.outDir, "model.safetensors"), tensors, { format: "pt", qwen2_ts_random_weights: "true" });
  writeFileSync(configPath, JSON.stringify(configJson, null, 2) + "\n");
  writeFileSync(join(opts.outDir, "generation_config.json"), JSON.stringify(spec.generation, null, 2) + "\n");
  return { dir: opts.outDir, config, parameters, bytes };
}
