/**
 * Local files for Node (and Deno and Bun, which implement node:fs): a LocalFile over a file
 * descriptor and a folder of them. Reads are positioned `readSync` calls, so the bytes land
 * in the caller's buffer (a WebAssembly memory view at upload) with no copy in between.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { FormatError } from "../errors.js";
import type { LocalFile, LocalFolder } from "./types.js";

/** One read is capped near 2 GiB by Node: bigger ranges loop. */
const MAX_READ = 1 << 30;

function openError(path: string, err: unknown): FormatError {
  const code = (err as NodeJS.ErrnoException).code;
  return new FormatError(path, code === "ENOENT" ? "file not found" : `cannot open: ${(err as Error).message}`);
}

/** Opens a local file for positioned reads. */
export function openNodeFile(path: string): LocalFile {
  let fd: number | null;
  let size: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw openError(path, err);
  }
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw openError(path, err);
  }
  return {
    name: path,
    size,
    async readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void> {
      signal?.throwIfAborted();
      if (fd === null) throw new FormatError(path, "read after close()");
      if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + dest.byteLength <= size)) {
        throw new RangeError(`${path}: bytes [${offset}, ${offset + dest.byteLength}) are outside its ${size} bytes`);
      }
      let done = 0;
      while (done < dest.byteLength) {
        const got = readSync(fd, dest, done, Math.min(MAX_READ, dest.byteLength - done), offset + done);
        if (got <= 0)
          throw new FormatError(path, `truncated: unexpected end of file at byte ${offset + done} (the file shrank while open?)`);
        done += got;
      }
    },
    close(): void {
      if (fd !== null) {
        closeSync(fd);
        fd = null;
      }
    },
  };
}

export async function openLocalFile(path: string): Promise<LocalFile> {
  return openNodeFile(path);
}

export async function localPathKind(path: string): Promise<"folder" | "file" | null> {
  try {
    return statSync(path).isDirectory() ? "folder" : "file";
  } catch {
    return null;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** A folder on disk as LocalFolder. */
export function localFolder(path: string): LocalFolder {
  const dir = resolve(path);
  return {
    location: dir,
    async open(name: string): Promise<LocalFile | null> {
      const file = join(dir, name);
      try {
        if (statSync(file).isDirectory()) return null;
      } catch (err) {
        if (isMissing(err)) return null;
        throw openError(file, err);
      }
      return openNodeFile(file);
    },
    async text(name: string): Promise<string | null> {
      const file = join(dir, name);
      try {
        return readFileSync(file, "utf8");
      } catch (err) {
        if (isMissing(err) || (err as NodeJS.ErrnoException).code === "EISDIR") return null;
        throw new FormatError(file, `cannot read: ${(err as Error).message}`);
      }
    },
  };
}
