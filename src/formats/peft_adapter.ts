/**
 * A PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`) resolved
 * against a Qwen2ForCausalLM config: which linear layers it adapts, with which tensors, rank
 * and scale. Any ModelFiles works (a folder on disk, at a URL, dropped in a page, in memory).
 *
 * Tensor names are PEFT's saved form: `base_model.model.<module>.lora_A.weight` [r, in] and
 * `.lora_B.weight` [out, r], `<module>` the base model's module name. A module the config
 * targets but the file lacks (both tensors) adds nothing, as PEFT's zero-initialised lora_B
 * would; it is reported as a warning. Pickled weights (`adapter_model.bin`) are refused.
 */
import { FormatError, UnsupportedError } from "../errors.js";
import { parseJson, type ModelFiles, joinName } from "../io/byte_source.js";
import type { DType } from "../tensor/dtype.js";
import { bf16ToF32, f16ToF32 } from "../tensor/convert.js";
import type { Qwen2Config } from "./config.js";
import type { HostTensor } from "./weights.js";
import { loraModuleParams, loraTargets, parseLoraConfig, type LoraConfig } from "./peft_config.js";
import { SafetensorsFile } from "./safetensors.js";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
const ADAPTER_PICKLE = "adapter_model.bin";
/** What PEFT's saved keys start with (PeftModel.base_model.model is the transformers model). */
const KEY_PREFIX = "base_model.model.";

/** The linear layers of a Qwen2 decoder layer that LoRA can adapt, by the field models/qwen2.ts keeps them in. */
export type LoraLinearKey = "q" | "k" | "v" | "o" | "gate" | "up" | "down";
export const LORA_LINEAR_KEYS: readonly LoraLinearKey[] = ["q", "k", "v", "o", "gate", "up", "down"];

const MODULE_OF: Record<LoraLinearKey, string> = {
  q: "self_attn.q_proj",
  k: "self_attn.k_proj",
  v: "self_attn.v_proj",
  o: "self_attn.o_proj",
  gate: "mlp.gate_proj",
  up: "mlp.up_proj",
  down: "mlp.down_proj",
};

/** One adapted linear layer: y = W x + scale * B (A x). */
export interface LoraModuleSpec {
  /** The base model's module name, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  readonly layer: number;
  readonly key: LoraLinearKey;
  /** Tensor names in the adapter file: A [r, in], B [out, r]. */
  readonly a: string;
  readonly b: string;
  readonly r: number;
  readonly alpha: number;
  readonly scale: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** What an adapter folder holds, checked against a base config; `weights` is open until close(). */
export interface PeftAdapter {
  readonly location: string;
  readonly config: LoraConfig;
  readonly weights: SafetensorsFile;
  /** In layer order, then q, k, v, o, gate, up, down. */
  readonly modules: readonly LoraModuleSpec[];
  readonly warnings: readonly string[];
  close(): void;
}

/** Module name → [in, out] features of each linear layer of a Qwen2ForCausalLM. */
function linearShapes(c: Qwen2Config): Map<string, { layer: number; key: LoraLinearKey; inF: number; outF: number }> {
  const h = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const ff = c.intermediate_size;
  const dims: Record<LoraLinearKey, [number, number]> = {
    q: [h, q],
    k: [h, kv],
    v: [h, kv],
    o: [q, h],
    gate: [h, ff],
    up: [h, ff],
    down: [ff, h],
  };
  const out = new Map<string, { layer: number; key: LoraLinearKey; inF: number; outF: number }>();
  for (let layer = 0; layer < c.num_hidden_layers; layer++) {
    for (const key of LORA_LINEAR_KEYS) {
      const [inF, outF] = dims[key];
      out.set(`model.layers.${layer}.${MODULE_OF[key]}`, { layer, key, inF, outF });
    }
  }
  return out;
}

/** Modules a LoRA layer may not sit on here: PEFT would give them lora_embedding_* or adapt the output head. */
const REFUSED_MODULES: readonly [name: string, what: string][] = [
  ["model.embed_tokens", "the token embedding"],
  ["lm_head", "the LM head"],
];

/**
 * Which modules `config` adapts on a model with `base` config, with their rank and scale.
 * Throws UnsupportedError when a target hits the embedding or the LM head, FormatError when
 * nothing matches (as PEFT does).
 */
export function resolveLoraModules(config: LoraConfig, base: Qwen2Config): Omit<LoraModuleSpec, "a" | "b">[] {
  const shapes = linearShapes(base);
  const linear = new Set(shapes.keys());
  for (const [name, what] of REFUSED_MODULES) {
    if (loraTargets(config, name, linear)) {
      throw new UnsupportedError(
        `${config.file}: target_modules matches ${name} (${what}); LoRA on embeddings or the LM head is not supported`,
      );
    }
  }
  const out: Omit<LoraModuleSpec, "a" | "b">[] = [];
  for (const [module, s] of shapes) {
    if (!loraTargets(config, module, linear)) continue;
    const { r, alpha, scale } = loraModuleParams(config, module);
    out.push({ module, layer: s.layer, key: s.key, r, alpha, scale, inFeatures: s.inF, outFeatures: s.outF });
  }
  if (out.length === 0) {
    throw new FormatError(
      config.file,
      `target_modules ${JSON.stringify(config.targetModules)} matches no linear layer of this Qwen2 model (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj in ${base.num_hidden_layers} layers)`,
    );
  }
  return out;
}

function checkFloat(file: string, name: string, dtype: DType): void {
  if (dtype !== "f32" && dtype !== "f16" && dtype !== "bf16" && dtype !== "f64")
    throw new FormatError(file, `tensor ${name} is ${dtype}; LoRA tensors must be floating point`);
}

/** Why a tensor of the file is refused, or null when it is a lora_A / lora_B weight. */
function refusal(name: string): string | null {
  if (/\.lora_embedding_[AB]$/.test(name) || /\.lora_embedding_[AB]\./.test(name)) return "a LoRA on an embedding (lora_embedding_A/B)";
  if (name.includes(".lora_magnitude_vector")) return "DoRA (lora_magnitude_vector; use_dora)";
  if (name.includes(".modules_to_save.") || !name.includes(".lora_"))
    return "a fully trained tensor of the base model (modules_to_save or bias)";
  return null;
}

/**
 * Opens an adapter folder and checks it against the base model's config: the config's
 * refusals, every tensor's name, dtype and shape, one A and one B per adapted module.
 */
export async function openPeftAdapter(files: ModelFiles, base: Qwen2Config, signal?: AbortSignal): Promise<PeftAdapter> {
  const configFile = joinName(files.location, ADAPTER_CONFIG);
  const text = await files.text(ADAPTER_CONFIG);
  if (text === null) {
    if ((await files.text("config.json")) !== null)
      throw new FormatError(files.location, `no ${ADAPTER_CONFIG}: this looks like a model folder, not a PEFT adapter folder`);
    throw new FormatError(files.location, `no ${ADAPTER_CONFIG} (a PEFT LoRA adapter folder has ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS})`);
  }
  const warnings: string[] = [];
  const config = parseLoraConfig(parseJson(text, configFile), configFile, warnings);
  const resolved = resolveLoraModules(config, base);
  const source = await files.open(ADAPTER_WEIGHTS);
  if (source === null) {
    const pickle = await files.open(ADAPTER_PICKLE);
    if (pickle !== null) {
      pickle.close();
      throw new UnsupportedError(
        `${joinName(files.location, ADAPTER_PICKLE)}: PyTorch pickle adapters are not loaded (they can run code); save the adapter with safe_serialization=True to get ${ADAPTER_WEIGHTS}`,
      );
    }
    throw new FormatError(files.location, `no ${ADAPTER_WEIGHTS}`);
  }
  const weights = await SafetensorsFile.open(source, signal);
  try {
    const file = weights.location;
    const byModule = new Map(resolved.map((m) => [m.module, m]));
    const seen = new Map<string, { a?: string; b?: string }>();
    for (const name of weights.names()) {
      const why = refusal(name);
      if (why !== null) throw new UnsupportedError(`${file}: tensor ${name} is ${why}, which is not supported`);
      const m = /^(.*)\.lora_([AB])\.weight$/.exec(name);
      if (!m || !m[1]!.startsWith(KEY_PREFIX))
        throw new FormatError(file, `tensor ${name} is not a PEFT LoRA weight (${KEY_PREFIX}<module>.lora_A.weight / .lora_B.weight)`);
      const module = m[1]!.slice(KEY_PREFIX.length);
      const spec = byModule.get(module);
      if (spec === undefined) {
        throw new FormatError(
          file,
          `tensor ${name} adapts ${module}, which ${ADAPTER_CONFIG} does not target (target_modules, layers_to_transform, exclude_modules)`,
        );
      }
      const info = weights.info(name);
      checkFloat(file, name, info.dtype);
      const want = m[2] === "A" ? [spec.r, spec.inFeatures] : [spec.outFeatures, spec.r];
      if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
        throw new FormatError(
          file,
          `tensor ${name} has shape [${info.shape.join(", ")}], expected [${want.join(", ")}] (r ${spec.r}${config.rankPattern.size > 0 ? " after rank_pattern" : ""})`,
        );
      }
      const pair = seen.get(module) ?? {};
      if (m[2] === "A") pair.a = name;
      else pair.b = name;
      seen.set(module, pair);
    }
    const modules: LoraModuleSpec[] = [];
    for (const spec of resolved) {
      const pair = seen.get(spec.module);
      if (pair === undefined) {
        warnings.push(`${file}: no tensors for ${spec.module}, which ${ADAPTER_CONFIG} targets: it is left as the base model has it`);
        continue;
      }
      if (pair.a === undefined || pair.b === undefined) {
        throw new FormatError(
          file,
          `${spec.module} has lora_${pair.a === undefined ? "B" : "A"} but no ${KEY_PREFIX}${spec.module}.lora_${pair.a === undefined ? "A" : "B"}.weight`,
        );
      }
      modules.push({ ...spec, a: pair.a, b: pair.b });
    }
    return { location: files.location, config, weights, modules, warnings, close: () => weights.close() };
  } catch (err) {
    weights.close();
    throw err;
  }
}

/** A LoRA tensor (f32, f16, bf16 or f64) as float32 values; adapters are small, so this happens once at load. */
export function loraFloat32(t: HostTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.dtype === "f32") return new Float32Array(t.data.slice().buffer, 0, n);
  const out = new Float32Array(n);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (let i = 0; i < n; i++) {
    if (t.dtype === "f64") out[i] = view.getFloat64(i * 8, true);
    else if (t.dtype === "bf16") out[i] = bf16ToF32(view.getUint16(i * 2, true));
    else if (t.dtype === "f16") out[i] = f16ToF32(view.getUint16(i * 2, true));
    else throw new FormatError(t.name, `LoRA tensor is ${t.dtype}, not a float type`);
  }
  return out;
}
