/**
 * config.json → Qwen2Config and generation_config.json → GenerationConfig.
 *
 * Defaults are Hugging Face's `Qwen2Config` (transformers/models/qwen2/configuration_qwen2.py):
 * vocab 151936, hidden 4096, intermediate 22016, 32 layers, 32 heads, kv heads = heads,
 * silu, 32768 positions, initializer_range 0.02, rms_norm_eps 1e-6, use_cache true, untied
 * embeddings, rope_theta 10000, no rope scaling, use_sliding_window false, sliding_window
 * 4096, max_window_layers 28, attention_dropout 0.
 *
 * Derived values, resolved once here exactly as transformers does:
 * - `sliding_window` becomes null unless `use_sliding_window` (HF's __post_init__).
 * - `layer_types`: given, or layer i is "sliding_attention" iff a window exists and
 *   i >= max_window_layers.
 * - `layer_windows[i]`: the window for sliding layers, null (full attention) otherwise.
 * - `head_dim`: given, or hidden_size / num_attention_heads.
 * - `rope_scaling` / `rope_parameters` (either name; `type` or `rope_type`) normalised to
 *   {@link RopeScaling}, with `rope_theta` possibly inside `rope_parameters` (transformers v5).
 *
 * Errors (FormatError naming the file and field): wrong JSON types, model_type other than
 * qwen2, non-positive sizes, heads not dividing, unknown rope or layer types, missing rope
 * factor, contradictory duplicates (`type` vs `rope_type`, two rope_theta values).
 *
 * Warnings (returned through the optional `warnings` array, never printed here) for odd
 * but legal values: missing model_type, a layer_types list that slides while
 * use_sliding_window is false (those layers attend fully, as in transformers), a rope factor
 * below 1, a yarn factor that differs from max_position_embeddings /
 * original_max_position_embeddings, unknown rope keys, a max_window_layers beyond the layer
 * count while sliding is on.
 */
import { joinName, parseJson, type ModelFiles } from "../io/byte_source.js";
import { FormatError } from "../errors.js";
import type { GenerationConfig, LayerType, ProblemType, Qwen2Config, RopeScaling, RopeType } from "./config.js";

/** Hugging Face Qwen2Config defaults (transformers' configuration_qwen2.py). */
export const QWEN2_DEFAULTS = {
  vocab_size: 151936,
  hidden_size: 4096,
  intermediate_size: 22016,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  hidden_act: "silu",
  max_position_embeddings: 32768,
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  use_cache: true,
  tie_word_embeddings: false,
  rope_theta: 10000,
  use_sliding_window: false,
  sliding_window: 4096,
  max_window_layers: 28,
  attention_dropout: 0,
} as const;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Typed field readers that name the file and the field in every error. */
class Fields {
  constructor(
    readonly obj: Obj,
    readonly file: string,
    readonly prefix = "",
  ) {}

  fail(field: string, msg: string): never {
    throw new FormatError(this.file, `${this.prefix}${field}: ${msg}`);
  }

  present(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  num(field: string, def: number): number;
  num(field: string, def: null): number | null;
  num(field: string, def: number | null): number | null {
    const v = this.obj[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(field, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveNum(field: string, def: number): number {
    const v = this.num(field, def);
    if (!(v > 0)) this.fail(field, `must be > 0, got ${v}`);
    return v;
  }

  int(field: string, def: number): number;
  int(field: string, def: null): number | null;
  int(field: string, def: number | null): number | null {
    const v = def === null ? this.num(field, null) : this.num(field, def);
    if (v !== null && !Number.isSafeInteger(v)) this.fail(field, `expected an integer, got ${v}`);
    return v;
  }

  positiveInt(field: string, def: number): number {
    const v = this.int(field, def);
    if (v < 1) this.fail(field, `must be a positive integer, got ${v}`);
    return v;
  }

  nonNegativeInt(field: string, def: number): number {
    const v = this.int(field, def);
    if (v < 0) this.fail(field, `must be a non-negative integer, got ${v}`);
    return v;
  }

  bool(field: string, def: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") this.fail(field, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(field: string, def: string | null): string | null {
    const v = this.obj[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "string") this.fail(field, `expected a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A token id, or a list of them; always returned as a list (empty when absent). */
  idList(field: string): number[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const x of list) {
      if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0)
        this.fail(field, `expected a token id or a list of token ids, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }

  optionalId(field: string): number | null {
    const v = this.int(field, null);
    if (v !== null && v < 0) this.fail(field, `must be a non-negative token id, got ${v}`);
    return v;
  }
}

const ROPE_TYPES: readonly RopeType[] = ["default", "linear", "dynamic", "yarn"];
/** Keys each rope type understands (beyond rope_type/type and rope_theta). */
const ROPE_KEYS: Record<RopeType, readonly string[]> = {
  default: [],
  linear: ["factor"],
  dynamic: ["factor", "original_max_position_embeddings"],
  yarn: [
    "factor",
    "original_max_position_embeddings",
    "attention_factor",
    "beta_fast",
    "beta_slow",
    "mscale",
    "mscale_all_dim",
    "truncate",
  ],
};
/** Keys allowed in any rope dict: v5 folds rope_theta (and partial_rotary_factor) into rope_parameters. */
const ROPE_COMMON_KEYS = ["rope_type", "type", "rope_theta"];

interface RopeResolution {
  readonly scaling: RopeScaling | null;
  readonly theta: number;
}

function parseRope(root: Fields, maxPositions: number, warnings: string[]): RopeResolution {
  const scalingRaw = root.obj["rope_scaling"];
  const paramsRaw = root.obj["rope_parameters"];
  let field = "rope_scaling";
  let raw: unknown = scalingRaw;
  if (paramsRaw !== undefined && paramsRaw !== null) {
    if (scalingRaw !== undefined && scalingRaw !== null && JSON.stringify(scalingRaw) !== JSON.stringify(paramsRaw)) {
      root.fail("rope_parameters", "both rope_scaling and rope_parameters are given and they differ; keep one");
    }
    field = "rope_parameters";
    raw = paramsRaw;
  }

  let theta = root.positiveNum("rope_theta", QWEN2_DEFAULTS.rope_theta);
  if (raw === undefined || raw === null) return { scaling: null, theta };
  if (!isObj(raw)) root.fail(field, `expected an object or null, got ${JSON.stringify(raw)}`);
  const f = new Fields(raw, root.file, `${field}.`);

  if (f.present("rope_theta")) {
    const inner = f.positiveNum("rope_theta", theta);
    if (root.present("rope_theta") && inner !== theta) {
      root.fail("rope_theta", `${theta} contradicts ${field}.rope_theta ${inner}`);
    }
    theta = inner;
  }

  const a = f.str("rope_type", null);
  const b = f.str("type", null);
  if (a !== null && b !== null && a !== b) f.fail("rope_type", `'${a}' contradicts type '${b}'`);
  const typeName = a ?? b;
  if (typeName === null) f.fail("rope_type", "missing (give rope_type or type)");
  if (!(ROPE_TYPES as readonly string[]).includes(typeName as string)) {
    f.fail("rope_type", `unsupported '${typeName}' (supported: ${ROPE_TYPES.join(", ")})`);
  }
  const ropeType = typeName as RopeType;

  const known = new Set([...ROPE_COMMON_KEYS, ...ROPE_KEYS[ropeType], "partial_rotary_factor"]);
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  if (unknown.length > 0)
    warnings.push(`${root.file}: ${field}: keys ${unknown.join(", ")} are not used by rope_type '${ropeType}' and are ignored`);
  if (f.present("partial_rotary_factor") && f.num("partial_rotary_factor", 1) !== 1) {
    f.fail("partial_rotary_factor", "only 1.0 is supported for Qwen2");
  }

  if (ropeType === "default") return { scaling: null, theta };

  if (!f.present("factor")) f.fail("factor", `required for rope_type '${ropeType}'`);
  const factor = f.positiveNum("factor", 1);
  if (factor < 1)
    warnings.push(`${root.file}: ${field}.factor ${factor} is below 1 (transformers warns: it compresses rather than extends the context)`);

  if (ropeType === "linear") return { scaling: { rope_type: "linear", factor }, theta };

  const origGiven = f.present("original_max_position_embeddings");
  const original = f.positiveInt("original_max_position_embeddings", maxPositions);
  if (ropeType === "dynamic") {
    return {
      scaling: origGiven ? { rope_type: "dynamic", factor, original_max_position_embeddings: original } : { rope_type: "dynamic", factor },
      theta,
    };
  }

  // yarn
  if (!origGiven) {
    warnings.push(
      `${root.file}: ${field}.original_max_position_embeddings is missing for yarn; using max_position_embeddings ${maxPositions}`,
    );
  } else if (Math.abs(maxPositions / original - factor) > 1e-9) {
    warnings.push(
      `${root.file}: ${field}.factor ${factor} differs from max_position_embeddings / original_max_position_embeddings = ${maxPositions / original}; ` +
        "the given factor is used (transformers 4.x recomputed it from the ratio)",
    );
  }
  const scaling: { -readonly [K in keyof RopeScaling]: RopeScaling[K] } = {
    rope_type: "yarn",
    factor,
    original_max_position_embeddings: original,
    beta_fast: f.positiveNum("beta_fast", 32),
    beta_slow: f.positiveNum("beta_slow", 1),
    truncate: f.bool("truncate", true),
  };
  const attentionFactor = f.num("attention_factor", null);
  if (attentionFactor !== null) {
    if (attentionFactor <= 0) f.fail("attention_factor", `must be > 0, got ${attentionFactor}`);
    scaling.attention_factor = attentionFactor;
  }
  const mscale = f.num("mscale", null);
  if (mscale !== null) scaling.mscale = mscale;
  const mscaleAll = f.num("mscale_all_dim", null);
  if (mscaleAll !== null) scaling.mscale_all_dim = mscaleAll;
  return { scaling, theta };
}

function parseLayerTypes(root: Fields, layers: number, window: number | null, maxWindowLayers: number): LayerType[] {
  const raw = root.obj["layer_types"];
  if (raw === undefined || raw === null) {
    const out: LayerType[] = [];
    for (let i = 0; i < layers; i++) out.push(window !== null && i >= maxWindowLayers ? "sliding_attention" : "full_attention");
    return out;
  }
  if (!Array.isArray(raw)) root.fail("layer_types", `expected a list, got ${JSON.stringify(raw)}`);
  if (raw.length !== layers) root.fail("layer_types", `has ${raw.length} entries but num_hidden_layers is ${layers}`);
  return raw.map((t, i) => {
    if (t !== "full_attention" && t !== "sliding_attention") {
      root.fail(`layer_types[${i}]`, `expected "full_attention" or "sliding_attention", got ${JSON.stringify(t)}`);
    }
    return t;
  });
}

function toObject(json: unknown, file: string): Obj {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new FormatError(file, `not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isObj(value)) throw new FormatError(file, "must be a JSON object");
  return value;
}

/**
 * Resolves a config.json (parsed object or JSON text) into a Qwen2Config. `file` names the
 * source in errors. Odd but legal values append a message to `warnings` when given.
 */
export function parseQwen2Config(json: unknown, file = "config.json", warnings: string[] = []): Qwen2Config {
  const f = new Fields(toObject(json, file), file);

  const modelType = f.str("model_type", null);
  if (modelType === null) warnings.push(`${file}: model_type is missing; assuming "qwen2"`);
  else if (modelType !== "qwen2") f.fail("model_type", `'${modelType}' is not a Qwen2 model (expected "qwen2")`);

  const vocab = f.positiveInt("vocab_size", QWEN2_DEFAULTS.vocab_size);
  const hidden = f.positiveInt("hidden_size", QWEN2_DEFAULTS.hidden_size);
  const intermediate = f.positiveInt("intermediate_size", QWEN2_DEFAULTS.intermediate_size);
  const layers = f.positiveInt("num_hidden_layers", QWEN2_DEFAULTS.num_hidden_layers);
  const heads = f.positiveInt("num_attention_heads", QWEN2_DEFAULTS.num_attention_heads);
  const kvHeads = f.positiveInt("num_key_value_heads", heads);
  if (heads % kvHeads !== 0) f.fail("num_key_value_heads", `${kvHeads} does not divide num_attention_heads ${heads}`);

  let headDim: number;
  if (f.present("head_dim")) {
    headDim = f.positiveInt("head_dim", 1);
    if (headDim * heads !== hidden) {
      warnings.push(
        `${file}: head_dim ${headDim} x num_attention_heads ${heads} = ${headDim * heads} differs from hidden_size ${hidden} (legal: o_proj maps back to hidden_size)`,
      );
    }
  } else {
    if (hidden % heads !== 0) f.fail("hidden_size", `${hidden} is not divisible by num_attention_heads ${heads}; give head_dim explicitly`);
    headDim = hidden / heads;
  }
  if (headDim % 2 !== 0) f.fail("head_dim", `rotary embeddings need an even head dimension, got ${headDim}`);

  const act = f.str("hidden_act", QWEN2_DEFAULTS.hidden_act);
  if (act !== "silu") f.fail("hidden_act", `'${act}' is not supported (Qwen2 uses "silu")`);

  const maxPositions = f.positiveInt("max_position_embeddings", QWEN2_DEFAULTS.max_position_embeddings);
  const eps = f.positiveNum("rms_norm_eps", QWEN2_DEFAULTS.rms_norm_eps);
  const initRange = f.num("initializer_range", QWEN2_DEFAULTS.initializer_range);
  const useCache = f.bool("use_cache", QWEN2_DEFAULTS.use_cache);
  const tie = f.bool("tie_word_embeddings", QWEN2_DEFAULTS.tie_word_embeddings);
  const rope = parseRope(f, maxPositions, warnings);

  const useSliding = f.bool("use_sliding_window", QWEN2_DEFAULTS.use_sliding_window);
  const rawWindow = f.int("sliding_window", QWEN2_DEFAULTS.sliding_window);
  if (rawWindow !== null && rawWindow < 1) f.fail("sliding_window", `must be a positive integer or null, got ${rawWindow}`);
  // As transformers' __post_init__: the window only exists when use_sliding_window is on.
  const window = useSliding ? rawWindow : null;
  if (useSliding && rawWindow === null)
    warnings.push(`${file}: use_sliding_window is true but sliding_window is null: every layer attends fully`);
  const maxWindowLayers = f.nonNegativeInt("max_window_layers", QWEN2_DEFAULTS.max_window_layers);
  const layerTypes = parseLayerTypes(f, layers, window, maxWindowLayers);
  const explicitTypes = f.present("layer_types");
  if (useSliding && window !== null && !explicitTypes && maxWindowLayers >= layers) {
    warnings.push(
      `${file}: use_sliding_window is true but max_window_layers ${maxWindowLayers} >= num_hidden_layers ${layers}: no layer slides`,
    );
  }
  if (explicitTypes && window === null && layerTypes.includes("sliding_attention")) {
    warnings.push(
      `${file}: layer_types marks sliding layers but ${useSliding ? "sliding_window is null" : "use_sliding_window is false"}: those layers attend fully (as in transformers)`,
    );
  }
  const layerWindows = layerTypes.map((t) => (t === "sliding_attention" ? window : null));

  const dropout = f.num("attention_dropout", QWEN2_DEFAULTS.attention_dropout);
  if (dropout < 0 || dropout > 1) f.fail("attention_dropout", `must be within [0, 1], got ${dropout}`);
  const eos = f.idList("eos_token_id");
  const bos = f.optionalId("bos_token_id");
  const pad = f.optionalId("pad_token_id");
  for (const [name, id] of [
    ["bos_token_id", bos],
    ["pad_token_id", pad],
  ] as const) {
    if (id !== null && id >= vocab) warnings.push(`${file}: ${name} ${id} is outside the vocabulary (vocab_size ${vocab})`);
  }
  for (const id of eos) if (id >= vocab) warnings.push(`${file}: eos_token_id ${id} is outside the vocabulary (vocab_size ${vocab})`);

  const architectures = parseArchitectures(f);
  const id2label = parseLabels(f, warnings);
  const problemType = f.str("problem_type", null);
  if (problemType !== null && !PROBLEM_TYPES.includes(problemType as ProblemType))
    f.fail("problem_type", `'${problemType}' is not one of ${PROBLEM_TYPES.join(", ")}`);

  return {
    model_type: "qwen2",
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: "silu",
    max_position_embeddings: maxPositions,
    rms_norm_eps: eps,
    tie_word_embeddings: tie,
    rope_theta: rope.theta,
    rope_scaling: rope.scaling,
    use_sliding_window: useSliding,
    sliding_window: window,
    max_window_layers: maxWindowLayers,
    layer_types: layerTypes,
    layer_windows: layerWindows,
    attention_dropout: dropout,
    bos_token_id: bos,
    eos_token_id: eos,
    pad_token_id: pad,
    torch_dtype: f.str("torch_dtype", null) ?? f.str("dtype", null),
    initializer_range: initRange,
    use_cache: useCache,
    architectures,
    id2label,
    problem_type: problemType as ProblemType | null,
    qwen2_ts_random_weights: f.bool("qwen2_ts_random_weights", false),
  };
}

const PROBLEM_TYPES: readonly ProblemType[] = ["regression", "single_label_classification", "multi_label_classification"];

function parseArchitectures(f: Fields): string[] {
  const v = f.obj["architectures"];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    f.fail("architectures", `expected a list of class names, got ${JSON.stringify(v)}`);
  return v as string[];
}

/**
 * Task-head labels as transformers resolves them: `id2label` (keys "0".."n-1") decides
 * num_labels; without it, `num_labels` names them LABEL_i; without either, two labels.
 */
function parseLabels(f: Fields, warnings: string[]): string[] {
  const raw = f.obj["id2label"];
  const numLabels = f.present("num_labels") ? f.positiveInt("num_labels", 1) : null;
  if (raw === undefined || raw === null) {
    return Array.from({ length: numLabels ?? 2 }, (_, i) => `LABEL_${i}`);
  }
  if (!isObj(raw)) f.fail("id2label", `expected an object of index to label, got ${JSON.stringify(raw)}`);
  const entries = Object.entries(raw);
  const labels = new Array<string>(entries.length);
  for (const [key, label] of entries) {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= entries.length) f.fail("id2label", `keys must be the indices 0..${entries.length - 1}, found '${key}'`);
    if (typeof label !== "string") f.fail("id2label", `label of ${key} must be a string, got ${JSON.stringify(label)}`);
    labels[i] = label;
  }
  if (numLabels !== null && numLabels !== labels.length)
    warnings.push(
      `${f.file}: num_labels ${numLabels} differs from the ${labels.length} labels of id2label; id2label wins (as in transformers)`,
    );
  return labels;
}

/** Reads and resolves a folder's `config.json`. */
export async function loadQwen2Config(files: ModelFiles, warnings: string[] = []): Promise<Qwen2Config> {
  const path = joinName(files.location, "config.json");
  const text = await files.text("config.json");
  if (text === null) throw new FormatError(path, "file not found");
  return parseQwen2Config(parseJson(text, path), path, warnings);
}

/**
 * Resolves a generation_config.json. Only the fields generation uses are kept; absent
 * fields stay undefined so callers can layer their own defaults. eos_token_id may be a
 * number or a list and always comes back as a list.
 */
export function parseGenerationConfig(json: unknown, file = "generation_config.json", warnings: string[] = []): GenerationConfig {
  const f = new Fields(toObject(json, file), file);
  const out: { -readonly [K in keyof GenerationConfig]: GenerationConfig[K] } = {};
  if (f.present("eos_token_id")) out.eos_token_id = f.idList("eos_token_id");
  const bos = f.optionalId("bos_token_id");
  if (bos !== null) out.bos_token_id = bos;
  const pad = f.optionalId("pad_token_id");
  if (pad !== null) out.pad_token_id = pad;
  if (f.present("do_sample")) out.do_sample = f.bool("do_sample", false);
  if (f.present("temperature")) {
    const t = f.num("temperature", 1);
    if (t < 0) f.fail("temperature", `must be >= 0, got ${t}`);
    out.temperature = t;
  }
  if (f.present("top_k")) out.top_k = f.nonNegativeInt("top_k", 0);
  if (f.present("top_p")) {
    const p = f.num("top_p", 1);
    if (!(p > 0 && p <= 1)) f.fail("top_p", `must be within (0, 1], got ${p}`);
    out.top_p = p;
  }
  if (f.present("min_p")) {
    const p = f.num("min_p", 0);
    if (p < 0 || p > 1) f.fail("min_p", `must be within [0, 1], got ${p}`);
    out.min_p = p;
  }
  if (f.present("repetition_penalty")) out.repetition_penalty = f.positiveNum("repetition_penalty", 1);
  if (f.present("max_new_tokens")) out.max_new_tokens = f.positiveInt("max_new_tokens", 1);
  if (out.do_sample === false && (out.temperature !== undefined || out.top_p !== undefined || out.top_k !== undefined)) {
    warnings.push(`${file}: do_sample is false, so temperature/top_p/top_k are not used unless sampling is requested`);
  }
  return out;
}

/** Reads a folder's `generation_config.json`; an absent file gives an empty config. */
export async function loadGenerationConfig(files: ModelFiles, warnings: string[] = []): Promise<GenerationConfig> {
  const path = joinName(files.location, "generation_config.json");
  const text = await files.text("generation_config.json");
  if (text === null) return {};
  return parseGenerationConfig(parseJson(text, path), path, warnings);
}
