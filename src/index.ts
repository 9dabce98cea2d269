/**
 * qwen2-ts: the universal entry, for browsers, workers, Node, Deno and Bun. Nothing reached
 * from here imports a Node built-in: runtime differences live behind `#platform`.
 *
 * This is what an application needs: load a model (`fromPretrained`, or `WorkerEngine` to keep
 * a page's main thread free), tokenize, generate. File formats and quantisation are in
 * `qwen2-ts/formats`; Node's file writers in `qwen2-ts/node`; the HTTP server in
 * `qwen2-ts/server`; every other module under `qwen2-ts/internal/*` (no stability promise).
 */
export { FormatError, InvalidArgumentError, UnsupportedError } from "./errors.js";

// Loading: one entry for URLs, files, paths (Node) and custom sources.
export { fromPretrained } from "./runtime/load.js";
export type { LoadedModel, LoadOptions, LoadProgress, BackendName, ModelSource } from "./runtime/load.js";
export { listCachedModels, deleteCachedModel, DEFAULT_CACHE_NAME, type CachedModel, type CacheOptions } from "./io/cache.js";
export { memoryFiles, memorySource, type ByteSource, type ModelFiles } from "./io/byte_source.js";
export { urlFiles } from "./io/url_files.js";
export { blobFiles, blobSource } from "./io/blob_source.js";
export type { FetchLike } from "./io/http.js";

// A model in a dedicated worker: loading and inference never block the calling thread.
export { WorkerEngine } from "./runtime/worker_engine/engine.js";
export type {
  WorkerEngineOptions,
  WorkerGenerateOptions,
  EngineTokenEvent,
  EngineInfo,
  EngineLoadProgress,
  EngineModelSource,
} from "./runtime/worker_engine/engine.js";

// Tokenizer and chat templates.
export { Tokenizer } from "./tokenizer/tokenizer.js";
export type { EncodeOptions, DecodeOptions, ChatMessage, ChatTemplateOptions, StreamDecoder, TextTokenizer } from "./tokenizer/types.js";
export { ChatTemplateError } from "./tokenizer/chat_template.js";

// Generation.
export { generate, stream } from "./generation/generate.js";
export type { GenerateInput } from "./generation/generate.js";
export { SequenceGenerator, stepBatch, ContextOverflowError, DEFAULT_MAX_NEW_TOKENS } from "./generation/sequence_generator.js";
export type {
  GenerationOptions,
  GenerationResult,
  GenerationTimings,
  GenerationUsage,
  TokenEvent,
  TokenLogprobs,
} from "./generation/sequence_generator.js";
export type { SamplingOptions, TokenLogprob } from "./generation/sampler.js";
export type { LogitsProcessor, ProcessorContext } from "./generation/logits_processors.js";
export type { FinishReason } from "./generation/stopping.js";
export { resolveGenerationOptions } from "./generation/defaults.js";
export type { GenerationDefaults, GenerationOverrides } from "./generation/defaults.js";
export {
  JsonConstraint,
  ToolCallConstraint,
  compileSchema,
  compileSchemaAsync,
  responseFormatConstraint,
  SchemaError,
  SchemaLimitError,
} from "./generation/constraints/index.js";
export type { ResponseFormat, SchemaNode, ForcedTool, ConstraintLimits, CompileOptions } from "./generation/constraints/index.js";

// Models and compute backends, for code that drives the forward pass itself.
export type { Qwen2Config, GenerationConfig } from "./formats/config.js";
export type { CausalLM, SequenceCache, ForwardItem, ForwardOptions } from "./models/causal_lm.js";
export type { Qwen2Source, Qwen2LoadOptions } from "./models/qwen2.js";

// The Qwen2 classes as transformers names them, each with fromPretrained (folder, URL, GGUF for
// the causal LM) and load (the bare model on a backend of your own); AutoModel picks the class
// config.json names.
export {
  AutoModel,
  Qwen2ForCausalLM,
  Qwen2Model,
  Qwen2ForSequenceClassification,
  Qwen2ForTokenClassification,
  Qwen2ForQuestionAnswering,
} from "./runtime/pretrained.js";
export type {
  Qwen2Pretrained,
  TextInput,
  LabelScore,
  ClassifyOptions,
  RerankOptions,
  RerankResult,
  TokenLabel,
  QuestionAnswer,
} from "./runtime/pretrained.js";
export { QWEN_RERANKER_TEMPLATE, rerankPairIds, type RerankFormat } from "./runtime/rerank_format.js";
export type { PaddedInput, SequenceClassification, TokenClassification, QuestionAnsweringLogits } from "./models/qwen2_heads.js";
export type { ScoreFunction, SpanOptions, AnswerSpan } from "./models/head_outputs.js";
export type { Qwen2Architecture } from "./formats/qwen2_architectures.js";
export type { ProblemType } from "./formats/config.js";
export type { Backend } from "./backends/ops.js";
export { ReferenceBackend } from "./backends/reference/index.js";
export { WasmBackend, createWasmBackend, relaxedSimdAvailable, type WasmBackendOptions } from "./backends/wasm/index.js";
export { WebGPUBackend, type WebGPUBackendOptions } from "./backends/webgpu/index.js";

// PEFT LoRA adapters: several on one model, chosen per sequence (or merged at load: LoadOptions.mergeAdapters).
export { loadAdapter } from "./runtime/adapters.js";
export type { AdapterSource, AdapterLoadOptions, MergeAdapterSpec } from "./runtime/adapters.js";
export { LoraAdapter, withAdapters, type AdapterChoice } from "./models/lora.js";
