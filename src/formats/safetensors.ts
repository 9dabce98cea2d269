/**
 * safetensors reader: header validation and lazy per-tensor reads.
 *
 * File layout: 8 bytes little-endian u64 header length N, N bytes of JSON (the header),
 * then the data section. Each header entry gives `dtype`, `shape` and `data_offsets`
 * [begin, end) relative to the start of the data section; `__metadata__` is an optional
 * string → string map.
 *
 * Opening a file reads only the header. Tensor bytes are read on demand through a
 * ByteSource (a file, a URL with range requests, a Blob), so a 1 GB model never sits in the
 * JS heap as one copy: each tensor lands in its own freshly allocated (hence 8-byte aligned)
 * buffer, or straight into a caller's buffer with `readInto` (e.g. a WebAssembly memory).
 *
 * Every defect is reported as a FormatError naming the file and, where one is involved,
 * the tensor: a truncated file, a header that is not JSON, an unknown dtype, a shape that
 * disagrees with its byte range, ranges that overlap or run past the end of the file, and
 * headers larger than {@link MAX_HEADER_BYTES} (refused before allocating them).
 */
import { FormatError } from "../errors.js";
import { type ByteSource, readBytes } from "../io/byte_source.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import type { HostTensor, TensorInfo, WeightSource } from "./weights.js";

/** Headers above this size are refused (the safetensors reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype names → our dtypes. F8 and complex types are rejected by name. */
const DTYPES: Readonly<Record<string, DType>> = {
  F64: "f64",
  F32: "f32",
  F16: "f16",
  BF16: "bf16",
  I8: "i8",
  U8: "u8",
  I16: "i16",
  U16: "u16",
  I32: "i32",
  U32: "u32",
  I64: "i64",
  U64: "u64",
  BOOL: "bool",
};

/** Our dtypes → safetensors names (for the writer and for display). */
export const SAFETENSORS_DTYPE_NAMES: Readonly<Partial<Record<DType, string>>> = Object.fromEntries(
  Object.entries(DTYPES).map(([k, v]) => [v, k]),
) as Partial<Record<DType, string>>;

/** One tensor's header entry, with offsets made absolute within the file. */
export interface SafetensorsEntry extends TensorInfo {
  /** Absolute byte offset of the first byte in the file. */
  readonly fileOffset: number;
}

export interface SafetensorsHeader {
  /** Size of the JSON header in bytes (without the 8-byte length prefix). */
  readonly headerBytes: number;
  /** Absolute offset of the data section. */
  readonly dataStart: number;
  /** Entries in header order. */
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>> | null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads the 8-byte length prefix. Throws for a file too short to hold it, a header over
 * the size limit, or a header that runs past the end of the file.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new FormatError(file, `truncated: ${fileSize} bytes, a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(file, `header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or corrupt)`);
  }
  const len = Number(n);
  if (len < 2) throw new FormatError(file, `header length ${len} is too small to hold a JSON object`);
  if (8 + len > fileSize) {
    throw new FormatError(file, `truncated: header claims ${len} bytes but the file has only ${fileSize - 8} after the length prefix`);
  }
  return len;
}

/**
 * Validates a header's JSON text against the file size and returns its entries.
 * `headerBytes` is the length of `json` in bytes as stored.
 */
export function parseHeaderJson(json: string, headerBytes: number, fileSize: number, file: string): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new FormatError(file, `header is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new FormatError(file, "header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}");

  const dataStart = 8 + headerBytes;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const [name, value] of Object.entries(raw)) {
    if (name === "__metadata__") {
      if (value === null) continue;
      if (!isPlainObject(value)) throw new FormatError(file, "__metadata__ must be an object of string values");
      metadata = {};
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") throw new FormatError(file, `__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isPlainObject(value)) throw new FormatError(file, `${where}: header entry must be an object`);
    const { dtype: rawDtype, shape: rawShape, data_offsets: rawOffsets } = value;
    if (typeof rawDtype !== "string") throw new FormatError(file, `${where}: missing or non-string dtype`);
    const dtype = DTYPES[rawDtype];
    if (dtype === undefined) {
      throw new FormatError(file, `${where}: unsupported dtype '${rawDtype}' (supported: ${Object.keys(DTYPES).join(", ")})`);
    }
    if (!Array.isArray(rawShape) || !rawShape.every(isNonNegativeInt)) {
      throw new FormatError(file, `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(rawShape)}`);
    }
    const shape = rawShape as number[];
    if (!Array.isArray(rawOffsets) || rawOffsets.length !== 2 || !rawOffsets.every(isNonNegativeInt)) {
      throw new FormatError(file, `${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(rawOffsets)}`);
    }
    const [begin, end] = rawOffsets as [number, number];
    if (end < begin) throw new FormatError(file, `${where}: data_offsets [${begin}, ${end}] end before begin`);
    const expected = byteSize(dtype, shape);
    if (end - begin !== expected) {
      throw new FormatError(
        file,
        `${where}: shape [${shape.join(", ")}] of ${rawDtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    if (end > dataSize) {
      throw new FormatError(
        file,
        `${where}: data_offsets [${begin}, ${end}] run past the end of the file (data section is ${dataSize} bytes; truncated file?)`,
      );
    }
    entries.push({ name, dtype, shape, byteLength: end - begin, fileOffset: dataStart + begin });
    if (end > begin) ranges.push({ name, begin, end });
  }

  // Overlapping ranges would make two tensors alias each other's bytes: always a writer bug.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur.begin < prev.end) {
      throw new FormatError(
        file,
        `tensor '${cur.name}': data_offsets [${cur.begin}, ${cur.end}] overlap tensor '${prev.name}' [${prev.begin}, ${prev.end}]`,
      );
    }
  }
  return { headerBytes, dataStart, entries, metadata };
}

/** One open safetensors file. Implements WeightSource over its tensors. */
export class SafetensorsFile implements WeightSource {
  readonly location: string;
  readonly header: SafetensorsHeader;
  readonly fileSize: number;
  private source: ByteSource | null;
  private readonly byName: Map<string, SafetensorsEntry>;

  private constructor(source: ByteSource, header: SafetensorsHeader) {
    this.location = source.name;
    this.source = source;
    this.fileSize = source.size;
    this.header = header;
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  /**
   * Reads and validates the header of a safetensors file. Throws FormatError for any defect;
   * the file is closed then. On success the SafetensorsFile owns the source.
   */
  static async open(source: ByteSource, signal?: AbortSignal): Promise<SafetensorsFile> {
    try {
      const fileSize = source.size;
      const prefix = new Uint8Array(8);
      if (fileSize >= 8) await source.readInto(prefix, 0, signal);
      const len = parseHeaderLength(prefix, fileSize, source.name);
      const header = parseHeaderJson(new TextDecoder().decode(await readBytes(source, 8, len, signal)), len, fileSize, source.name);
      return new SafetensorsFile(source, header);
    } catch (err) {
      source.close();
      throw err;
    }
  }

  get metadata(): Readonly<Record<string, string>> | null {
    return this.header.metadata;
  }

  names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) throw new FormatError(this.location, `tensor '${name}' not found`);
    return e;
  }

  /** Reads a tensor into a new buffer (its own ArrayBuffer, so typed views are aligned). */
  async read(name: string): Promise<HostTensor> {
    const e = this.info(name);
    const data = new Uint8Array(e.byteLength);
    await this.readInto(name, data);
    return { name, dtype: e.dtype, shape: e.shape, data };
  }

  /** Reads bytes [offset, offset + dest.byteLength) of a tensor into `dest`, e.g. a WebAssembly memory view. */
  async readInto(name: string, dest: Uint8Array, offset = 0, signal?: AbortSignal): Promise<void> {
    const e = this.info(name);
    if (!(Number.isInteger(offset) && offset >= 0 && offset + dest.byteLength <= e.byteLength)) {
      throw new RangeError(
        `readInto('${name}'): bytes [${offset}, ${offset + dest.byteLength}) are outside the tensor's ${e.byteLength} bytes`,
      );
    }
    if (this.source === null) throw new FormatError(this.location, `tensor '${name}': file already closed`);
    await this.source.readInto(dest, e.fileOffset + offset, signal);
  }

  close(): void {
    this.source?.close();
    this.source = null;
  }
}
