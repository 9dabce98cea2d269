/**
 * Node's way to a tokenizer from a path: a folder on disk read through the same folder
 * reader browsers use (`Tokenizer.fromFiles`), so a local folder and a URL folder give the
 * same tokenizer and the same errors.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FormatError } from "../errors.js";
import type { TokenizerFiles } from "../tokenizer/folder.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";

/** A local folder's files as text (null for a file that does not exist). */
export function localTextFiles(dir: string): TokenizerFiles {
  const location = resolve(dir);
  return {
    location,
    async text(name: string): Promise<string | null> {
      const file = join(location, name);
      try {
        return await readFile(file, "utf8");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return null;
        throw new FormatError(file, `cannot read the file (${code ?? (err as Error).message})`);
      }
    },
  };
}

/**
 * Loads the tokenizer in a local folder (tokenizer.json, or vocab.json + merges.txt, with
 * tokenizer_config.json); without a folder, the embedded default (`Tokenizer.embedded()`).
 */
export async function loadTokenizer(dir?: string): Promise<Tokenizer> {
  return dir === undefined ? Tokenizer.embedded() : Tokenizer.fromFiles(localTextFiles(dir));
}
