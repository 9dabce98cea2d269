/**
 * The tensors a Hugging Face Qwen2ForCausalLM checkpoint holds, by name and shape, and a
 * check of a weight source against them.
 *
 * Shapes are PyTorch's (out_features, in_features) for linear weights:
 *   model.embed_tokens.weight                      [vocab, hidden]
 *   model.layers.N.input_layernorm.weight          [hidden]
 *   model.layers.N.self_attn.q_proj.{weight,bias}  [heads*head_dim, hidden] / [heads*head_dim]
 *   model.layers.N.self_attn.k_proj.{weight,bias}  [kv*head_dim, hidden]    / [kv*head_dim]
 *   model.layers.N.self_attn.v_proj.{weight,bias}  [kv*head_dim, hidden]    / [kv*head_dim]
 *   model.layers.N.self_attn.o_proj.weight         [hidden, heads*head_dim]
 *   model.layers.N.post_attention_layernorm.weight [hidden]
 *   model.layers.N.mlp.{gate,up}_proj.weight       [intermediate, hidden]
 *   model.layers.N.mlp.down_proj.weight            [hidden, intermediate]
 *   model.norm.weight                              [hidden]
 *   lm_head.weight                                 [vocab, hidden]   (absent when tied)
 */
import { FormatError } from "../errors.js";
import type { Qwen2Config } from "./config.js";
import type { WeightSource } from "./weights.js";
import {
  BackboneView,
  backbonePrefix,
  backboneView,
  qwen2HeadTensors,
  storedBackbonePrefix,
  type Qwen2Architecture,
} from "./qwen2_architectures.js";

export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** False for tensors a checkpoint may omit (lm_head.weight when embeddings are tied). */
  readonly required: boolean;
}

/** The field of a decoder layer each per-layer tensor fills (models/qwen2.ts builds its layers from these). */
export type Qwen2LayerKey = "inputNorm" | "q" | "qBias" | "k" | "kBias" | "v" | "vBias" | "o" | "postNorm" | "gate" | "up" | "down";

export interface ExpectedLayerTensor extends ExpectedTensor {
  readonly key: Qwen2LayerKey;
}

/** The per-layer tensor names, in checkpoint order, with their shapes: the one list the loader and the checks share. */
export function qwen2LayerTensors(config: Qwen2Config, layer: number): ExpectedLayerTensor[] {
  const h = config.hidden_size;
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const ff = config.intermediate_size;
  const p = `model.layers.${layer}.`;
  const t = (key: Qwen2LayerKey, name: string, shape: number[]): ExpectedLayerTensor => ({ key, name: p + name, shape, required: true });
  return [
    t("inputNorm", "input_layernorm.weight", [h]),
    t("q", "self_attn.q_proj.weight", [q, h]),
    t("qBias", "self_attn.q_proj.bias", [q]),
    t("k", "self_attn.k_proj.weight", [kv, h]),
    t("kBias", "self_attn.k_proj.bias", [kv]),
    t("v", "self_attn.v_proj.weight", [kv, h]),
    t("vBias", "self_attn.v_proj.bias", [kv]),
    t("o", "self_attn.o_proj.weight", [h, q]),
    t("postNorm", "post_attention_layernorm.weight", [h]),
    t("gate", "mlp.gate_proj.weight", [ff, h]),
    t("up", "mlp.up_proj.weight", [ff, h]),
    t("down", "mlp.down_proj.weight", [h, ff]),
  ];
}

/** The embedding table, the final norm and the LM head. */
export function qwen2EmbedTensor(config: Qwen2Config): ExpectedTensor {
  return { name: "model.embed_tokens.weight", shape: [config.vocab_size, config.hidden_size], required: true };
}
export function qwen2NormTensor(config: Qwen2Config): ExpectedTensor {
  return { name: "model.norm.weight", shape: [config.hidden_size], required: true };
}
export function qwen2HeadTensor(config: Qwen2Config): ExpectedTensor {
  return { name: "lm_head.weight", shape: [config.vocab_size, config.hidden_size], required: !config.tie_word_embeddings };
}

/**
 * Every tensor of a checkpoint of `architecture` (default Qwen2ForCausalLM) for `config`,
 * the backbone under `model.`. With tied embeddings, `lm_head.weight` is listed as optional
 * (some exporters store a copy anyway).
 */
export function qwen2ExpectedTensors(config: Qwen2Config, architecture: Qwen2Architecture = "Qwen2ForCausalLM"): ExpectedTensor[] {
  const out: ExpectedTensor[] = [qwen2EmbedTensor(config)];
  for (let i = 0; i < config.num_hidden_layers; i++) out.push(...qwen2LayerTensors(config, i));
  out.push(qwen2NormTensor(config), ...qwen2HeadTensors(config, architecture));
  return out;
}

/** Tensors that checkpoints sometimes carry and loaders drop (recomputed from the config). */
export function isIgnoredQwen2Tensor(name: string): boolean {
  return name.endsWith(".rotary_emb.inv_freq");
}

export interface Qwen2WeightReport {
  readonly missing: string[];
  /** "name: expected [a, b], found [c, d]" */
  readonly misshaped: string[];
  /** Tensors present that the class does not use (besides ignored ones). */
  readonly unexpected: string[];
  /** Tensors skipped on purpose (rotary_emb.inv_freq). */
  readonly ignored: string[];
  /** True when lm_head.weight is absent and model.embed_tokens.weight serves as the head. */
  readonly tiedHead: boolean;
}

const FLOAT_DTYPES = new Set(["f32", "f16", "bf16", "f64", "q8_0", "q4_0"]);

export interface ValidateOptions {
  /** Where warnings go (unused extra tensors). */
  readonly warnings?: string[];
  /** "throw" (default): a FormatError for missing or mis-shaped tensors; "report": only the report, for `inspect`. */
  readonly onMismatch?: "throw" | "report";
  /** The class the weights are checked for (default Qwen2ForCausalLM); see formats/qwen2_architectures.ts. */
  readonly architecture?: Qwen2Architecture;
}

/**
 * Compares a weight source with the tensors of `options.architecture` (the backbone under
 * the class's prefix or bare, as transformers accepts). By default throws a FormatError naming
 * the source and every missing or mis-shaped tensor (up to a readable number), by the names the
 * class stores them under; unexpected extra tensors become warnings, never errors.
 */
export function validateQwen2Weights(config: Qwen2Config, given: WeightSource, options: ValidateOptions = {}): Qwen2WeightReport {
  const architecture = options.architecture ?? "Qwen2ForCausalLM";
  const source = backboneView(given, config, architecture);
  const stored = (name: string): string => (source instanceof BackboneView ? source.storedName(name) : name);
  const expected = qwen2ExpectedTensors(config, architecture);
  const expectedNames = new Set(expected.map((e) => e.name));
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const e of expected) {
    if (!source.has(e.name)) {
      if (e.required) missing.push(stored(e.name));
      continue;
    }
    const info = source.info(e.name);
    const same = info.shape.length === e.shape.length && info.shape.every((d, i) => d === e.shape[i]);
    if (!same) misshaped.push(`${stored(e.name)}: expected [${e.shape.join(", ")}], found [${info.shape.join(", ")}]`);
    else if (!FLOAT_DTYPES.has(info.dtype)) misshaped.push(`${stored(e.name)}: dtype ${info.dtype} is not a float or quantised type`);
  }
  const unexpected: string[] = [];
  const ignored: string[] = [];
  for (const name of source.names()) {
    if (expectedNames.has(name)) continue;
    if (isIgnoredQwen2Tensor(name)) ignored.push(stored(name));
    else unexpected.push(stored(name));
  }
  const report = { missing, misshaped, unexpected, ignored, tiedHead: !source.has("lm_head.weight") };
  // Head tensors first: with a whole backbone missing they would fall past the shown dozen.
  const heads = new Set(qwen2HeadTensors(config, architecture).map((t) => t.name));
  const headFirst = (names: string[]): string[] => [...names.filter((n) => heads.has(n)), ...names.filter((n) => !heads.has(n))];
  const problems = [...headFirst(missing).map((n) => `missing tensor '${n}'`), ...misshaped.map((m) => `mis-shaped tensor ${m}`)];
  const elsewhere = backboneElsewhere(given, architecture);
  if (elsewhere !== null) problems.unshift(elsewhere);
  if (problems.length > 0 && options.onMismatch !== "report") {
    const shown = problems.slice(0, 12);
    const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : "";
    throw new FormatError(source.location, `weights do not match config.json for ${architecture}: ${shown.join("; ")}${more}`);
  }
  if (unexpected.length > 0) {
    options.warnings?.push(
      `${source.location}: ${unexpected.length} tensor(s) not used by ${architecture} are ignored: ${unexpected.slice(0, 5).join(", ")}${unexpected.length > 5 ? ", ..." : ""}`,
    );
  }
  return report;
}

/** When the backbone is absent where `architecture` looks but present under another class's prefix, a sentence saying so. */
function backboneElsewhere(source: WeightSource, architecture: Qwen2Architecture): string | null {
  const used = storedBackbonePrefix(source, architecture);
  if (source.has(`${used}embed_tokens.weight`)) return null;
  const found = ["model.", "transformer.", ""].find((p) => source.has(`${p}embed_tokens.weight`));
  if (found === undefined) return null;
  const own = backbonePrefix(architecture);
  return `the decoder stack is stored under '${found || "(no prefix)"}' but ${architecture} keeps it under '${own || "(no prefix)"}'${own ? " or bare" : " or 'model.'"} (check config.json architectures)`;
}
