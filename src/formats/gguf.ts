/**
 * GGUF reader (versions 2 and 3, little-endian). Opening a file reads and validates the
 * header, every metadata entry and every tensor info; tensor data is read lazily, one
 * tensor at a time, straight from the source (a file, a URL, a Blob), so a large model
 * never sits twice in memory.
 *
 * Any inconsistency (bad magic, a string running past the end, a duplicate key, a tensor
 * whose bytes lie outside the file or overlap another's) is a FormatError naming the file
 * and the field or tensor. Knowing nothing of any architecture, this module hands tensors
 * back under their GGUF names; see gguf_qwen2.ts for the Qwen2 view.
 */
import { FormatError, UnsupportedError } from "../errors.js";
import { type ByteSource, readBytes } from "../io/byte_source.js";
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE_NAMES,
  GGUFValueType,
  ggmlType,
  isGGUFValueType,
  type GGMLType,
  type GGUFEntry,
  type GGUFValue,
} from "./gguf_types.js";

export interface GGUFTensorInfo {
  readonly name: string;
  /** The ggml type (id, name, block layout, and our dtype or null when we cannot run it). */
  readonly type: GGMLType;
  /** ggml order: dims[0] is the contiguous (innermost) dimension. */
  readonly dims: readonly number[];
  /** Row-major shape, outermost first (dims reversed): Hugging Face's order. */
  readonly shape: readonly number[];
  /** Absolute offset of the first byte in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

const CHUNK = 1 << 20;
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });
const utf8 = new TextDecoder("utf-8");

/**
 * Sequential little-endian reads from a source through a refillable buffer: the header of a
 * model with a 150k-token vocabulary is several megabytes, read here in 1 MiB chunks. The
 * parser calls `need(n)` (async, refills) before a group of sync reads of at most n bytes,
 * so the common case, bytes already buffered, costs no await.
 */
class HeaderCursor {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0; // source offset of buf[0]
  pos = 0; // absolute source offset of the next read

  constructor(
    private readonly source: ByteSource,
    readonly fileSize: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private get path(): string {
    return this.source.name;
  }

  /** True when bytes [pos, pos + n) are buffered. */
  has(n: number): boolean {
    return this.pos - this.bufStart + n <= this.buf.length;
  }

  /** Makes bytes [pos, pos + n) available, or fails naming `what`. */
  async need(n: number, what: string): Promise<void> {
    if (this.pos + n > this.fileSize) {
      throw new FormatError(this.path, `${what}: needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.fileSize}`);
    }
    if (this.has(n)) return;
    const size = Math.min(Math.max(n, CHUNK), this.fileSize - this.pos);
    const next = new Uint8Array(size);
    await this.source.readInto(next, this.pos, this.signal);
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.bufStart = this.pos;
  }

  /** Offset in buf of the next n bytes, which must be buffered (checked, so a missing need() fails loudly). */
  private take(n: number, what: string): number {
    if (!this.has(n)) throw new Error(`GGUF reader bug: ${what} read without need()`);
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }
  i8(what: string): number {
    return this.view.getInt8(this.take(1, what));
  }
  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), true);
  }
  i16(what: string): number {
    return this.view.getInt16(this.take(2, what), true);
  }
  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }
  i32(what: string): number {
    return this.view.getInt32(this.take(4, what), true);
  }
  f32(what: string): number {
    return this.view.getFloat32(this.take(4, what), true);
  }
  f64(what: string): number {
    return this.view.getFloat64(this.take(8, what), true);
  }
  u64(what: string): bigint {
    return this.view.getBigUint64(this.take(8, what), true);
  }
  i64(what: string): bigint {
    return this.view.getBigInt64(this.take(8, what), true);
  }
  /** A u64 that must fit a JavaScript number and be at most `max`. */
  count(what: string, max: number): number {
    const v = this.u64(what);
    if (v > BigInt(max)) throw new FormatError(this.path, `${what}: ${v} is larger than the file allows (at most ${max})`);
    return Number(v);
  }
  async string(what: string): Promise<string> {
    if (!this.has(8)) await this.need(8, `${what} (string length)`);
    const len = this.count(`${what} (string length)`, this.fileSize - this.pos - 8);
    if (!this.has(len)) await this.need(len, what);
    const i = this.take(len, what);
    const bytes = this.buf.subarray(i, i + len);
    const s = utf8.decode(bytes);
    // Lenient decoding replaces bad bytes silently; check strictly only when it might have.
    if (s.includes("\ufffd")) {
      try {
        utf8Fatal.decode(bytes);
      } catch {
        throw new FormatError(this.path, `${what}: string is not valid UTF-8`);
      }
    }
    return s;
  }
}

/** Smallest size in bytes one value of a type occupies, for bounding array counts. */
function minValueBytes(type: GGUFValueType): number {
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.INT8:
    case GGUFValueType.BOOL:
      return 1;
    case GGUFValueType.UINT16:
    case GGUFValueType.INT16:
      return 2;
    case GGUFValueType.UINT32:
    case GGUFValueType.INT32:
    case GGUFValueType.FLOAT32:
      return 4;
    case GGUFValueType.ARRAY:
      return 12;
    default:
      return 8; // 64-bit values, and a string's length prefix
  }
}

/** Bytes a scalar value of a type occupies (strings and arrays are read on their own). */
function scalarBytes(type: GGUFValueType): number {
  return minValueBytes(type);
}

async function readValue(c: HeaderCursor, path: string, type: GGUFValueType, what: string): Promise<GGUFValue> {
  if (type === GGUFValueType.STRING) return c.string(what);
  if (type === GGUFValueType.ARRAY) {
    await c.need(12, `${what} (array header)`);
    const itemType = c.u32(`${what} (array item type)`);
    if (!isGGUFValueType(itemType)) throw new FormatError(path, `${what}: unknown array item type ${itemType}`);
    const n = c.count(`${what} (array length)`, Math.floor((c.fileSize - c.pos - 8) / minValueBytes(itemType)));
    const items: GGUFValue[] = new Array<GGUFValue>(n);
    if (itemType === GGUFValueType.STRING || itemType === GGUFValueType.ARRAY) {
      for (let i = 0; i < n; i++) items[i] = await readValue(c, path, itemType, `${what}[${i}]`);
    } else {
      // Scalars: buffer the whole array once, then read synchronously.
      await c.need(n * scalarBytes(itemType), what);
      for (let i = 0; i < n; i++) items[i] = readScalar(c, path, itemType, `${what}[${i}]`);
    }
    return items;
  }
  await c.need(scalarBytes(type), what);
  return readScalar(c, path, type, what);
}

/** A scalar value whose bytes are buffered. */
function readScalar(c: HeaderCursor, path: string, type: GGUFValueType, what: string): GGUFValue {
  switch (type) {
    case GGUFValueType.UINT8:
      return c.u8(what);
    case GGUFValueType.INT8:
      return c.i8(what);
    case GGUFValueType.UINT16:
      return c.u16(what);
    case GGUFValueType.INT16:
      return c.i16(what);
    case GGUFValueType.UINT32:
      return c.u32(what);
    case GGUFValueType.INT32:
      return c.i32(what);
    case GGUFValueType.FLOAT32:
      return c.f32(what);
    case GGUFValueType.FLOAT64:
      return c.f64(what);
    case GGUFValueType.UINT64:
      return c.u64(what);
    case GGUFValueType.INT64:
      return c.i64(what);
    case GGUFValueType.BOOL: {
      const b = c.u8(what);
      if (b > 1) throw new FormatError(path, `${what}: a bool must be 0 or 1, found ${b}`);
      return b === 1;
    }
    default:
      throw new Error(`GGUF reader bug: ${what} of type ${type} read as a scalar`);
  }
}

export class GGUFFile {
  private source: ByteSource | null;
  /** The source's name: a path, URL or file name. */
  readonly path: string;

  private constructor(
    source: ByteSource,
    readonly fileSize: number,
    readonly version: number,
    readonly metadata: ReadonlyMap<string, GGUFEntry>,
    readonly tensors: readonly GGUFTensorInfo[],
    readonly alignment: number,
    /** Absolute offset where tensor data starts. */
    readonly dataOffset: number,
  ) {
    this.source = source;
    this.path = source.name;
  }

  /**
   * Reads and validates a GGUF header; tensor data stays in the source until read. The
   * GGUFFile owns the source (closes it on failure too).
   */
  static async open(source: ByteSource, signal?: AbortSignal): Promise<GGUFFile> {
    try {
      return await GGUFFile.parse(source, signal);
    } catch (err) {
      source.close();
      throw err;
    }
  }

  private static async parse(source: ByteSource, signal: AbortSignal | undefined): Promise<GGUFFile> {
    const path = source.name;
    const size = source.size;
    const c = new HeaderCursor(source, size, signal);
    if (size < 24) throw new FormatError(path, `file is ${size} bytes, too short for a GGUF header (24 bytes)`);
    await c.need(24, "header");
    const magic = c.u32("magic");
    if (magic !== GGUF_MAGIC) {
      throw new FormatError(path, `not a GGUF file: magic is 0x${magic.toString(16).padStart(8, "0")}, expected "GGUF"`);
    }
    const version = c.u32("version");
    if (version === 1)
      throw new UnsupportedError(`${path}: GGUF version 1 (32-bit counts) is not supported; convert the file with a current llama.cpp`);
    if (version > 0xffff && (version & 0xffff) === 0) {
      throw new UnsupportedError(`${path}: big-endian GGUF files are not supported`);
    }
    if (version !== 2 && version !== 3) throw new FormatError(path, `unknown GGUF version ${version} (supported: 2, 3)`);
    // Each tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes, each entry at least 8 + 4 + 1.
    const tensorCount = c.count("tensor count", Math.floor(size / 32));
    const kvCount = c.count("metadata count", Math.floor(size / 13));

    const metadata = new Map<string, GGUFEntry>();
    for (let i = 0; i < kvCount; i++) {
      const key = await c.string(`metadata entry ${i} key`);
      if (metadata.has(key)) throw new FormatError(path, `metadata key '${key}' appears twice`);
      await c.need(4, `metadata '${key}' type`);
      const type = c.u32(`metadata '${key}' type`);
      if (!isGGUFValueType(type)) throw new FormatError(path, `metadata '${key}': unknown value type ${type}`);
      if (type === GGUFValueType.ARRAY) {
        await c.need(4, `metadata '${key}' item type`);
        const before = c.pos;
        const itemType = c.u32(`metadata '${key}' item type`);
        c.pos = before;
        const value = await readValue(c, path, type, `metadata '${key}'`);
        metadata.set(key, { type, itemType: itemType as GGUFValueType, value });
      } else {
        metadata.set(key, { type, value: await readValue(c, path, type, `metadata '${key}'`) });
      }
    }

    let alignment = GGUF_DEFAULT_ALIGNMENT;
    const align = metadata.get("general.alignment");
    if (align) {
      if (align.type !== GGUFValueType.UINT32) {
        throw new FormatError(path, `metadata 'general.alignment' must be uint32, found ${GGUF_VALUE_TYPE_NAMES[align.type]}`);
      }
      const a = align.value as number;
      if (a === 0 || (a & (a - 1)) !== 0) throw new FormatError(path, `metadata 'general.alignment' must be a power of two, found ${a}`);
      alignment = a;
    }

    interface RawInfo {
      name: string;
      type: GGMLType;
      dims: number[];
      rel: number;
      byteLength: number;
    }
    const raw: RawInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = await c.string(`tensor info ${i} name`);
      if (names.has(name)) throw new FormatError(path, `tensor '${name}' is listed twice`);
      names.add(name);
      await c.need(4, `tensor '${name}' dimension count`);
      const nDims = c.u32(`tensor '${name}' dimension count`);
      if (nDims < 1 || nDims > GGML_MAX_DIMS)
        throw new FormatError(path, `tensor '${name}': ${nDims} dimensions, expected 1 to ${GGML_MAX_DIMS}`);
      await c.need(nDims * 8 + 4 + 8, `tensor '${name}' dimensions, type and offset`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.count(`tensor '${name}' dimension ${d}`, Number.MAX_SAFE_INTEGER));
      const typeId = c.u32(`tensor '${name}' type`);
      const type = ggmlType(typeId);
      if (!type) throw new FormatError(path, `tensor '${name}': unknown ggml type id ${typeId}`);
      const rel = c.count(`tensor '${name}' offset`, size);
      if (rel % alignment !== 0)
        throw new FormatError(path, `tensor '${name}': data offset ${rel} is not a multiple of the alignment ${alignment}`);
      let n = 1;
      for (const d of dims) n *= d;
      if (!Number.isSafeInteger(n)) throw new FormatError(path, `tensor '${name}': shape [${dims.join(", ")}] is too large`);
      if (dims[0]! % type.blockSize !== 0) {
        throw new FormatError(
          path,
          `tensor '${name}': ${type.name} needs a row length (ne[0]) divisible by ${type.blockSize}, found ${dims[0]}`,
        );
      }
      raw.push({ name, type, dims, rel, byteLength: (n / type.blockSize) * type.typeSize });
    }

    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const tensors: GGUFTensorInfo[] = raw.map((r) => ({
      name: r.name,
      type: r.type,
      dims: r.dims,
      shape: [...r.dims].reverse(),
      offset: dataOffset + r.rel,
      byteLength: r.byteLength,
    }));
    for (const t of tensors) {
      if (t.offset + t.byteLength > size) {
        throw new FormatError(
          path,
          `tensor '${t.name}': data [${t.offset}, ${t.offset + t.byteLength}) runs past the end of the file (${size} bytes)`,
        );
      }
    }
    const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) {
      const prev = byOffset[i - 1]!;
      const cur = byOffset[i]!;
      if (prev.offset + prev.byteLength > cur.offset) {
        throw new FormatError(path, `tensors '${prev.name}' and '${cur.name}' overlap in the data section`);
      }
    }
    return new GGUFFile(source, size, version, metadata, tensors, alignment, dataOffset);
  }

  private byName: Map<string, GGUFTensorInfo> | null = null;

  tensor(name: string): GGUFTensorInfo | undefined {
    this.byName ??= new Map(this.tensors.map((t) => [t.name, t]));
    return this.byName.get(name);
  }

  /** Reads one tensor's bytes from the file into a new buffer. */
  async readTensorData(info: GGUFTensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(info.byteLength);
    await this.readTensorInto(info, out, 0, signal);
    return out;
  }

  /** Reads bytes [offset, offset + dest.byteLength) of a tensor into dest. */
  async readTensorInto(info: GGUFTensorInfo, dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void> {
    if (this.source === null) throw new FormatError(this.path, `cannot read tensor '${info.name}': the file was closed`);
    if (!(Number.isInteger(offset) && offset >= 0 && offset + dest.byteLength <= info.byteLength)) {
      throw new RangeError(
        `tensor '${info.name}': bytes [${offset}, ${offset + dest.byteLength}) are outside its ${info.byteLength} bytes`,
      );
    }
    await this.source.readInto(dest, info.offset + offset, signal);
  }

  /** The raw metadata entry, or undefined. */
  entry(key: string): GGUFEntry | undefined {
    return this.metadata.get(key);
  }

  /** A numeric metadata value (any integer or float type; 64-bit values must be exact in a double). */
  number(key: string): number | undefined {
    const e = this.metadata.get(key);
    if (e === undefined) return undefined;
    if (typeof e.value === "number") return e.value;
    if (typeof e.value === "bigint") {
      const n = Number(e.value);
      if (BigInt(n) !== e.value) throw new FormatError(this.path, `metadata '${key}': ${e.value} does not fit a double exactly`);
      return n;
    }
    throw new FormatError(this.path, `metadata '${key}' must be a number, found ${GGUF_VALUE_TYPE_NAMES[e.type]}`);
  }

  string(key: string): string | undefined {
    const e = this.metadata.get(key);
    if (e === undefined) return undefined;
    if (typeof e.value !== "string")
      throw new FormatError(this.path, `metadata '${key}' must be a string, found ${GGUF_VALUE_TYPE_NAMES[e.type]}`);
    return e.value;
  }

  bool(key: string): boolean | undefined {
    const e = this.metadata.get(key);
    if (e === undefined) return undefined;
    if (typeof e.value !== "boolean")
      throw new FormatError(this.path, `metadata '${key}' must be a bool, found ${GGUF_VALUE_TYPE_NAMES[e.type]}`);
    return e.value;
  }

  /** An array of strings. */
  strings(key: string): readonly string[] | undefined {
    const e = this.metadata.get(key);
    if (e === undefined) return undefined;
    if (e.type !== GGUFValueType.ARRAY || e.itemType !== GGUFValueType.STRING) {
      throw new FormatError(this.path, `metadata '${key}' must be an array of strings`);
    }
    return e.value as readonly string[];
  }

  /** An array of numbers (any integer or float item type; 64-bit items must be exact in a double). */
  numbers(key: string): readonly number[] | undefined {
    const e = this.metadata.get(key);
    if (e === undefined) return undefined;
    if (e.type !== GGUFValueType.ARRAY || !Array.isArray(e.value))
      throw new FormatError(this.path, `metadata '${key}' must be an array of numbers`);
    const items = e.value as readonly GGUFValue[];
    return items.map((v, i) => {
      if (typeof v === "number") return v;
      if (typeof v === "bigint" && BigInt(Number(v)) === v) return Number(v);
      if (typeof v === "boolean") return v ? 1 : 0;
      throw new FormatError(this.path, `metadata '${key}'[${i}] must be a number`);
    });
  }

  close(): void {
    this.source?.close();
    this.source = null;
  }
}

/** True when a source starts with the GGUF magic (for choosing a reader by content, not by name). */
export async function isGGUF(source: ByteSource, signal?: AbortSignal): Promise<boolean> {
  if (source.size < 4) return false;
  const head = await readBytes(source, 0, 4, signal);
  return new DataView(head.buffer).getUint32(0, true) === GGUF_MAGIC;
}
