/** GGUF files on disk: formats/' byte streams, written atomically. */
import type { GGUFWriter } from "../formats/gguf_writer.js";
import { buildQwen2GGUF, type GGUFExportType, type Qwen2GGUFExportInput } from "../formats/gguf_qwen2_export.js";
import type { DType } from "../tensor/dtype.js";
import { writeFileAtomic } from "./atomic_write.js";

/** Progress: called after each tensor is written. */
export type TensorProgress = (name: string, index: number, count: number) => void;

/**
 * Writes a GGUF file at `path` (through `<path>.partial`, renamed at the end, so a failed
 * conversion never leaves a truncated model behind).
 */
export function writeGGUF(path: string, writer: GGUFWriter, onTensor?: TensorProgress): Promise<void> {
  return writeFileAtomic(path, writer.chunks(onTensor));
}

export interface Qwen2GGUFExportSummary {
  readonly path: string;
  readonly type: GGUFExportType;
  /** GGUF tensor name → storage type written. */
  readonly tensorTypes: ReadonlyMap<string, DType>;
  /** GGUF tensor name → shape (PyTorch order). */
  readonly tensorShapes: ReadonlyMap<string, readonly number[]>;
}

/** Writes Hugging Face Qwen2 weights as a GGUF file llama.cpp runs (see formats/gguf_qwen2_export.ts). */
export async function writeQwen2GGUF(
  path: string,
  input: Qwen2GGUFExportInput & { readonly onTensor?: TensorProgress },
): Promise<Qwen2GGUFExportSummary> {
  const { writer, type, tensorTypes, tensorShapes } = buildQwen2GGUF(input);
  await writeGGUF(path, writer, input.onTensor);
  return { path, type, tensorTypes, tensorShapes };
}
