/**
 * Hugging Face Qwen2 weights → a GGUF file llama.cpp runs, in F32, F16, BF16, Q8_0 or Q4_0,
 * with the metadata llama.cpp's convert_hf_to_gguf.py writes for `qwen2`:
 *
 * - `general.architecture` "qwen2"; `qwen2.*` hyperparameters; RoPE scaling (linear, yarn);
 * - llama.cpp's tensor names, no Q/K permutation (Qwen2 needs none);
 * - 1-D tensors (norms, biases) stay F32, as llama.cpp expects; every 2-D weight, the
 *   embedding and the head included, takes the requested type (for Q4_0 that is
 *   llama-quantize's `--pure`); a matrix whose rows are not a multiple of 32 falls back to
 *   F16, as convert_hf_to_gguf.py does;
 * - the tokenizer in `tokenizer.*` metadata (see gguf_qwen2_vocab.ts).
 *
 * Sliding-window layouts are stored under `qwen2.attention.sliding_window(_pattern)` so our
 * reader restores them; llama.cpp ignores those keys for qwen2 and attends over the full
 * context. Dynamic NTK RoPE has no GGUF spelling and is refused.
 */
import { InvalidArgumentError, UnsupportedError } from "../errors.js";
import { f32ToBf16, f32ToF16 } from "../tensor/convert.js";
import type { DType, WeightDType } from "../tensor/dtype.js";
import { QUANT_BLOCK } from "../tensor/dtype.js";
import { canQuantize, quantize, weightToFloat32 } from "../tensor/quant/index.js";
import type { Qwen2Config } from "./config.js";
import { GGUFWriter } from "./gguf_writer.js";
import { GGUFValueType, LLAMA_FILE_TYPE } from "./gguf_types.js";
import { ggufTensorOrder, hfToGgufName } from "./gguf_qwen2_names.js";
import type { TokenizerData } from "../tokenizer/loader.js";
import { buildGGUFVocab } from "./gguf_qwen2_vocab.js";
import { RANDOM_WEIGHTS_KEY } from "./gguf_qwen2.js";
import type { HostTensor, WeightSource } from "./weights.js";

export type GGUFExportType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0";
export const GGUF_EXPORT_TYPES: readonly GGUFExportType[] = ["f32", "f16", "bf16", "q8_0", "q4_0"];

export interface Qwen2GGUFExportInput {
  readonly config: Qwen2Config;
  readonly weights: WeightSource;
  /**
   * The tokenizer to embed, as `readTokenizerFolder` reads a Hugging Face folder; null writes
   * a file without one (our reader runs it, llama.cpp does not).
   */
  readonly tokenizer: TokenizerData | null;
  readonly type: GGUFExportType;
  /** general.name, e.g. the model folder's name. */
  readonly name?: string;
}

/** A GGUF file ready to stream (`writer.chunks()`), and what it will hold. */
export interface Qwen2GGUFBuild {
  readonly writer: GGUFWriter;
  readonly type: GGUFExportType;
  /** GGUF tensor name → storage type written. */
  readonly tensorTypes: ReadonlyMap<string, DType>;
}

/** The storage type llama.cpp's converter picks for a tensor. */
export function ggufTensorType(ggufName: string, shape: readonly number[], type: GGUFExportType): WeightDType {
  if (shape.length <= 1 || ggufName.endsWith("_norm.weight")) return "f32";
  if ((type === "q8_0" || type === "q4_0") && shape[shape.length - 1]! % QUANT_BLOCK !== 0) return "f16";
  return type;
}

/** Re-encodes a tensor's values in `target` (a plain copy when it already is). */
export function encodeTensor(src: HostTensor, target: WeightDType): Uint8Array {
  if (src.dtype === target) return src.data;
  if (src.dtype !== "f32" && src.dtype !== "f16" && src.dtype !== "bf16" && src.dtype !== "q8_0" && src.dtype !== "q4_0") {
    throw new UnsupportedError(`tensor '${src.name}': cannot convert ${src.dtype} to ${target}`);
  }
  let n = 1;
  for (const d of src.shape) n *= d;
  const values = weightToFloat32(src.dtype, src.data, n);
  switch (target) {
    case "f32":
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case "f16":
    case "bf16": {
      const half = new Uint16Array(n);
      const conv = target === "f16" ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < n; i++) half[i] = conv(values[i]!);
      return new Uint8Array(half.buffer);
    }
    default:
      if (!canQuantize(target)) throw new UnsupportedError(`tensor '${src.name}': cannot write ${target}`);
      return quantize(target, values);
  }
}

function writeHyperparameters(w: GGUFWriter, config: Qwen2Config): void {
  const a = "qwen2";
  w.u32(`${a}.block_count`, config.num_hidden_layers);
  w.u32(`${a}.context_length`, config.max_position_embeddings);
  w.u32(`${a}.embedding_length`, config.hidden_size);
  w.u32(`${a}.feed_forward_length`, config.intermediate_size);
  w.u32(`${a}.attention.head_count`, config.num_attention_heads);
  w.u32(`${a}.attention.head_count_kv`, config.num_key_value_heads);
  w.f32(`${a}.rope.freq_base`, config.rope_theta);
  w.f32(`${a}.attention.layer_norm_rms_epsilon`, config.rms_norm_eps);
  if (config.head_dim * config.num_attention_heads !== config.hidden_size) {
    w.u32(`${a}.attention.key_length`, config.head_dim);
    w.u32(`${a}.attention.value_length`, config.head_dim);
  }
  const rs = config.rope_scaling;
  if (rs && rs.rope_type !== "default") {
    if (rs.rope_type === "dynamic") {
      throw new UnsupportedError("rope_scaling type 'dynamic' (dynamic NTK) has no GGUF representation; llama.cpp cannot run it");
    }
    if (
      rs.rope_type === "yarn" &&
      (rs.attention_factor !== undefined || rs.mscale !== undefined || rs.mscale_all_dim !== undefined || rs.truncate === false)
    ) {
      throw new UnsupportedError(
        "yarn rope_scaling with attention_factor, mscale, mscale_all_dim or truncate=false has no GGUF representation for qwen2",
      );
    }
    w.string(`${a}.rope.scaling.type`, rs.rope_type);
    w.f32(`${a}.rope.scaling.factor`, rs.factor);
    if (rs.rope_type === "yarn") {
      if (rs.original_max_position_embeddings !== undefined)
        w.u32(`${a}.rope.scaling.original_context_length`, rs.original_max_position_embeddings);
      if (rs.beta_fast !== undefined) w.f32(`${a}.rope.scaling.yarn_beta_fast`, rs.beta_fast);
      if (rs.beta_slow !== undefined) w.f32(`${a}.rope.scaling.yarn_beta_slow`, rs.beta_slow);
    }
  }
  if (config.layer_types.includes("sliding_attention")) {
    if (config.sliding_window === null) throw new InvalidArgumentError("config has sliding layers but no sliding_window");
    w.u32(`${a}.attention.sliding_window`, config.sliding_window);
    w.set(
      `${a}.attention.sliding_window_pattern`,
      GGUFValueType.ARRAY,
      config.layer_types.map((t) => t === "sliding_attention"),
      GGUFValueType.BOOL,
    );
  }
}

function writeTokenizer(w: GGUFWriter, config: Qwen2Config, files: TokenizerData): void {
  const single = (ids: readonly number[]): number | null => (ids.length === 1 ? ids[0]! : null);
  const vocab = buildGGUFVocab(files, config.vocab_size, {
    eos: single(config.eos_token_id),
    bos: config.bos_token_id,
    pad: config.pad_token_id,
  });
  w.string("tokenizer.ggml.model", "gpt2");
  w.string("tokenizer.ggml.pre", "qwen2");
  w.strings("tokenizer.ggml.tokens", vocab.tokens);
  w.i32s("tokenizer.ggml.token_type", vocab.tokenTypes);
  w.strings("tokenizer.ggml.merges", vocab.merges);
  if (vocab.eosTokenId !== null) w.u32("tokenizer.ggml.eos_token_id", vocab.eosTokenId);
  if (vocab.padTokenId !== null) w.u32("tokenizer.ggml.padding_token_id", vocab.padTokenId);
  if (vocab.bosTokenId !== null) w.u32("tokenizer.ggml.bos_token_id", vocab.bosTokenId);
  w.bool("tokenizer.ggml.add_bos_token", vocab.addBosToken);
  if (vocab.chatTemplate !== null) w.string("tokenizer.chat_template", vocab.chatTemplate);
}

/**
 * `input` as a GGUF file, ready to stream: tensors are read and encoded only as
 * `writer.chunks()` reaches them. `writeQwen2GGUF` in node/ writes it to a path.
 */
export function buildQwen2GGUF(input: Qwen2GGUFExportInput): Qwen2GGUFBuild {
  const { config, weights, type } = input;
  if (!GGUF_EXPORT_TYPES.includes(type))
    throw new InvalidArgumentError(`unknown GGUF type '${type}' (expected one of ${GGUF_EXPORT_TYPES.join(", ")})`);

  // Map every stored tensor; anything llama.cpp has no name for is an error, not a silent drop.
  const hfByGguf = new Map<string, string>();
  for (const name of weights.names()) {
    if (name.endsWith("rotary_emb.inv_freq")) continue; // recomputed from the config
    if (name === "lm_head.weight" && config.tie_word_embeddings) continue; // the head is the embedding
    const g = hfToGgufName(name);
    if (g === undefined) throw new UnsupportedError(`${weights.location}: tensor '${name}' has no llama.cpp name for qwen2`);
    const layer = /^blk\.(\d+)\./.exec(g);
    if (layer && Number(layer[1]) >= config.num_hidden_layers) {
      throw new InvalidArgumentError(
        `${weights.location}: tensor '${name}' belongs to layer ${layer[1]}, but the config has ${config.num_hidden_layers} layers`,
      );
    }
    hfByGguf.set(g, name);
  }
  if (!hfByGguf.has("token_embd.weight"))
    throw new InvalidArgumentError(`${weights.location}: tensor 'model.embed_tokens.weight' is missing`);

  const w = new GGUFWriter();
  w.string("general.architecture", "qwen2");
  w.string("general.type", "model");
  if (input.name) w.string("general.name", input.name);
  // Random weights stay labelled across formats, so a GGUF made from a create-random folder
  // is flagged wherever its output is shown (a key of our own; llama.cpp ignores it).
  if (config.qwen2_ts_random_weights === true) w.bool(RANDOM_WEIGHTS_KEY, true);
  writeHyperparameters(w, config);
  w.u32("general.file_type", LLAMA_FILE_TYPE[type]);
  w.u32("general.quantization_version", 2);
  if (input.tokenizer) writeTokenizer(w, config, input.tokenizer);

  const tensorTypes = new Map<string, DType>();
  for (const g of ggufTensorOrder(config.num_hidden_layers)) {
    const hf = hfByGguf.get(g);
    if (hf === undefined) continue;
    const info = weights.info(hf);
    const target = ggufTensorType(g, info.shape, type);
    tensorTypes.set(g, target);
    w.addTensor(g, target, info.shape, async () => encodeTensor(await weights.read(hf), target));
  }
  return { writer: w, type, tensorTypes };
}
