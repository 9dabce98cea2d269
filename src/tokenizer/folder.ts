/**
 * The one reader of Hugging Face tokenizer folders, used by the tokenizer loader and the GGUF
 * exporter alike. A folder is anything that hands out its files' text by name: a local folder
 * (Node), a URL folder, files a user dropped on a page. `ModelFiles` from io/ is one; the
 * tokenizer needs only this part of it.
 */
import { type TokenizerData, type TokenizerTexts, parseTokenizerTexts } from "./loader.js";

/** The part of io's `ModelFiles` a tokenizer folder is read through. */
export interface TokenizerFiles {
  /** The folder's path or URL; errors name files inside it. */
  readonly location: string;
  /** A file's text, or null when the folder has no such file. */
  text(name: string): Promise<string | null>;
}

/**
 * Reads a tokenizer folder: tokenizer.json, or vocab.json + merges.txt, with
 * tokenizer_config.json and chat_template.jinja when present. Null when the folder has
 * neither layout's vocabulary; a FormatError naming the file when one is malformed.
 */
export async function readTokenizerFolder(files: TokenizerFiles): Promise<TokenizerData | null> {
  const [config, template, fast] = await Promise.all([
    files.text("tokenizer_config.json"),
    files.text("chat_template.jinja"),
    files.text("tokenizer.json"),
  ]);
  const texts: TokenizerTexts =
    fast !== null
      ? { "tokenizer.json": fast, "tokenizer_config.json": config, "chat_template.jinja": template }
      : await (async () => {
          const [vocab, merges] = await Promise.all([files.text("vocab.json"), files.text("merges.txt")]);
          return { "vocab.json": vocab, "merges.txt": merges, "tokenizer_config.json": config, "chat_template.jinja": template };
        })();
  return parseTokenizerTexts(files.location, texts);
}
