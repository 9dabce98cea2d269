/**
 * qwen2-ts: the public library entry. Everything a user imports comes from here.
 */
export { FormatError, InvalidArgumentError, UnsupportedError } from "./errors.js";
export type { DType, WeightDType, FloatDType, QuantDType } from "./tensor/dtype.js";
export type { HostTensor, TensorInfo, WeightSource } from "./formats/weights.js";
export type { Backend, Mat, Weight, KVBuffer, AttentionSegment, AttentionParams } from "./backends/ops.js";
export type { CausalLM, SequenceCache, ForwardItem, ForwardOptions } from "./models/causal_lm.js";
export type { EncodeOptions, DecodeOptions, ChatMessage, ChatTemplateOptions, StreamDecoder, TextTokenizer } from "./tokenizer/types.js";
export { renderChatTemplate, ChatTemplateError, type RenderOptions } from "./tokenizer/chat_template.js";
