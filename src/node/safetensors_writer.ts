/** safetensors files on disk: formats/safetensors_writer.ts's chunks, written atomically. */
import { safetensorsChunks, type TensorToWrite } from "../formats/safetensors_writer.js";
import { writeFileAtomic } from "./atomic_write.js";

/**
 * Writes a safetensors file at `path` (through `<path>.partial`, renamed at the end, so an
 * interrupted write never leaves a file that looks complete).
 */
export function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  return writeFileAtomic(path, safetensorsChunks(tensors, metadata));
}
