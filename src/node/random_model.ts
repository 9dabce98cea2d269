/** `qwen2 create-random`'s folder on disk: formats/random_model.ts's contents, written atomically file by file. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Qwen2Config } from "../formats/config.js";
import { randomModel, type RandomModelOptions } from "../formats/random_model.js";
import { writeTextAtomic } from "./atomic_write.js";
import { writeSafetensors } from "./safetensors_writer.js";

export interface RandomModelResult {
  readonly dir: string;
  readonly config: Qwen2Config;
  readonly parameters: number;
  readonly bytes: number;
}

/**
 * Writes a complete random model folder at `outDir` (created when missing; files of the
 * same names are replaced). config.json is written last, so a folder whose weights failed
 * half-way does not look like a model.
 */
export async function createRandomModel(opts: RandomModelOptions & { readonly outDir: string }): Promise<RandomModelResult> {
  const model = await randomModel(opts);
  mkdirSync(opts.outDir, { recursive: true });
  const { "config.json": configText, ...others } = model.files;
  for (const [name, text] of Object.entries(others)) await writeTextAtomic(join(opts.outDir, name), text);
  await writeSafetensors(join(opts.outDir, "model.safetensors"), model.tensors, model.metadata);
  if (configText !== undefined) await writeTextAtomic(join(opts.outDir, "config.json"), configText);
  return { dir: opts.outDir, config: model.config, parameters: model.parameters, bytes: model.bytes };
}
