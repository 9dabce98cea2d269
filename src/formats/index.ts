/**
 * qwen2-ts/formats: the file formats as bytes in, bytes out (no file system: Node's writers
 * are in `qwen2-ts/node`). For tools that inspect, convert or quantise models.
 */
export type { HostTensor, TensorInfo, TensorReader, UploadSource, WeightSource } from "./weights.js";
export { tensorReader } from "./weights.js";
export type { DType, WeightDType, FloatDType, QuantDType, BlockLayout } from "../tensor/dtype.js";
export { QUANT_LAYOUT, bitsPerWeight } from "../tensor/dtype.js";
export { QUANT_PRESETS, presetTensorType, type QuantPreset, type PresetModel } from "./gguf_quant_presets.js";
export {
  quantizeQ8_0,
  quantizeQ4_0,
  dequantizeQ8_0,
  dequantizeQ4_0,
  quantize,
  dequantize,
  weightToFloat32,
} from "../tensor/quant/index.js";
export type { Qwen2Config, GenerationConfig, RopeScaling, RopeType, LayerType } from "./config.js";
export { layerWindows } from "./config.js";
export { parseQwen2Config, loadQwen2Config, parseGenerationConfig, loadGenerationConfig } from "./config_parse.js";
export { SafetensorsFile, MAX_HEADER_BYTES } from "./safetensors.js";
export { ShardedSafetensors } from "./safetensors_sharded.js";
export { safetensorsChunks, safetensorsHeader, type TensorToWrite, type TensorBytes } from "./safetensors_writer.js";
export { loadModelFolder, openSafetensorsWeights, type ModelFolder } from "./model_folder.js";
export { qwen2ExpectedTensors, validateQwen2Weights } from "./qwen2_tensors.js";
export { GGUFFile, isGGUF, type GGUFTensorInfo } from "./gguf.js";
export { GGUFWriter } from "./gguf_writer.js";
export { GGUFValueType, type GGUFEntry, type GGUFValue, type GGMLType } from "./gguf_types.js";
export { openGGUF, type Qwen2GGUF, type GGUFTokenizerData, type GGUFAddedToken } from "./gguf_qwen2.js";
export {
  buildQwen2GGUF,
  GGUF_EXPORT_TYPES,
  type GGUFExportType,
  type Qwen2GGUFExportInput,
  type Qwen2GGUFBuild,
} from "./gguf_qwen2_export.js";
export { parseLoraConfig, type LoraConfig } from "./peft_config.js";
export { openPeftAdapter, resolveLoraModules, type PeftAdapter, type LoraModuleSpec } from "./peft_adapter.js";
export { mergeLoraWeights, type MergedAdapter } from "./lora_merge.js";
export { randomModel, RANDOM_PRESETS, type RandomPreset, type RandomModelOptions, type RandomModel } from "./random_model.js";
