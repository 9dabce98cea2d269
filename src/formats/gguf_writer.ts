/**
 * GGUF writer (version 3, little-endian). Metadata entries keep their insertion order;
 * tensors are written in the order added, each padded to the alignment, and their bytes
 * are produced one at a time by a callback, so converting a model never holds more than
 * one tensor in memory. The file is written beside the target and renamed into place, so
 * a failed conversion never leaves a truncated model behind.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { InvalidArgumentError } from "../errors.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUFValueType, ggmlTypeOf, type GGUFEntry, type GGUFValue } from "./gguf_types.js";

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
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(1 << 16);
  private pos = 0;
  length = 0;

  private room(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(Math.max(1 << 16, n));
    this.pos = 0;
  }
  u8(v: number): void {
    this.room(1);
    this.cur.writeUInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
  }
  i8(v: number): void {
    this.room(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
  }
  u16(v: number): void {
    this.room(2);
    this.cur.writeUInt16LE(v, this.pos);
    this.pos += 2;
    this.length += 2;
  }
  i16(v: number): void {
    this.room(2);
    this.cur.writeInt16LE(v, this.pos);
    this.pos += 2;
    this.length += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.cur.writeUInt32LE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.cur.writeInt32LE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  f32(v: number): void {
    this.room(4);
    this.cur.writeFloatLE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.cur.writeDoubleLE(v, this.pos);
    this.pos += 8;
    this.length += 8;
  }
  u64(v: bigint | number): void {
    this.room(8);
    this.cur.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    this.length += 8;
  }
  i64(v: bigint | number): void {
    this.room(8);
    this.cur.writeBigInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    this.length += 8;
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.cur, this.pos);
    this.pos += bytes.length;
    this.length += bytes.length;
  }
  zeros(n: number): void {
    for (let i = 0; i < n; i++) this.u8(0);
  }
  toBuffer(): Buffer {
    return Buffer.concat([...this.chunks, this.cur.subarray(0, this.pos)]);
  }
}

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
      if (!Array.isArray(value) || itemType === undefined) throw new InvalidArgumentError(`GGUF metadata '${key}': an array needs an array value and an item type`);
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
    if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new InvalidArgumentError(`GGUF alignment must be a power of two, got ${alignment}`);
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
    if (shape.length < 1 || shape.length > GGML_MAX_DIMS) throw new InvalidArgumentError(`GGUF tensor '${name}': ${shape.length} dimensions, expected 1 to ${GGML_MAX_DIMS}`);
    ggmlTypeOf(dtype); // throws for a dtype GGUF cannot store
    this.tensorNames.add(name);
    this.tensors.push({ name, dtype, shape: [...shape], byteLength: byteSize(dtype, shape), produce });
    return this;
  }

  private header(): { header: Buffer; offsets: number[] } {
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
    return { header: sink.toBuffer(), offsets };
  }

  /** Writes the file; `onTensor` is told after each tensor (for progress). */
  async write(path: string, onTensor?: (name: string, index: number, count: number) => void): Promise<void> {
    const { header } = this.header();
    const tmp = `${path}.partial`;
    const fd = openSync(tmp, "w");
    try {
      writeAll(fd, header);
      const pad = new Uint8Array(this.alignment);
      for (const [i, t] of this.tensors.entries()) {
        const data = await t.produce();
        if (data.byteLength !== t.byteLength) {
          throw new InvalidArgumentError(`GGUF tensor '${t.name}': expected ${t.byteLength} bytes for ${t.dtype} [${t.shape.join(", ")}], got ${data.byteLength}`);
        }
        writeAll(fd, data);
        const rest = (this.alignment - (data.byteLength % this.alignment)) % this.alignment;
        if (rest > 0) writeAll(fd, pad.subarray(0, rest));
        onTensor?.(t.name, i, this.tensors.length);
      }
      closeSync(fd);
      renameSync(tmp, path);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done);
}
