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
