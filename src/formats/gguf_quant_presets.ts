/**
 * The quantisation presets of llama.cpp's `llama-quantize` (Q4_K_M, Q5_K_S, Q8_0, F16 …) and
 * the storage type each one gives each tensor of a Qwen2 model: our port of llama.cpp's
 * `llama_tensor_get_type` (src/llama-quant.cpp) for the qwen2 architecture, so that a file
 * we write has llama.cpp's layout tensor for tensor.
 *
 * The rules, per tensor (GGUF names; n = layers, i = the tensor's layer):
 * - 1-D tensors, norms and biases are not quantised: they stay f32.
 * - The float presets (f32, f16, bf16) store every other tensor in their type.
 * - The head (`output.weight`, or `token_embd.weight` when the head is tied to it) gets Q6_K
 *   (Q8_0 for the Q8_0 preset), or Q8_0 when its rows are not a multiple of the preset's
 *   block size.
 * - Mixtures (the _S/_M/_L presets) spend more bits where quantisation hurts most:
 *     attn_v      Q2_K: Q4_K if n_head/n_kv ≥ 4 else Q3_K · Q3_K_M: Q5_K in layers 0-1, else Q4_K
 *                 · Q3_K_L: Q5_K · Q4_K_M, Q5_K_M: Q6_K where use_more_bits(i, n)
 *                 · Q4_K_S: Q5_K in layers 0-3 · 80-layer models: Q3_K/Q4_K become Q5_K
 *     ffn_down    Q2_K: Q3_K · Q3_K_M: Q5_K for i < n/16, else Q4_K · Q3_K_L: Q5_K
 *                 · Q4_K_M, Q5_K_M: Q6_K where use_more_bits · Q4_K_S: Q5_K for i < n/8
 *     attn_output Q2_K: Q3_K · Q3_K_M: Q4_K · Q3_K_L: Q5_K
 *   use_more_bits(i, n) = i < n/8 || i ≥ 7n/8 || (i − n/8) % 3 == 2 (integer division).
 * - A row length that is not a multiple of the chosen type's block size falls back:
 *   Q2_K, Q3_K → Q4_0; Q4_K → Q5_0; Q5_K → Q5_1; Q6_K → Q8_0; and when even 32 does not
 *   divide it, F16. (Qwen2-0.5B's hidden size 896 = 3.5 × 256 sends most of its matrices there.)
 */
import type { Qwen2Config } from "./config.js";
import { QUANT_LAYOUT, type WeightDType, isQuantized } from "../tensor/dtype.js";

/** llama-quantize's presets, in lower case (`--type q4_k_m`). */
export const QUANT_PRESETS = [
  "f32",
  "f16",
  "bf16",
  "q8_0",
  "q6_k",
  "q5_k_m",
  "q5_k_s",
  "q5_1",
  "q5_0",
  "q4_k_m",
  "q4_k_s",
  "q4_1",
  "q4_0",
  "q3_k_l",
  "q3_k_m",
  "q3_k_s",
  "q2_k",
] as const;
export type QuantPreset = (typeof QUANT_PRESETS)[number];

/** llama.cpp's `general.file_type` (enum llama_ftype) of each preset. */
export const LLAMA_FTYPE: Record<QuantPreset, number> = {
  f32: 0,
  f16: 1,
  q4_0: 2,
  q4_1: 3,
  q8_0: 7,
  q5_0: 8,
  q5_1: 9,
  q2_k: 10,
  q3_k_s: 11,
  q3_k_m: 12,
  q3_k_l: 13,
  q4_k_s: 14,
  q4_k_m: 15,
  q5_k_s: 16,
  q5_k_m: 17,
  q6_k: 18,
  bf16: 32,
};

/** The preset of a `general.file_type` value, if it is one of ours. */
export function presetOfFileType(fileType: number): QuantPreset | undefined {
  return QUANT_PRESETS.find((p) => LLAMA_FTYPE[p] === fileType);
}

/** The type most tensors of a preset get (llama_ftype_get_default_type). */
export function presetBaseType(preset: QuantPreset): WeightDType {
  switch (preset) {
    case "q3_k_s":
    case "q3_k_m":
    case "q3_k_l":
      return "q3_k";
    case "q4_k_s":
    case "q4_k_m":
      return "q4_k";
    case "q5_k_s":
    case "q5_k_m":
      return "q5_k";
    default:
      return preset;
  }
}

/** The model facts the choice depends on. */
export interface PresetModel {
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  /** No separate output.weight: the embedding is the head and is quantised as one. */
  readonly tiedHead: boolean;
}

export function presetModelOf(config: Qwen2Config): PresetModel {
  return {
    layers: config.num_hidden_layers,
    heads: config.num_attention_heads,
    kvHeads: config.num_key_value_heads,
    tiedHead: config.tie_word_embeddings,
  };
}

function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.trunc(n / 8);
  return i < eighth || i >= Math.trunc((7 * n) / 8) || (i - eighth) % 3 === 2;
}

type Role = "head" | "attn_v" | "ffn_down" | "attn_output" | "other";

function roleOf(ggufName: string, tiedHead: boolean): Role {
  if (ggufName === "output.weight" || (tiedHead && ggufName === "token_embd.weight")) return "head";
  if (ggufName.includes("attn_v.weight")) return "attn_v";
  if (ggufName.includes("ffn_down")) return "ffn_down";
  if (ggufName.includes("attn_output.weight")) return "attn_output";
  return "other";
}

/** The mixture's choice before shape fallbacks (llama_tensor_get_type_impl for qwen2, no imatrix). */
function mixtureType(preset: QuantPreset, base: WeightDType, name: string, cols: number, model: PresetModel): WeightDType {
  const role = roleOf(name, model.tiedHead);
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  const n = model.layers;
  const gqa = model.heads / model.kvHeads;
  switch (role) {
    case "head":
      if (cols % QUANT_LAYOUT[base as keyof typeof QUANT_LAYOUT].blockSize !== 0) return "q8_0";
      return base === "q8_0" ? "q8_0" : "q6_k";
    case "attn_v": {
      let t = base;
      if (preset === "q2_k") t = gqa >= 4 ? "q4_k" : "q3_k";
      else if (preset === "q3_k_m") t = layer < 2 ? "q5_k" : "q4_k";
      else if (preset === "q3_k_l") t = "q5_k";
      else if ((preset === "q4_k_m" || preset === "q5_k_m") && useMoreBits(layer, n)) t = "q6_k";
      else if (preset === "q4_k_s" && layer < 4) t = "q5_k";
      // llama.cpp treats an 80-layer qwen2 as a 70B model, whose shared V heads earn more bits.
      if (n === 80 && (t === "q3_k" || t === "q4_k")) t = "q5_k";
      return t;
    }
    case "ffn_down":
      if (preset === "q2_k") return "q3_k";
      if (preset === "q3_k_m") return layer < Math.trunc(n / 16) ? "q5_k" : "q4_k";
      if (preset === "q3_k_l") return "q5_k";
      if ((preset === "q4_k_m" || preset === "q5_k_m") && useMoreBits(layer, n)) return "q6_k";
      if (preset === "q4_k_s" && layer < Math.trunc(n / 8)) return "q5_k";
      return base;
    case "attn_output":
      if (preset === "q2_k") return "q3_k";
      if (preset === "q3_k_m") return "q4_k";
      if (preset === "q3_k_l") return "q5_k";
      return base;
    default:
      return base;
  }
}

/** llama.cpp's tensor_type_fallback: a type whose block size divides the row length. */
export function shapeFallback(t: WeightDType, cols: number): WeightDType {
  if (!isQuantized(t) || cols % QUANT_LAYOUT[t].blockSize === 0) return t;
  let next: WeightDType = t;
  if (t === "q2_k" || t === "q3_k") next = "q4_0";
  else if (t === "q4_k") next = "q5_0";
  else if (t === "q5_k") next = "q5_1";
  else if (t === "q6_k") next = "q8_0";
  return isQuantized(next) && cols % QUANT_LAYOUT[next].blockSize === 0 ? next : "f16";
}

/** Whether llama-quantize quantises a tensor at all (2-D, a `weight`, not a norm). */
export function isQuantizable(ggufName: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && ggufName.endsWith("weight") && !ggufName.includes("_norm.weight");
}

/**
 * The storage type `preset` gives a tensor (GGUF name, PyTorch-order shape). Tensors that are
 * not quantised get f32 (norms and biases are f32 in every GGUF llama.cpp writes).
 */
export function presetTensorType(preset: QuantPreset, ggufName: string, shape: readonly number[], model: PresetModel): WeightDType {
  if (!isQuantizable(ggufName, shape)) return "f32";
  const base = presetBaseType(preset);
  if (!isQuantized(base)) return base;
  const cols = shape[shape.length - 1]!;
  return shapeFallback(mixtureType(preset, base, ggufName, cols, model), cols);
}
