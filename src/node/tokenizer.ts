/**
 * Node's way to a tokenizer from a path: the folder is opened through #platform's local
 * folder (the same ModelFiles-shaped reader model loading uses) and read by the tokenizer's one
 * folder reader (`Tokenizer.fromFiles`), so a local folder and a URL folder give the same
 * tokenizer and the same errors. Paths are the Node edge's business: the universal entry
 * cannot tell a path from a URL.
 */
import { localFolder } from "#platform";
import { Tokenizer } from "../tokenizer/tokenizer.js";

/**
 * Loads the tokenizer in a local folder (tokenizer.json, or vocab.json + merges.txt, with
 * tokenizer_config.json); without a folder, the embedded default (`Tokenizer.embedded()`).
 */
export async function loadTokenizer(dir?: string): Promise<Tokenizer> {
  return dir === undefined ? Tokenizer.embedded() : Tokenizer.fromFiles(localFolder(dir));
}
