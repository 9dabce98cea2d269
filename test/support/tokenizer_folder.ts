/** A tokenizer folder on disk read synchronously, for tests that build GGUF files in sync code. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseTokenizerTexts, type TokenizerData } from "../../src/tokenizer/loader.js";

/** As `readTokenizerFolder(localFolder(dir))`, without the promise. */
export function tokenizerFolderData(dir: string): TokenizerData | null {
  const read = (name: string): string | null => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : null);
  return parseTokenizerTexts(dir, {
    "tokenizer.json": read("tokenizer.json"),
    "vocab.json": read("vocab.json"),
    "merges.txt": read("merges.txt"),
    "tokenizer_config.json": read("tokenizer_config.json"),
    "chat_template.jinja": read("chat_template.jinja"),
  });
}
