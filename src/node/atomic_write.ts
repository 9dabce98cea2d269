/**
 * Files written whole or not at all: bytes go to `<path>.partial`, which is renamed over
 * `path` only once everything is written, so an interrupted or failed write (a bad tensor, a
 * full disk, Ctrl-C) never leaves a file that looks complete. The platform-neutral writers
 * (formats/) produce the bytes as chunks; this is where they meet the file system.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/** Writes `chunks`, in order, to `path` atomically. The chunks may be produced lazily. */
export async function writeFileAtomic(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, "w");
  let closed = false;
  try {
    for await (const chunk of chunks) writeAll(fd, chunk);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (err) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A text file, atomically (UTF-8). */
export function writeTextAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, [new TextEncoder().encode(text)]);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
}
