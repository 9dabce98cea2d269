/**
 * qwen2-ts: the public library entry. Everything a user imports comes from here.
 */
export { FormatError, InvalidArgumentError, UnsupportedError } from "./errors.js";
export type { DType, WeightDType, FloatDType, QuantDType } from "./tensor/dtype.js";
export type { HostTensor, TensorInfo, WeightSource } from "./formats/weights.js";
export type { Backend, Mat, Weight, KVBuffer, AttentionSegment, AttentionParams } from "./backends/ops.js";
export type { CausalLM, SequenceCache, ForwardItem, ForwardOptions } from "./models/causal_lm.js";
export type { EncodeOptions, DecodeOptions, ChatMessage, ChatTemplateOptions, StreamDecoder, TextTokenizer } from "./tokenizer/types.js";
export { quantizeQ8_0, quantizeQ4_0, dequantizeQ8_0, dequantizeQ4_0, quantize, dequantize, weightToFloat32 } from "./tensor/quant.js";
export { GGUFFile, openGGUFFile, isGGUFFile, type GGUFTensorInfo } from "./formats/gguf.js";
export { GGUFWriter } from "./formats/gguf_writer.js";
export { GGUFValueType, type GGUFEntry, type GGUFValue, type GGMLType } from "./formats/gguf_types.js";
export { openGGUF, type Qwen2GGUF, type GGUFTokenizerData, type GGUFAddedToken } from "./formats/gguf_qwen2.js";
export { writeQwen2GGUF, GGUF_EXPORT_TYPES, type GGUFExportType, type Qwen2GGUFExportInput } from "./formats/gguf_qwen2_export.js";
export { readHFTokenizerFiles, type HFTokenizerFiles } from "./formats/gguf_qwen2_vocab.js";
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
