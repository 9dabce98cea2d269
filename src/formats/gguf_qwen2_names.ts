/**
 * Tensor names: llama.cpp's GGUF names for Qwen2 ↔ Hugging Face's. Only the edges (GGUF
 * read and write) use GGUF names; the model sees Hugging Face names. Qwen2 needs no
 * permutation of the Q/K weights (llama.cpp uses the same rotate-half RoPE as Hugging Face
 * for this architecture), so the mapping is names only.
 */

const GLOBAL: ReadonlyArray<readonly [gguf: string, hf: string]> = [
  ["token_embd.weight", "model.embed_tokens.weight"],
  ["output_norm.weight", "model.norm.weight"],
  ["output.weight", "lm_head.weight"],
];

/** Per-layer names, without the `blk.N.` / `model.layers.N.` prefixes. */
const PER_LAYER: ReadonlyArray<readonly [gguf: string, hf: string]> = [
  ["attn_norm.weight", "input_layernorm.weight"],
  ["attn_q.weight", "self_attn.q_proj.weight"],
  ["attn_q.bias", "self_attn.q_proj.bias"],
  ["attn_k.weight", "self_attn.k_proj.weight"],
  ["attn_k.bias", "self_attn.k_proj.bias"],
  ["attn_v.weight", "self_attn.v_proj.weight"],
  ["attn_v.bias", "self_attn.v_proj.bias"],
  ["attn_output.weight", "self_attn.o_proj.weight"],
  ["ffn_norm.weight", "post_attention_layernorm.weight"],
  ["ffn_gate.weight", "mlp.gate_proj.weight"],
  ["ffn_up.weight", "mlp.up_proj.weight"],
  ["ffn_down.weight", "mlp.down_proj.weight"],
];

const GLOBAL_TO_HF = new Map(GLOBAL);
const GLOBAL_TO_GGUF = new Map(GLOBAL.map(([g, h]) => [h, g]));
const LAYER_TO_HF = new Map(PER_LAYER);
const LAYER_TO_GGUF = new Map(PER_LAYER.map(([g, h]) => [h, g]));

/** The Hugging Face name of a GGUF tensor name, or undefined when it is not a Qwen2 tensor. */
export function ggufToHfName(name: string): string | undefined {
  const global = GLOBAL_TO_HF.get(name);
  if (global) return global;
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const rest = LAYER_TO_HF.get(m[2]!);
  return rest === undefined ? undefined : `model.layers.${m[1]}.${rest}`;
}

/** The GGUF name of a Hugging Face tensor name, or undefined when llama.cpp has none for it. */
export function hfToGgufName(name: string): string | undefined {
  const global = GLOBAL_TO_GGUF.get(name);
  if (global) return global;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const rest = LAYER_TO_GGUF.get(m[2]!);
  return rest === undefined ? undefined : `blk.${m[1]}.${rest}`;
}

/** The order convert_hf_to_gguf.py writes tensors in: embedding, layers in order, final norm, head. */
export function ggufTensorOrder(layers: number): string[] {
  const names = ["token_embd.weight"];
  for (let i = 0; i < layers; i++) for (const [g] of PER_LAYER) names.push(`blk.${i}.${g}`);
  names.push("output_norm.weight", "output.weight");
  return names;
}
