/**
 * qwen2-ts: the public library entry. Everything a user imports comes from here.
 */
export { FormatError, InvalidArgumentError, UnsupportedError } from "./errors.js";
export type { DType, WeightDType, FloatDType, QuantDType } from "./tensor/dtype.js";
export type { HostTensor, TensorInfo, WeightSource } from "./formats/weights.js";
export type { Backend, Mat, Weight, KVBuffer, AttentionSegment, AttentionParams } from "./backends/ops.js";
export type { CausalLM, SequenceCache, ForwardItem, ForwardOptions } from "./models/causal_lm.js";
export type { EncodeOptions, DecodeOptions, ChatMessage, ChatTemplateOptions, StreamDecoder, TextTokenizer } from "./tokenizer/types.js";
export { generate, stream, encodePrompt } from "./generation/generate.js";
export type { GenerateInput, GenerateOptions } from "./generation/generate.js";
export { SequenceGenerator, stepBatch, ContextOverflowError, DEFAULT_MAX_NEW_TOKENS } from "./generation/sequence_generator.js";
export type { GenerationOptions, GenerationResult, GenerationTimings, GenerationUsage, TokenEvent, TokenLogprobs } from "./generation/sequence_generator.js";
export { Sampler } from "./generation/sampler.js";
export type { SamplingOptions, SampledToken, TokenLogprob } from "./generation/sampler.js";
export type { LogitsProcessor, ProcessorContext } from "./generation/logits_processors.js";
export { Rng } from "./generation/rng.js";
export { StopStringMatcher, collectEosIds } from "./generation/stopping.js";
export type { FinishReason } from "./generation/stopping.js";
export { optionsFromGenerationConfig } from "./generation/defaults.js";
export { loadModel } from "./runtime/load.js";
export type { LoadedModel, LoadOptions, LoadProgress, BackendName } from "./runtime/load.js";
export { Tokenizer } from "./tokenizer/tokenizer.js";
export { renderChatTemplate, ChatTemplateError, type RenderOptions } from "./tokenizer/chat_template.js";
