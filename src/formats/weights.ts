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
  /** Reads a tensor's bytes. Rejects with a FormatError naming the tensor when absent or broken. */
  read(name: string): Promise<HostTensor>;
  /**
   * Reads bytes [offset, offset + dest.byteLength) of a tensor into dest (e.g. a view of a
   * WebAssembly memory). File-backed sources offer it so that weights need no whole-tensor
   * buffer on the way to a backend.
   */
  readInto?(name: string, dest: Uint8Array, offset?: number, signal?: AbortSignal): Promise<void>;
  /** Releases file handles. Tensors already read stay valid. */
  close(): void;
}

/**
 * A tensor whose bytes are read on demand, piece by piece: a backend reads it straight into
 * its own memory, with no buffer of the whole tensor in between (which would cost a copy and,
 * on a fresh buffer, a page fault per 4 KiB: the bulk of load time).
 */
export interface TensorReader extends TensorInfo {
  /** Copies bytes [offset, offset + dest.byteLength) of the tensor into dest. */
  readInto(dest: Uint8Array, offset: number): Promise<void>;
}

/** What a backend uploads: a tensor already in memory or one read on demand. */
export type UploadSource = HostTensor | TensorReader;

/** A reader over a tensor that is already in memory. */
export function memoryReader(t: HostTensor): TensorReader {
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    byteLength: t.data.byteLength,
    async readInto(dest: Uint8Array, offset: number): Promise<void> {
      if (!(offset >= 0 && offset + dest.byteLength <= t.data.byteLength)) {
        throw new RangeError(`tensor ${t.name}: bytes [${offset}, ${offset + dest.byteLength}) are outside its ${t.data.byteLength} bytes`);
      }
      dest.set(t.data.subarray(offset, offset + dest.byteLength));
    },
  };
}

/** Either form as a reader. */
export function asReader(t: UploadSource): TensorReader {
  return "data" in t ? memoryReader(t) : t;
}

/**
 * What to upload for tensor `name` of a source: a reader streaming from its file when the
 * source can read ranges, else the tensor read whole. `signal` aborts the reads.
 */
export async function tensorReader(source: WeightSource, name: string, signal?: AbortSignal): Promise<UploadSource> {
  if (source.readInto === undefined) return source.read(name);
  const info = source.info(name);
  const readInto = source.readInto.bind(source);
  return {
    name,
    dtype: info.dtype,
    shape: info.shape,
    byteLength: info.byteLength,
    readInto: (dest, offset) => readInto(name, dest, offset, signal),
  };
}

/** A reader's whole contents as a HostTensor (for backends that keep tensors in JS memory). */
export async function readWhole(t: UploadSource): Promise<HostTensor> {
  if ("data" in t) return t;
  const data = new Uint8Array(t.byteLength);
  await t.readInto(data, 0);
  return { name: t.name, dtype: t.dtype, shape: t.shape, data };
}
