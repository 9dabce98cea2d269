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
export type { Qwen2Config, GenerationConfig, RopeScaling, RopeType, LayerType } from "./formats/config.js";
export { layerWindows } from "./formats/config.js";
export { SafetensorsFile, MAX_HEADER_BYTES } from "./formats/safetensors.js";
export { ShardedSafetensors } from "./formats/safetensors_sharded.js";
export { writeSafetensors } from "./formats/safetensors_writer.js";
export type { TensorToWrite } from "./formats/safetensors_writer.js";
export { parseQwen2Config, loadQwen2Config, parseGenerationConfig, loadGenerationConfig } from "./formats/config_parse.js";
export { loadModelFolder, openSafetensorsWeights } from "./formats/model_folder.js";
export type { ModelFolder } from "./formats/model_folder.js";
export { qwen2ExpectedTensors, validateQwen2Weights, checkQwen2Weights } from "./formats/qwen2_tensors.js";
export { createRandomModel, RANDOM_PRESETS } from "./formats/random_model.js";
export type { RandomPreset, RandomModelOptions } from "./formats/random_model.js";
