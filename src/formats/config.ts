/**
 * Qwen2Config: the fields of Hugging Face's `Qwen2Config` (names kept as in config.json),
 * plus values derived once so the model never re-derives them.
 *
 * The parser (`parseQwen2Config`, `loadQwen2Config`) fills every default Hugging Face
 * applies and rejects contradictory values with an error naming the file and the field.
 */

export type RopeType = "default" | "linear" | "dynamic" | "yarn";

/** `rope_scaling` (or `rope_parameters`) normalised: `type` is folded into `rope_type`. */
export interface RopeScaling {
  readonly rope_type: RopeType;
  /** Scaling factor (linear, dynamic, yarn). */
  readonly factor: number;
  /** yarn / dynamic: the context the model was trained with before scaling. */
  readonly original_max_position_embeddings?: number;
  /** yarn: overrides the computed attention scaling (mscale). */
  readonly attention_factor?: number;
  /** yarn: rotation boundaries, defaults 32 and 1. */
  readonly beta_fast?: number;
  readonly beta_slow?: number;
  /** yarn: mscale parameters (DeepSeek style), optional. */
  readonly mscale?: number;
  readonly mscale_all_dim?: number;
  /** yarn: whether to truncate the correction range to integers (default true). */
  readonly truncate?: boolean;
}

export type LayerType = "full_attention" | "sliding_attention";

/** How a sequence-classification pipeline turns logits into scores (config.json `problem_type`). */
export type ProblemType = "regression" | "single_label_classification" | "multi_label_classification";

export interface Qwen2Config {
  readonly model_type: "qwen2";
  readonly vocab_size: number;
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly num_key_value_heads: number;
  /** Given explicitly or hidden_size / num_attention_heads. */
  readonly head_dim: number;
  readonly hidden_act: "silu";
  readonly max_position_embeddings: number;
  readonly rms_norm_eps: number;
  readonly tie_word_embeddings: boolean;
  readonly rope_theta: number;
  readonly rope_scaling: RopeScaling | null;
  readonly use_sliding_window: boolean;
  readonly sliding_window: number | null;
  readonly max_window_layers: number;
  /** Resolved per layer: explicit `layer_types` wins; else sliding iff use_sliding_window and i >= max_window_layers. */
  readonly layer_types: readonly LayerType[];
  /**
   * Resolved per layer: the sliding window W (a query sees W keys, itself included) for
   * sliding layers, null for full attention. A sliding layer with no window (sliding_window
   * null, as Hugging Face sets it when use_sliding_window is false) attends fully.
   * Always set by parseQwen2Config; optional so hand-built configs (GGUF, tests) stay valid:
   * read it through `layerWindows(config)`, which derives it when absent.
   */
  readonly layer_windows?: readonly (number | null)[];
  readonly attention_dropout: number;
  readonly bos_token_id: number | null;
  /** config.json's eos_token_id, as a list (it may be a number or a list there). */
  readonly eos_token_id: readonly number[];
  readonly pad_token_id: number | null;
  readonly torch_dtype: string | null;
  /** Set by parseQwen2Config (HF defaults 0.02 and true); optional for hand-built configs. */
  readonly initializer_range?: number;
  readonly use_cache?: boolean;
  /** config.json `architectures` (empty when absent); the first one names the class a folder loads as. */
  readonly architectures?: readonly string[];
  /**
   * Task-head labels by index: `id2label` when given (num_labels follows it, as in
   * transformers), else `LABEL_0`..`LABEL_{num_labels-1}`, else transformers' default of two.
   * Optional for hand-built configs; read it through `headLabels(config)`.
   */
  readonly id2label?: readonly string[];
  /** config.json `problem_type`, or null when absent. */
  readonly problem_type?: ProblemType | null;
  /** True when config.json carries `qwen2_ts_random_weights: true` (made by `qwen2 create-random`). */
  readonly qwen2_ts_random_weights?: boolean;
}

/**
 * Per-layer attention window: W for a sliding layer (a query sees W keys, itself
 * included), null for full attention. Uses `layer_windows` when resolved, else derives it
 * from `layer_types` and `sliding_window`.
 */
export function layerWindows(config: Qwen2Config): readonly (number | null)[] {
  if (config.layer_windows) return config.layer_windows;
  return config.layer_types.map((t) => (t === "sliding_attention" ? config.sliding_window : null));
}

/** The task-head labels of a config (see `id2label`). */
export function headLabels(config: Qwen2Config): readonly string[] {
  return config.id2label ?? ["LABEL_0", "LABEL_1"];
}

/** generation_config.json, normalised. Absent fields are undefined. */
export interface GenerationConfig {
  readonly eos_token_id?: readonly number[];
  readonly bos_token_id?: number;
  readonly pad_token_id?: number;
  readonly do_sample?: boolean;
  readonly temperature?: number;
  readonly top_k?: number;
  readonly top_p?: number;
  readonly min_p?: number;
  readonly repetition_penalty?: number;
  readonly max_new_tokens?: number;
}
