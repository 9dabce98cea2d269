import type { DType } from "../tensor/dtype.js";

/**
 * A tensor as stored on disk: raw little-endian bytes plus dtype and shape. The bytes may
 * be a view into a larger buffer (a file read lazily); do not mutate them.
 */
export interface HostTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** What a source says about a tensor without reading its bytes. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Storage size in bytes. */
  readonly byteLength: number;
}

/**
 * A set of named tensors that can be read lazily: a safetensors file, a sharded safetensors
 * folder, or a GGUF file (whose tensor names are mapped to Hugging Face names at the edge,
 * so that model code only ever sees Hugging Face names).
 */
export interface WeightSource {
  /** A description for error messages, usually the folder or file path. */
  readonly location: string;
  names(): string[];
  has(name: string): boolean;
  /** Throws a FormatError naming the tensor and the location when it is absent. */
  info(name: string): TensorInfo;
  /** Reads a tensor's bytes. Throws a FormatError naming the tensor when absent or broken. */
  read(name: string): HostTensor;
  /** Releases file handles. Tensors already read stay valid. */
  close(): void;
}
