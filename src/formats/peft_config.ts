/**
 * A PEFT LoRA adapter's `adapter_config.json` → a typed {@link LoraConfig}, and which of a
 * Qwen2ForCausalLM's modules it adapts, with what rank and scale, exactly as PEFT decides
 * (huggingface/peft: `check_target_module_exists`, `get_pattern_key`, `LoraLayer.update_layer`).
 *
 * Module names are the base model's own (`model.layers.0.self_attn.q_proj`, `lm_head`):
 * - `target_modules` as a list: a module matches when its name equals an entry or ends with
 *   `.` + entry; then `layers_to_transform` (an index or a list) keeps only modules whose
 *   layer index is listed. The index is the first number after `.<layers_pattern>.` (any
 *   segment when no pattern is given). A name listed in full skips the layer filter.
 * - `target_modules` as a string: a regex that must match the whole name (Python's
 *   `re.fullmatch`); `"all-linear"` means every linear layer but the output head.
 *   `null` means PEFT's default for qwen2: `q_proj` and `v_proj`.
 * - `exclude_modules` (list or regex string) removes modules first.
 * - `rank_pattern` / `alpha_pattern`: the first key (a regex) matching the end of the name
 *   after a `.` (or the whole name) overrides `r` / `lora_alpha` for that module.
 * - scale = alpha / r, or alpha / sqrt(r) with `use_rslora`.
 *
 * Inert at inference: `lora_dropout`, `init_lora_weights`, `inference_mode`, `task_type`,
 * `revision`; `fan_in_fan_out` (PEFT turns it off for `nn.Linear`, with a warning, and so do we).
 * Refused, naming the field (UnsupportedError): another `peft_type`, `use_dora` and every other
 * LoRA variant that changes the forward pass, `modules_to_save`, `bias` other than "none",
 * `lora_bias`, `target_parameters`, `trainable_token_indices`, `layer_replication`, and
 * targets that hit the embedding or the LM head.
 */
import { FormatError, UnsupportedError } from "../errors.js";

export interface LoraConfig {
  /** The file the config came from, for messages. */
  readonly file: string;
  readonly r: number;
  readonly loraAlpha: number;
  readonly useRslora: boolean;
  /** A list of name suffixes, or one regex matched against whole names ("all-linear" expanded by the resolver). */
  readonly targetModules: readonly string[] | string;
  readonly excludeModules: readonly string[] | string | null;
  readonly layersToTransform: readonly number[] | number | null;
  readonly layersPattern: readonly string[] | null;
  readonly rankPattern: ReadonlyMap<string, number>;
  readonly alphaPattern: ReadonlyMap<string, number>;
  /** `base_model_name_or_path`, for messages; null when absent. */
  readonly baseModel: string | null;
}

/** PEFT's default targets for `model_type: "qwen2"` when `target_modules` is null. */
export const QWEN2_DEFAULT_TARGETS: readonly string[] = ["q_proj", "v_proj"];

/** The shorthand PEFT expands to every linear layer but the output head. */
export const ALL_LINEAR = "all-linear";

type Obj = Record<string, unknown>;

/**
 * Fields of LoraConfig that switch on a variant with another forward pass or other
 * trained tensors: any value but absent, null, false, "" , [] or {} is refused.
 */
const REFUSED_WHEN_SET: readonly [field: string, what: string][] = [
  ["use_dora", "DoRA (weight-decomposed LoRA)"],
  ["modules_to_save", "fully trained extra modules (modules_to_save)"],
  ["lora_bias", "a trained bias on lora_B"],
  ["target_parameters", "LoRA on raw parameters (target_parameters)"],
  ["trainable_token_indices", "trainable token embeddings"],
  ["layer_replication", "layer replication"],
  ["alora_invocation_tokens", "activated LoRA (aLoRA)"],
  ["use_qalora", "QA-LoRA"],
  ["use_bdlora", "block-diagonal LoRA"],
  ["arrow_config", "Arrow routing"],
  ["kasa_config", "KaSA"],
  ["velora_config", "VeLoRA"],
  ["monteclora_config", "MonteCLoRA"],
];

function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as Obj).length > 0;
  return true;
}

function positiveNumber(o: Obj, field: string, file: string, fallback: number, integer: boolean): number {
  const v = o[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new FormatError(file, `${field} must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function stringList(v: unknown, field: string, file: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw new FormatError(file, `${field} must be a list of strings or a string, got ${JSON.stringify(v)}`);
  }
  return v as string[];
}

function listOrRegex(v: unknown, field: string, file: string): readonly string[] | string {
  if (typeof v === "string") {
    fullMatcher(v, field, file); // compile now: a bad pattern is an error of the file
    return v;
  }
  return stringList(v, field, file);
}

function patternMap(o: Obj, field: string, file: string, integer: boolean): Map<string, number> {
  const v = o[field];
  const out = new Map<string, number>();
  if (v === undefined || v === null) return out;
  if (typeof v !== "object" || Array.isArray(v)) throw new FormatError(file, `${field} must be an object, got ${JSON.stringify(v)}`);
  for (const [key, value] of Object.entries(v as Obj)) {
    if (typeof value !== "number" || !(value > 0) || (integer && !Number.isInteger(value))) {
      throw new FormatError(file, `${field}["${key}"] must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(value)}`);
    }
    patternMatcher(key, field, file);
    out.set(key, value);
  }
  return out;
}

/**
 * Parses `adapter_config.json`. `warnings` receives notes on fields that are legal but do
 * nothing here (fan_in_fan_out on linear layers, an unknown task_type).
 */
export function parseLoraConfig(json: unknown, file: string, warnings: string[] = []): LoraConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FormatError(file, "expected a JSON object");
  const o = json as Obj;
  const peftType = o.peft_type ?? "LORA";
  if (peftType !== "LORA") {
    throw new UnsupportedError(`${file}: peft_type ${JSON.stringify(peftType)} is not supported (only LORA adapters are)`);
  }
  for (const [field, what] of REFUSED_WHEN_SET) {
    if (isSet(o[field])) throw new UnsupportedError(`${file}: ${field} ${JSON.stringify(o[field])}: ${what} is not supported`);
  }
  const bias = o.bias ?? "none";
  if (bias !== "none") {
    throw new UnsupportedError(`${file}: bias ${JSON.stringify(bias)} is not supported (trained biases of the base model); only "none" is`);
  }
  if (o.fan_in_fan_out === true) warnings.push(`${file}: fan_in_fan_out is true, but Qwen2's layers are nn.Linear: ignored, as PEFT does`);
  const r = positiveNumber(o, "r", file, 8, true);
  const loraAlpha = positiveNumber(o, "lora_alpha", file, 8, false);
  if (o.use_rslora !== undefined && typeof o.use_rslora !== "boolean")
    throw new FormatError(file, `use_rslora must be true or false, got ${JSON.stringify(o.use_rslora)}`);

  const targetRaw = o.target_modules;
  const targetModules =
    targetRaw === undefined || targetRaw === null
      ? QWEN2_DEFAULT_TARGETS
      : typeof targetRaw === "string" && targetRaw.toLowerCase() === ALL_LINEAR
        ? ALL_LINEAR
        : listOrRegex(targetRaw, "target_modules", file);
  const excludeRaw = o.exclude_modules;
  const excludeModules = excludeRaw === undefined || excludeRaw === null ? null : listOrRegex(excludeRaw, "exclude_modules", file);

  const ltt = o.layers_to_transform;
  let layersToTransform: readonly number[] | number | null = null;
  if (ltt !== undefined && ltt !== null) {
    const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
    if (ok(ltt)) layersToTransform = ltt;
    else if (Array.isArray(ltt) && ltt.every(ok)) layersToTransform = ltt.length === 0 ? null : (ltt as number[]);
    else throw new FormatError(file, `layers_to_transform must be a layer index or a list of them, got ${JSON.stringify(ltt)}`);
  }
  const lp = o.layers_pattern;
  const layersPattern =
    lp === undefined || lp === null || lp === "" ? null : typeof lp === "string" ? [lp] : stringList(lp, "layers_pattern", file);
  if (typeof targetModules === "string" && targetModules !== ALL_LINEAR && (layersToTransform !== null || layersPattern !== null)) {
    throw new FormatError(
      file,
      "layers_to_transform and layers_pattern cannot be used when target_modules is a regex string (PEFT refuses it)",
    );
  }
  if (layersPattern !== null && layersToTransform === null) {
    throw new FormatError(file, "layers_pattern is given without layers_to_transform (PEFT refuses it)");
  }
  for (const p of layersPattern ?? []) compile(`^.*?\\.${p}\\.(\\d+)\\.`, "layers_pattern", file);
  const base = o.base_model_name_or_path;
  return {
    file,
    r,
    loraAlpha,
    useRslora: o.use_rslora === true,
    targetModules,
    excludeModules,
    layersToTransform,
    layersPattern,
    rankPattern: patternMap(o, "rank_pattern", file, true),
    alphaPattern: patternMap(o, "alpha_pattern", file, false),
    baseModel: typeof base === "string" ? base : null,
  };
}

function compile(source: string, field: string, file: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new FormatError(
      file,
      `${field}: ${JSON.stringify(source)} is not a regular expression JavaScript reads: ${(err as Error).message}`,
    );
  }
}

/** Python's re.fullmatch(pattern, name). */
function fullMatcher(pattern: string, field: string, file: string): RegExp {
  return compile(`^(?:${pattern})$`, field, file);
}

/** PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", name). */
function patternMatcher(key: string, field: string, file: string): RegExp {
  return compile(`^(?:.*\\.)?(?:${key})$`, field, file);
}

function listMatches(list: readonly string[], name: string): boolean {
  return list.includes(name) || list.some((t) => name.endsWith(`.${t}`));
}

/** The layer index PEFT reads from a module name for layers_to_transform, or null. */
function layerIndexOf(config: LoraConfig, name: string): number | null {
  const patterns =
    config.layersPattern === null ? [String.raw`^.*?\.[^.]*\.(\d+)\.`] : config.layersPattern.map((p) => `^.*?\\.${p}\\.(\\d+)\\.`);
  for (const p of patterns) {
    const m = compile(p, "layers_pattern", config.file).exec(name);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * Whether PEFT puts a LoRA layer on module `name` (`linear`: the names "all-linear" covers).
 * `name` is a module of the base model, e.g. `model.layers.3.mlp.down_proj`.
 */
export function loraTargets(config: LoraConfig, name: string, linear: ReadonlySet<string>): boolean {
  const ex = config.excludeModules;
  if (ex !== null && (typeof ex === "string" ? fullMatcher(ex, "exclude_modules", config.file).test(name) : listMatches(ex, name)))
    return false;
  const t = config.targetModules;
  if (t === ALL_LINEAR) return linear.has(name);
  if (typeof t === "string") return fullMatcher(t, "target_modules", config.file).test(name);
  if (t.includes(name)) return true;
  if (!t.some((entry) => name.endsWith(`.${entry}`))) return false;
  const layers = config.layersToTransform;
  if (layers === null) return true;
  const index = layerIndexOf(config, name);
  if (index === null) return false;
  return typeof layers === "number" ? index === layers : layers.includes(index);
}

/** The first key of a pattern map that matches `name` as PEFT's get_pattern_key does. */
function patternValue(map: ReadonlyMap<string, number>, name: string, field: string, file: string): number | undefined {
  for (const [key, value] of map) if (patternMatcher(key, field, file).test(name)) return value;
  return undefined;
}

export interface LoraModuleParams {
  readonly r: number;
  readonly alpha: number;
  /** alpha / r, or alpha / sqrt(r) with rsLoRA. */
  readonly scale: number;
}

/** Rank, alpha and scale PEFT gives module `name` (rank_pattern / alpha_pattern override r / lora_alpha). */
export function loraModuleParams(config: LoraConfig, name: string): LoraModuleParams {
  const r = patternValue(config.rankPattern, name, "rank_pattern", config.file) ?? config.r;
  const alpha = patternValue(config.alphaPattern, name, "alpha_pattern", config.file) ?? config.loraAlpha;
  return { r, alpha, scale: config.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}
