/**
 * safetensors writer, as bytes: the file is produced as a stream of chunks (header, then each
 * tensor's bytes), which the Node edge writes to disk (`writeSafetensors` in node/) and a
 * page can turn into a Blob. The header is computed from the shapes alone, so tensor bytes
 * are produced one at a time (a callback per tensor): writing a 0.5B-parameter model never
 * holds more than one tensor in memory.
 *
 * Layout as the reference implementation writes it: the JSON header is padded with spaces
 * to a multiple of 8 bytes so every tensor starts 8-byte aligned, and data is contiguous in
 * the order given.
 */
import { InvalidArgumentError } from "../errors.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import { SAFETENSORS_DTYPE_NAMES } from "./safetensors.js";

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /**
   * The bytes, or a function called when the writer reaches this tensor that returns the
   * bytes (or a promise of them, e.g. a weight source's read) or an iterable of consecutive
   * chunks (so a huge tensor is never whole in memory).
   */
  readonly data: Uint8Array | (() => TensorBytes);
}

/** What a tensor's data callback may return. */
export type TensorBytes = Uint8Array | Promise<Uint8Array> | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Builds the header bytes (length prefix included) for `tensors` in the given order. */
export function safetensorsHeader(
  tensors: readonly Omit<TensorToWrite, "data">[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
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
  const json = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(json.byteLength + ((8 - ((8 + json.byteLength) % 8)) % 8)).fill(0x20); // space padding
  body.set(json);
  const out = new Uint8Array(8 + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  out.set(body, 8);
  return out;
}

/**
 * The whole file as chunks: the header, then each tensor's bytes in order. Rejects with an
 * InvalidArgumentError naming the tensor whose data does not match its dtype and shape.
 */
export async function* safetensorsChunks(
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): AsyncGenerator<Uint8Array> {
  yield safetensorsHeader(tensors, metadata);
  for (const t of tensors) {
    const produced = typeof t.data === "function" ? await t.data() : t.data;
    const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = produced instanceof Uint8Array ? [produced] : produced;
    const size = byteSize(t.dtype, t.shape);
    let written = 0;
    for await (const chunk of chunks) {
      written += chunk.byteLength;
      if (written > size) break; // too much data: reported below
      yield chunk;
    }
    if (written !== size) {
      throw new InvalidArgumentError(`tensor '${t.name}': data does not match shape [${t.shape.join(", ")}] of ${t.dtype} (${size} bytes)`);
    }
  }
}
