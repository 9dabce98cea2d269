/**
 * GGUF writer (version 3, little-endian), as bytes: `chunks()` streams the file (header,
 * then each tensor padded to the alignment), which the Node edge writes to disk atomically
 * (`writeGGUF` in node/) and a page can turn into a Blob. Metadata entries keep their
 * insertion order; tensors come in the order added and their bytes are produced one at a
 * time by a callback, so converting a model never holds more than one tensor in memory.
 */
import { InvalidArgumentError } from "../errors.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUFValueType,
  ggmlTypeOf,
  type GGUFEntry,
  type GGUFValue,
} from "./gguf_types.js";

interface PendingTensor {
  readonly name: string;
  readonly dtype: DType;
  /** Row-major shape, outermost first. */
  readonly shape: readonly number[];
  readonly byteLength: number;
  readonly produce: () => Uint8Array | Promise<Uint8Array>;
}

/** Growable little-endian byte sink for the header. */
class ByteSink {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private view = new DataView(this.cur.buffer);
  private pos = 0;
  length = 0;

  /**
   * Makes room for n bytes and returns where they go. It may start a new chunk, so callers
   * call it before reading `cur` or `view`.
   */
  private take(n: number): number {
    if (this.pos + n > this.cur.length) {
      this.chunks.push(this.cur.subarray(0, this.pos));
      this.cur = new Uint8Array(Math.max(1 << 16, n));
      this.view = new DataView(this.cur.buffer);
      this.pos = 0;
    }
    const at = this.pos;
    this.pos += n;
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.take(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.take(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.take(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.take(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.take(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.take(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.take(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.take(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint | number): void {
    const at = this.take(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: bigint | number): void {
    const at = this.take(8);
    this.view.setBigInt64(at, BigInt(v), true);
  }
  string(s: string): void {
    const bytes = UTF8.encode(s);
    this.u64(bytes.length);
    const at = this.take(bytes.length); // (may start a new chunk: take first, then set)
    this.cur.set(bytes, at);
  }
  zeros(n: number): void {
    this.take(n); // fresh chunks are zero-filled and bytes are never written twice
  }
  bytes(): Uint8Array {
    const parts = [...this.chunks, this.cur.subarray(0, this.pos)];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

const UTF8 = new TextEncoder();

function expect(cond: boolean, key: string, type: GGUFValueType, value: unknown): void {
  if (!cond) throw new InvalidArgumentError(`GGUF metadata '${key}': value ${String(value)} does not fit type ${type}`);
}

function writeValue(sink: ByteSink, key: string, type: GGUFValueType, value: GGUFValue, itemType?: GGUFValueType): void {
  const isInt = (lo: number, hi: number): boolean => typeof value === "number" && Number.isInteger(value) && value >= lo && value <= hi;
  switch (type) {
    case GGUFValueType.UINT8:
      expect(isInt(0, 0xff), key, type, value);
      return sink.u8(value as number);
    case GGUFValueType.INT8:
      expect(isInt(-0x80, 0x7f), key, type, value);
      return sink.i8(value as number);
    case GGUFValueType.UINT16:
      expect(isInt(0, 0xffff), key, type, value);
      return sink.u16(value as number);
    case GGUFValueType.INT16:
      expect(isInt(-0x8000, 0x7fff), key, type, value);
      return sink.i16(value as number);
    case GGUFValueType.UINT32:
      expect(isInt(0, 0xffffffff), key, type, value);
      return sink.u32(value as number);
    case GGUFValueType.INT32:
      expect(isInt(-0x80000000, 0x7fffffff), key, type, value);
      return sink.i32(value as number);
    case GGUFValueType.FLOAT32:
      expect(typeof value === "number", key, type, value);
      return sink.f32(value as number);
    case GGUFValueType.FLOAT64:
      expect(typeof value === "number", key, type, value);
      return sink.f64(value as number);
    case GGUFValueType.UINT64:
      expect(typeof value === "bigint" || isInt(0, Number.MAX_SAFE_INTEGER), key, type, value);
      return sink.u64(value as bigint | number);
    case GGUFValueType.INT64:
      expect(typeof value === "bigint" || isInt(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), key, type, value);
      return sink.i64(value as bigint | number);
    case GGUFValueType.BOOL:
      expect(typeof value === "boolean", key, type, value);
      return sink.u8(value ? 1 : 0);
    case GGUFValueType.STRING:
      expect(typeof value === "string", key, type, value);
      return sink.string(value as string);
    case GGUFValueType.ARRAY: {
      if (!Array.isArray(value) || itemType === undefined)
        throw new InvalidArgumentError(`GGUF metadata '${key}': an array needs an array value and an item type`);
      sink.u32(itemType);
      sink.u64(value.length);
      for (const item of value as readonly GGUFValue[]) writeValue(sink, key, itemType, item);
      return;
    }
  }
}

export class GGUFWriter {
  private readonly entries = new Map<string, GGUFEntry>();
  private readonly tensors: PendingTensor[] = [];
  private readonly tensorNames = new Set<string>();

  constructor(readonly alignment: number = GGUF_DEFAULT_ALIGNMENT) {
    if (alignment <= 0 || (alignment & (alignment - 1)) !== 0)
      throw new InvalidArgumentError(`GGUF alignment must be a power of two, got ${alignment}`);
    if (alignment !== GGUF_DEFAULT_ALIGNMENT) this.set("general.alignment", GGUFValueType.UINT32, alignment);
  }

  /** Sets a metadata entry (replacing an earlier value, keeping its position). */
  set(key: string, type: GGUFValueType, value: GGUFValue, itemType?: GGUFValueType): this {
    // Validate now, so a bad value is reported where it was set.
    writeValue(new ByteSink(), key, type, value, itemType);
    this.entries.set(key, itemType === undefined ? { type, value } : { type, itemType, value });
    return this;
  }
  string(key: string, value: string): this {
    return this.set(key, GGUFValueType.STRING, value);
  }
  u32(key: string, value: number): this {
    return this.set(key, GGUFValueType.UINT32, value);
  }
  i32(key: string, value: number): this {
    return this.set(key, GGUFValueType.INT32, value);
  }
  f32(key: string, value: number): this {
    return this.set(key, GGUFValueType.FLOAT32, value);
  }
  bool(key: string, value: boolean): this {
    return this.set(key, GGUFValueType.BOOL, value);
  }
  strings(key: string, values: readonly string[]): this {
    return this.set(key, GGUFValueType.ARRAY, values, GGUFValueType.STRING);
  }
  i32s(key: string, values: readonly number[]): this {
    return this.set(key, GGUFValueType.ARRAY, values, GGUFValueType.INT32);
  }

  /**
   * Adds a tensor in `dtype` with a row-major `shape` (outermost first, as in PyTorch);
   * `produce` is called once, while writing, and must return (or resolve to) exactly its bytes.
   */
  addTensor(name: string, dtype: DType, shape: readonly number[], produce: () => Uint8Array | Promise<Uint8Array>): this {
    if (this.tensorNames.has(name)) throw new InvalidArgumentError(`GGUF tensor '${name}' added twice`);
    if (shape.length < 1 || shape.length > GGML_MAX_DIMS)
      throw new InvalidArgumentError(`GGUF tensor '${name}': ${shape.length} dimensions, expected 1 to ${GGML_MAX_DIMS}`);
    ggmlTypeOf(dtype); // throws for a dtype GGUF cannot store
    this.tensorNames.add(name);
    this.tensors.push({ name, dtype, shape: [...shape], byteLength: byteSize(dtype, shape), produce });
    return this;
  }

  private header(): { header: Uint8Array; offsets: number[] } {
    const sink = new ByteSink();
    sink.u32(GGUF_MAGIC);
    sink.u32(3);
    sink.u64(this.tensors.length);
    sink.u64(this.entries.size);
    for (const [key, e] of this.entries) {
      sink.string(key);
      sink.u32(e.type);
      writeValue(sink, key, e.type, e.value, e.itemType);
    }
    const offsets: number[] = [];
    let rel = 0;
    for (const t of this.tensors) {
      sink.string(t.name);
      sink.u32(t.shape.length);
      for (let d = t.shape.length - 1; d >= 0; d--) sink.u64(t.shape[d]!);
      sink.u32(ggmlTypeOf(t.dtype).id);
      sink.u64(rel);
      offsets.push(rel);
      rel += Math.ceil(t.byteLength / this.alignment) * this.alignment;
    }
    sink.zeros((this.alignment - (sink.length % this.alignment)) % this.alignment);
    return { header: sink.bytes(), offsets };
  }

  /**
   * The file as chunks: the header, then each tensor's bytes and padding. `onTensor` is told
   * after each tensor (for progress). Rejects with an InvalidArgumentError naming a tensor
   * whose bytes do not match its dtype and shape.
   */
  async *chunks(onTensor?: (name: string, index: number, count: number) => void): AsyncGenerator<Uint8Array> {
    yield this.header().header;
    const pad = new Uint8Array(this.alignment);
    for (const [i, t] of this.tensors.entries()) {
      const data = await t.produce();
      if (data.byteLength !== t.byteLength) {
        throw new InvalidArgumentError(
          `GGUF tensor '${t.name}': expected ${t.byteLength} bytes for ${t.dtype} [${t.shape.join(", ")}], got ${data.byteLength}`,
        );
      }
      yield data;
      const rest = (this.alignment - (data.byteLength % this.alignment)) % this.alignment;
      if (rest > 0) yield pad.subarray(0, rest);
      onTensor?.(t.name, i, this.tensors.length);
    }
  }
}
