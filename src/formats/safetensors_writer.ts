/**
 * safetensors writer. The header is computed from the shapes alone, so tensor bytes can be
 * produced one at a time (a callback per tensor) and written straight to disk: writing a
 * 0.5B-parameter model never holds more than one tensor in memory.
 *
 * Layout as the reference implementation writes it: the JSON header is padded with spaces
 * to a multiple of 8 bytes so every tensor starts 8-byte aligned, and data is contiguous in
 * the order given.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { InvalidArgumentError } from "../errors.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import { SAFETENSORS_DTYPE_NAMES } from "./safetensors.js";

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /**
   * The bytes, or a function called when the writer reaches this tensor that returns the
   * bytes or an iterable of consecutive chunks (so a huge tensor is never whole in memory).
   */
  readonly data: Uint8Array | (() => Uint8Array | Iterable<Uint8Array>);
}

/** Builds the header bytes (length prefix included) for `tensors` in the given order. */
export function safetensorsHeader(tensors: readonly Omit<TensorToWrite, "data">[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  let offset = 0;
  for (const t of tensors) {
    const st = SAFETENSORS_DTYPE_NAMES[t.dtype];
    if (st === undefined) throw new InvalidArgumentError(`tensor '${t.name}': dtype ${t.dtype} cannot be stored in safetensors`);
    if (t.name === "__metadata__" || Object.hasOwn(header, t.name)) {
      throw new InvalidArgumentError(`tensor name '${t.name}' is reserved or repeated`);
    }
    const size = byteSize(t.dtype, t.shape);
    header[t.name] = { dtype: st, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const body = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  out.set(body, 8);
  return out;
}

/**
 * Writes a safetensors file. It is written to `<path>.partial` first and renamed at the end,
 * so an interrupted write never leaves a file that looks complete.
 */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): void {
  const header = safetensorsHeader(tensors, metadata);
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, "w");
  let ok = false;
  try {
    writeAll(fd, header);
    for (const t of tensors) {
      const produced = typeof t.data === "function" ? t.data() : t.data;
      const chunks: Iterable<Uint8Array> = produced instanceof Uint8Array ? [produced] : produced;
      const size = byteSize(t.dtype, t.shape);
      let written = 0;
      for (const chunk of chunks) {
        written += chunk.byteLength;
        if (written > size) break; // too much data: reported below
        writeAll(fd, chunk);
      }
      if (written !== size) {
        throw new InvalidArgumentError(`tensor '${t.name}': data does not match shape [${t.shape.join(", ")}] of ${t.dtype} (${size} bytes)`);
      }
    }
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  renameSync(tmp, path);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
}
