/** Opening fixtures from disk through the same ByteSource/ModelFiles path every loader takes. */
import { GGUFFile, isGGUF } from "../../src/formats/gguf.js";
import { openGGUF, type Qwen2GGUF } from "../../src/formats/gguf_qwen2.js";
import { loadModelFolder, type ModelFolder } from "../../src/formats/model_folder.js";
import { SafetensorsFile } from "../../src/formats/safetensors.js";
import { ShardedSafetensors } from "../../src/formats/safetensors_sharded.js";
import { localFolder, openNodeFile } from "../../src/platform/node_files.js";
import { basename, dirname } from "node:path";

export function openFolder(dir: string): Promise<ModelFolder> {
  return loadModelFolder(localFolder(dir));
}

export async function openSafetensorsPath(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(openNodeFile(path));
}

export function openShardedPath(indexPath: string): Promise<ShardedSafetensors> {
  return ShardedSafetensors.open(localFolder(dirname(indexPath)), basename(indexPath));
}

export async function openGGUFPath(path: string): Promise<GGUFFile> {
  return GGUFFile.open(openNodeFile(path));
}

export async function openQwen2GGUFPath(path: string): Promise<Qwen2GGUF> {
  return openGGUF(openNodeFile(path));
}

/** True when a path is a readable file starting with the GGUF magic. */
export async function isGGUFPath(path: string): Promise<boolean> {
  let file: ReturnType<typeof openNodeFile>;
  try {
    file = openNodeFile(path);
  } catch {
    return false;
  }
  try {
    return await isGGUF(file);
  } catch {
    return false; // a folder
  } finally {
    file.close();
  }
}
