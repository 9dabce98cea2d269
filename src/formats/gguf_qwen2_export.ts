/**
 * Hugging Face Qwen2 weights → a GGUF file llama.cpp runs, in any of llama-quantize's presets
 * (F32, F16, BF16, Q8_0, the legacy Q4_0 … Q5_1 and the K-quant mixtures Q2_K … Q6_K), with
 * the metadata llama.cpp's convert_hf_to_gguf.py writes for `qwen2`:
 *
 * - `general.architecture` "qwen2"; `qwen2.*` hyperparameters; RoPE scaling (linear, yarn);
 * - llama.cpp's tensor names, no Q/K permutation (Qwen2 needs none);
 * - each tensor in the type llama-quantize's preset gives it (gguf_quant_presets.ts: norms
 *   and biases f32, the head Q6_K, more bits for attn_v/ffn_down in the _M mixtures, block
 *   fallbacks for rows that are not a multiple of 256); `pure` gives every quantised tensor
 *   the preset's base type, as llama-quantize's `--pure`;
 * - the tokenizer in `tokenizer.*` metadata (see gguf_qwen2_vocab.ts).
 *
 * Sliding-window layouts are stored under `qwen2.attention.sliding_window(_pattern)` so our
 * reader restores them; llama.cpp ignores those keys for qwen2 and attends over the full
 * context. Dynamic NTK RoPE has no GGUF spelling and is refused.
 */
import { InvalidArgumentError, UnsupportedError } from "../errors.js";
import { f32ToBf16, f32ToF16 } from "../tensor/convert.js";
import { bitsPerWeight, type DType, isQuantized, isWeightDType, type WeightDType } from "../tensor/dtype.js";
import { canQuantize, quantize, weightToFloat32, type WritableQuantDType } from "../tensor/quant/index.js";
import type { Qwen2Config } from "./config.js";
import { GGUFWriter } from "./gguf_writer.js";
import { type GGUFEntry, GGUFValueType } from "./gguf_types.js";
import { ggufTensorOrder, hfToGgufName } from "./gguf_qwen2_names.js";
import type { TokenizerData } from "../tokenizer/loader.js";
import { buildGGUFVocab } from "./gguf_qwen2_vocab.js";
import { RANDOM_WEIGHTS_KEY } from "./gguf_qwen2.js";
import {
  isQuantizable,
  LLAMA_FTYPE,
  type PresetModel,
  presetBaseType,
  presetModelOf,
  presetTensorType,
  QUANT_PRESETS,
  type QuantPreset,
  shapeFallback,
} from "./gguf_quant_presets.js";
import type { HostTensor, WeightSource } from "./weights.js";

export type GGUFExportType = QuantPreset;
export const GGUF_EXPORT_TYPES: readonly GGUFExportType[] = QUANT_PRESETS;

export interface Qwen2GGUFExportInput {
  readonly config: Qwen2Config;
  readonly weights: WeightSource;
  /**
   * The tokenizer to embed, as `readTokenizerFolder` reads a Hugging Face folder; null writes
   * a file without one (our reader runs it, llama.cpp does not).
   */
  readonly tokenizer: TokenizerData | null;
  readonly type: GGUFExportType;
  /** Every quantised tensor in the preset's base type (llama-quantize's `--pure`), shape fallbacks aside. */
  readonly pure?: boolean;
  /**
   * When re-quantising a GGUF file: its metadata, copied as llama-quantize copies it (the
   * tokenizer and hyperparameters as they are) instead of being written from `config` and
   * `tokenizer`; only general.file_type and general.quantization_version change.
   */
  readonly metadata?: ReadonlyMap<string, GGUFEntry>;
  /**
   * Allows writing a block-quantised tensor in a type with more bits per weight than it has
   * (llama-quantize's `--allow-requantize`): the bits lost are not restored, the file only grows.
   */
  readonly allowRequantize?: boolean;
  /**
   * Quantises float32 rows (`cols` weights each) as `quantize(dtype, values)` does, e.g. on
   * worker threads (src/node/quantize_pool.ts). When given, the next two tensors are read
   * and encoded while one is written.
   */
  readonly quantizer?: (dtype: WritableQuantDType, values: Float32Array, cols: number) => Promise<Uint8Array>;
  /** general.name, e.g. the model folder's name. */
  readonly name?: string;
}

/** A GGUF file ready to stream (`writer.chunks()`), and what it will hold. */
export interface Qwen2GGUFBuild {
  readonly writer: GGUFWriter;
  readonly type: GGUFExportType;
  /** GGUF tensor name → storage type written. */
  readonly tensorTypes: ReadonlyMap<string, DType>;
  /** GGUF tensor name → shape (PyTorch order). */
  readonly tensorShapes: ReadonlyMap<string, readonly number[]>;
}

/**
 * The storage type `type` gives a tensor: llama-quantize's per-tensor choice for qwen2
 * (gguf_quant_presets.ts). Without the model's facts (layers, heads, tied head) it answers
 * as for a one-layer model with an untied head.
 */
export function ggufTensorType(
  ggufName: string,
  shape: readonly number[],
  type: GGUFExportType,
  model: PresetModel = { layers: 1, heads: 1, kvHeads: 1, tiedHead: false },
  pure = false,
): WeightDType {
  if (!pure) return presetTensorType(type, ggufName, shape, model);
  if (!isQuantizable(ggufName, shape)) return "f32";
  return shapeFallback(presetBaseType(type), shape[shape.length - 1]!);
}

/**
 * The order llama-quantize writes tensors in: by layer (the global tensors first), then by
 * name within a layer, as its loader's tensor map sorts them.
 */
export function llamaQuantizeOrder(names: readonly string[]): string[] {
  const layer = (n: string): number => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  return [...names].sort((a, b) => layer(a) - layer(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Re-encodes a tensor's values in `target` (a plain copy when it already is). */
export function encodeTensor(src: HostTensor, target: WeightDType): Uint8Array {
  return encodeWith(src, target, null) as Uint8Array;
}

type Quantizer = NonNullable<Qwen2GGUFExportInput["quantizer"]>;

/** encodeTensor with block quantisation handed to `quantizer` when there is one. */
function encodeWith(src: HostTensor, target: WeightDType, quantizer: Quantizer | null): Uint8Array | Promise<Uint8Array> {
  if (src.dtype === target) return src.data;
  if (!isWeightDType(src.dtype)) {
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
      return quantizer ? quantizer(target, values, src.shape[src.shape.length - 1]!) : quantize(target, values);
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
  const model = presetModelOf(config);
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
  if (input.metadata) {
    for (const [key, e] of input.metadata) if (key !== "general.alignment") w.set(key, e.type, e.value, e.itemType);
  } else {
    w.string("general.architecture", "qwen2");
    w.string("general.type", "model");
    if (input.name) w.string("general.name", input.name);
    // Random weights stay labelled across formats, so a GGUF made from a create-random folder
    // is flagged wherever its output is shown (a key of our own; llama.cpp ignores it).
    if (config.qwen2_ts_random_weights === true) w.bool(RANDOM_WEIGHTS_KEY, true);
    writeHyperparameters(w, config);
  }
  w.u32("general.file_type", LLAMA_FTYPE[type]);
  w.u32("general.quantization_version", 2);
  if (!input.metadata && input.tokenizer) writeTokenizer(w, config, input.tokenizer);

  const tensorTypes = new Map<string, DType>();
  const tensorShapes = new Map<string, readonly number[]>();
  // Float files in the order convert_hf_to_gguf.py writes them, quantised ones in llama-quantize's.
  const convertOrder = ggufTensorOrder(config.num_hidden_layers);
  const order = presetBaseType(type) === type && !isQuantized(type) ? convertOrder : llamaQuantizeOrder(convertOrder);
  // Tensor encoders, started in order; with a parallel quantiser the next ones start early.
  const jobs: Array<() => Promise<Uint8Array>> = [];
  const started = new Map<number, Promise<Uint8Array>>();
  const ahead = input.quantizer ? 2 : 0;
  const start = (k: number): Promise<Uint8Array> => {
    let p = started.get(k);
    if (!p) {
      p = jobs[k]!();
      p.catch(() => {}); // awaited when its turn comes; not an unhandled rejection meanwhile
      started.set(k, p);
    }
    return p;
  };
  for (const g of order) {
    const hf = hfByGguf.get(g);
    if (hf === undefined) continue;
    const info = weights.info(hf);
    const target = ggufTensorType(g, info.shape, type, model, input.pure === true);
    if (isQuantized(info.dtype) && target !== info.dtype && bitsPerWeight(target) > bitsPerWeight(info.dtype) && !input.allowRequantize) {
      throw new InvalidArgumentError(
        `${weights.location}: tensor '${g}' is stored as ${info.dtype}; ${type} would write it as ${target}, ` +
          `which spends more bits without restoring what ${info.dtype} lost. Quantise the original model instead, or allow re-quantising (--allow-requantize).`,
      );
    }
    tensorTypes.set(g, target);
    tensorShapes.set(g, info.shape);
    jobs.push(async () => encodeWith(await weights.read(hf), target, input.quantizer ?? null));
    const i = jobs.length - 1;
    w.addTensor(g, target, info.shape, () => {
      for (let k = i; k < Math.min(jobs.length, i + 1 + ahead); k++) start(k);
      const p = start(i);
      started.delete(i);
      return p;
    });
  }
  return { writer: w, type, tensorTypes, tensorShapes };
}
