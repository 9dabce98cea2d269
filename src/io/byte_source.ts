/**
 * Where bytes come from. Every format reader (safetensors, GGUF, config.json) reads through
 * a ByteSource, so the same reader serves a file on disk, a URL read with range requests, a
 * dropped File and bytes already in memory. A ByteSource reads into the caller's buffer, so
 * weights can go straight into WebAssembly memory with no copy of a whole file in between.
 *
 * A model is a set of named files: `ModelFiles` is a folder (on disk, at a URL, dropped in a
 * page, or in memory) that opens its files by name and says `null` for a file it lacks.
 */
import { FormatError } from "../errors.js";

export interface ByteSource {
  /** URL, path or file name: every error names it. */
  readonly name: string;
  readonly size: number;
  /** Fills dest with bytes [offset, offset + dest.byteLength). Rejects with FormatError naming `name` on a short read. */
  readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** A model folder: files opened by name (`config.json`, `model.safetensors`, shard names). */
export interface ModelFiles {
  /** The folder's path or URL, for messages. */
  readonly location: string;
  /** The file, or null when the folder has no file of that name. */
  open(name: string): Promise<ByteSource | null>;
  /** A text file's contents (UTF-8), or null when the folder has no file of that name. */
  text(name: string): Promise<string | null>;
}

/** Checks that [offset, offset + length) lies inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + length <= size)) {
    throw new RangeError(`${name}: bytes [${offset}, ${offset + length}) are outside its ${size} bytes`);
  }
}

/** Reads `length` bytes at `offset` into a new buffer. */
export async function readBytes(source: ByteSource, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await source.readInto(out, offset, signal);
  return out;
}

const utf8 = new TextDecoder("utf-8");

/** Parses JSON text, naming the file when it is not JSON. */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `not valid JSON: ${(err as Error).message}`);
  }
}

/** Rejects with the signal's reason when it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

/** Bytes already in memory as a ByteSource. */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  let open = true;
  return {
    name,
    size: bytes.byteLength,
    async readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void> {
      throwIfAborted(signal);
      if (!open) throw new FormatError(name, "read after close()");
      checkRange(name, bytes.byteLength, offset, dest.byteLength);
      dest.set(bytes.subarray(offset, offset + dest.byteLength));
    },
    close(): void {
      open = false;
    },
  };
}

/** A folder held in memory: file name → bytes or text. */
export function memoryFiles(
  files: ReadonlyMap<string, Uint8Array | string> | Readonly<Record<string, Uint8Array | string>>,
  location = "<memory>",
): ModelFiles {
  const map = files instanceof Map ? (files as ReadonlyMap<string, Uint8Array | string>) : new Map(Object.entries(files));
  const bytesOf = (name: string): Uint8Array | null => {
    const v = map.get(name);
    if (v === undefined) return null;
    return typeof v === "string" ? new TextEncoder().encode(v) : v;
  };
  return {
    location,
    async open(name: string): Promise<ByteSource | null> {
      const b = bytesOf(name);
      return b === null ? null : memorySource(b, joinName(location, name));
    },
    async text(name: string): Promise<string | null> {
      const v = map.get(name);
      if (v === undefined) return null;
      return typeof v === "string" ? v : utf8.decode(v);
    },
  };
}

/** `folder/name` for messages, whatever the folder's separator (a URL, a path, a label). */
export function joinName(location: string, name: string): string {
  if (location === "" || location === "<memory>") return name;
  return location.endsWith("/") || location.endsWith("\\") ? location + name : `${location}/${name}`;
}

/** The error for a read that came back short, naming the source and the bytes asked for. */
export function shortRead(name: string, offset: number, wanted: number, got: number): FormatError {
  return new FormatError(
    name,
    `truncated: asked for bytes [${offset}, ${offset + wanted}) but got only ${got} (the file ends early or the download was cut short)`,
  );
}
