/**
 * qwen2-ts/node: the pieces that need Node's file system. Everything else, the tokenizer and
 * the byte-producing writers included, comes from the universal entry `qwen2-ts`.
 */
export { fileSource, folderFiles } from "./files.js";
export { loadTokenizer } from "./tokenizer.js";
export { writeFileAtomic, writeTextAtomic } from "./atomic_write.js";
export { writeSafetensors } from "./safetensors_writer.js";
export { writeGGUF, writeQwen2GGUF, type Qwen2GGUFExportSummary, type TensorProgress } from "./gguf_writer.js";
export { createRandomModel, type RandomModelResult } from "./random_model.js";
