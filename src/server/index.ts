/**
 * qwen2-ts/server: the OpenAI-compatible HTTP server (Node). Give it any CausalLM and
 * TextTokenizer, usually what `fromPretrained` loaded:
 *
 *   const server = createServer({ model, tokenizer, eosIds, generationConfig, modelId: "qwen" });
 *   const url = await server.listen(8080, "127.0.0.1");
 *
 * Sampling defaults come from `generationConfig` and each request field overrides one
 * (generation/defaults.ts; docs/server.md states the policy).
 */
export { createServer, QwenServer, ApiError, type ServerOptions } from "./server.js";
export type { SchedulerStats } from "./scheduler.js";
export type { ServedAdapter } from "./adapters.js";
export { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
// A sequence-classification model at /v1/classify and /v1/rerank: `classifier` in ServerOptions,
// with `model: noLanguageModel(config)` for a server that runs nothing else.
export { noLanguageModel, type ServedClassifier } from "./classifier.js";
