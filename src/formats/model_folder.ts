/**
 * A Hugging Face model folder: config.json, generation_config.json (optional) and weights
 * as `model.safetensors` or shards listed in `model.safetensors.index.json`.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { FormatError, UnsupportedError } from "../errors.js";
import type { GenerationConfig, Qwen2Config } from "./config.js";
import { loadGenerationConfig, loadQwen2Config } from "./config_parse.js";
import { validateQwen2Weights, type Qwen2WeightReport } from "./qwen2_tensors.js";
import { SafetensorsFile } from "./safetensors.js";
import { SAFETENSORS_INDEX, ShardedSafetensors } from "./safetensors_sharded.js";
import type { WeightSource } from "./weights.js";

/** A weight source that can also read straight into a caller's buffer (both safetensors kinds can). */
export interface SafetensorsSource extends WeightSource {
  readInto(name: string, dest: Uint8Array, offset?: number): void;
}

export interface ModelFolder {
  /** Absolute path of the folder. */
  readonly dir: string;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig;
  readonly weights: SafetensorsSource;
  /** Result of checking the weights against the config (missing/mis-shaped already threw). */
  readonly report: Qwen2WeightReport;
  /** Odd but legal things found in config.json, generation_config.json and the weights. */
  readonly warnings: readonly string[];
}

/** Opens the safetensors weights of a folder (sharded or single), header only. */
export function openSafetensorsWeights(dir: string): SafetensorsSource {
  const index = join(dir, SAFETENSORS_INDEX);
  if (existsSync(index)) return ShardedSafetensors.open(index);
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return SafetensorsFile.open(single);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // reported below
  }
  if (names.some((n) => n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth"))) {
    throw new UnsupportedError(`${dir}: only PyTorch pickle weights (.bin) found; convert them to safetensors first`);
  }
  throw new FormatError(dir, `no model.safetensors or ${SAFETENSORS_INDEX} found`);
}

/** Loads config, generation config and (lazily) the weights, validating names and shapes. */
export function loadModelFolder(dirArg: string): ModelFolder {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FormatError(dir, "model folder not found");
  const warnings: string[] = [];
  const config = loadQwen2Config(dir, warnings);
  const generationConfig = loadGenerationConfig(dir, warnings);
  const weights = openSafetensorsWeights(dir);
  try {
    const report = validateQwen2Weights(config, weights, warnings);
    return { dir, config, generationConfig, weights, report, warnings };
  } catch (err) {
    weights.close();
    throw err;
  }
}
