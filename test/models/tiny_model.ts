/**
 * A tiny random Qwen2ForCausalLM built in memory, for tests that need a real model but not
 * trained weights (generation, server, CLI). Deterministic for a seed.
 *
 *   const model = createTinyModel({ vocabSize: 300, seed: 1 });
 */
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import type { Qwen2Config } from "../../src/formats/config.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";

export interface TinyModelOptions {
  readonly vocabSize: number;
  readonly seed?: number;
  /** config.json fields to override (e.g. use_sliding_window, sliding_window, rope_scaling). */
  readonly config?: Record<string, unknown>;
  /** Rows per forward step (default the model's 512); small values exercise chunking. */
  readonly chunkSize?: number;
  readonly backend?: Backend;
}

/** config.json of the tiny shape: hidden 32, 2 layers, 4 heads / 2 KV heads, head_dim 8. */
export function tinyConfig(vocabSize: number, overrides: Record<string, unknown> = {}): Qwen2Config {
  return parseQwen2Config(
    {
      model_type: "qwen2",
      architectures: ["Qwen2ForCausalLM"],
      vocab_size: vocabSize,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: false,
      bos_token_id: null,
      eos_token_id: vocabSize - 1,
      ...overrides,
    },
    "<tiny config>",
  );
}

export async function createTinyModel(options: TinyModelOptions): Promise<Qwen2ForCausalLM> {
  const config = tinyConfig(options.vocabSize, options.config);
  // Larger than HF's 0.02 init so that logits are far from uniform and tokens vary.
  const weights = new RandomQwen2Weights(config, options.seed ?? 0, "f32", 0.2);
  return Qwen2ForCausalLM.load(
    { config, weights },
    options.backend ?? new ReferenceBackend(),
    options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize },
  );
}
