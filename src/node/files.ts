/**
 * Files on disk as the byte sources every reader takes: a file read with positioned reads
 * (never whole into memory) and a folder whose files open on demand.
 */
import type { ByteSource, ModelFiles } from "../io/byte_source.js";
import { localFolder, openLocalFile } from "../platform/node_files.js";

/** A file on disk as a ByteSource. Throws a FormatError naming the path when it cannot be opened. */
export function fileSource(path: string): Promise<ByteSource> {
  return openLocalFile(path);
}

/** A folder on disk as ModelFiles (e.g. for `loadModelFolder` or `Tokenizer.fromFiles`). */
export function folderFiles(path: string): ModelFiles {
  return localFolder(path);
}
