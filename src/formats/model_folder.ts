/**
 * A Hugging Face model folder: config.json, generation_config.json (optional) and weights
 * as `model.safetensors` or shards listed in `model.safetensors.index.json`. The folder is
 * any ModelFiles: on disk, at a URL, dropped in a page, or in memory.
 */
import { FormatError, UnsupportedError } from "../errors.js";
import type { ModelFiles } from "../io/byte_source.js";
import type { GenerationConfig, Qwen2Config } from "./config.js";
import { loadGenerationConfig, loadQwen2Config } from "./config_parse.js";
import { validateQwen2Weights, type Qwen2WeightReport } from "./qwen2_tensors.js";
import { backboneView, configArchitecture, type Qwen2Architecture } from "./qwen2_architectures.js";
import { SafetensorsFile } from "./safetensors.js";
import { SAFETENSORS_INDEX, ShardedSafetensors } from "./safetensors_sharded.js";
import type { WeightSource } from "./weights.js";

/** The single-file weights name. */
export const SAFETENSORS_SINGLE = "model.safetensors";

/** A weight source that can also read straight into a caller's buffer (both safetensors kinds can). */
export interface SafetensorsSource extends WeightSource {
  readInto(name: string, dest: Uint8Array, offset?: number, signal?: AbortSignal): Promise<void>;
}

export interface ModelFolder {
  /** The folder's path or URL. */
  readonly location: string;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig;
  /** The class the weights were checked for: the one asked for, else config.json's `architectures`. */
  readonly architecture: Qwen2Architecture;
  /** The weights, the backbone seen under `model.` whichever prefix the class stored it under. */
  readonly weights: SafetensorsSource;
  /** Result of checking the weights against the config (missing/mis-shaped already threw). */
  readonly report: Qwen2WeightReport;
  /** Odd but legal things found in config.json, generation_config.json and the weights. */
  readonly warnings: readonly string[];
}

/** Opens the safetensors weights of a folder (sharded or single), headers only. */
export async function openSafetensorsWeights(files: ModelFiles, signal?: AbortSignal): Promise<SafetensorsSource> {
  if ((await files.text(SAFETENSORS_INDEX)) !== null) return ShardedSafetensors.open(files, SAFETENSORS_INDEX, signal);
  const single = await files.open(SAFETENSORS_SINGLE);
  if (single !== null) return SafetensorsFile.open(single, signal);
  for (const pickle of ["pytorch_model.bin", "pytorch_model.bin.index.json"]) {
    const found = await files.open(pickle);
    if (found !== null) {
      found.close();
      throw new UnsupportedError(`${files.location}: only PyTorch pickle weights (${pickle}) found; convert them to safetensors first`);
    }
  }
  throw new FormatError(files.location, `no ${SAFETENSORS_SINGLE} or ${SAFETENSORS_INDEX} found`);
}

export interface ModelFolderOptions {
  /** The class to check the weights for (default: the first Qwen2 class of config.json `architectures`, else Qwen2ForCausalLM). */
  readonly architecture?: Qwen2Architecture;
}

/** Loads config, generation config and (lazily) the weights, validating names and shapes. */
export async function loadModelFolder(files: ModelFiles, signal?: AbortSignal, options: ModelFolderOptions = {}): Promise<ModelFolder> {
  const warnings: string[] = [];
  const config = await loadQwen2Config(files, warnings);
  const generationConfig = await loadGenerationConfig(files, warnings);
  const stored = await openSafetensorsWeights(files, signal);
  const architecture = options.architecture ?? configArchitecture(config);
  try {
    const report = validateQwen2Weights(config, stored, { warnings, architecture });
    // Both safetensors sources read into buffers, and so does a view over them.
    const weights = backboneView(stored, config, architecture) as SafetensorsSource;
    return { location: files.location, config, generationConfig, architecture, weights, report, warnings };
  } catch (err) {
    stored.close();
    throw err;
  }
}
