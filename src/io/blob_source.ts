/**
 * Blobs and Files as byte sources: a `.gguf` dropped on a page, or the files of a dropped
 * folder matched by name. Reads slice the Blob, so a multi-gigabyte File never sits in the
 * JS heap whole (browsers keep large Blobs on disk).
 */
import { FormatError } from "../errors.js";
import { type ByteSource, checkRange, type ModelFiles, shortRead, throwIfAborted } from "./byte_source.js";

/** A Blob (or File) as a ByteSource named `name` (a File's own name by default). */
export function blobSource(blob: Blob, name = fileName(blob) ?? "<blob>"): ByteSource {
  let open = true;
  return {
    name,
    size: blob.size,
    async readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void> {
      throwIfAborted(signal);
      if (!open) throw new FormatError(name, "read after close()");
      checkRange(name, blob.size, offset, dest.byteLength);
      if (dest.byteLength === 0) return;
      const bytes = new Uint8Array(await blob.slice(offset, offset + dest.byteLength).arrayBuffer());
      // A File changed on disk after it was picked reads short (or fails): say so.
      if (bytes.byteLength < dest.byteLength) throw shortRead(name, offset, dest.byteLength, bytes.byteLength);
      dest.set(bytes.subarray(0, dest.byteLength));
    },
    close(): void {
      open = false;
    },
  };
}

/** A File's name, or null for a plain Blob. */
export function fileName(blob: Blob): string | null {
  const name = (blob as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : null;
}

/** A dropped folder's path inside the drop (`webkitRelativePath`), else the file's name. */
function relativePath(blob: Blob): string {
  const rel = (blob as { webkitRelativePath?: unknown }).webkitRelativePath;
  return typeof rel === "string" && rel !== "" ? rel : (fileName(blob) ?? "");
}

/**
 * The files of a dropped or picked folder as ModelFiles. A file is found by its name, or by
 * its path below the folder (`webkitRelativePath` minus the folder's own name), so both a
 * multi-file pick and a folder pick (`<input webkitdirectory>`) work.
 */
export function blobFiles(files: Iterable<Blob> | ArrayLike<Blob>): ModelFiles {
  const list = Array.from(files as ArrayLike<Blob>);
  const paths = list.map(relativePath);
  // A folder pick gives "Folder/config.json": the common first segment names the folder.
  const firsts = new Set(paths.map((p) => (p.includes("/") ? p.slice(0, p.indexOf("/")) : "")));
  const folder = firsts.size === 1 ? [...firsts][0]! : "";
  const location = folder !== "" ? folder : "<dropped files>";
  const byName = new Map<string, Blob>();
  list.forEach((blob, i) => {
    const path = paths[i]!;
    const inner = folder !== "" ? path.slice(folder.length + 1) : path;
    byName.set(inner, blob);
    // Also by bare name, unless two files share it (then only the full inner path finds them).
    const base = inner.slice(inner.lastIndexOf("/") + 1);
    if (!byName.has(base)) byName.set(base, blob);
  });
  const named = (name: string): string => (folder !== "" ? `${folder}/${name}` : name);
  return {
    location,
    async open(name: string): Promise<ByteSource | null> {
      const blob = byName.get(name);
      return blob === undefined ? null : blobSource(blob, named(name));
    },
    async text(name: string): Promise<string | null> {
      const blob = byName.get(name);
      return blob === undefined ? null : blob.text();
    },
  };
}
