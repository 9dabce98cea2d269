/**
 * Writes the package's embedded tokenizer into a model folder in Hugging Face's slow layout
 * (vocab.json + merges.txt + tokenizer_config.json), which transformers' Qwen2Tokenizer and
 * our own loader both read.
 *
 * The embedded assets (assets/tokenizers/<name>) may be stored as vocab.json + merges.txt,
 * as tokenizer.json, or packed (vocab.txt: tokens in id order; merges.bin: int32 LE
 * [left, right, merged] per rank). Qwen2.5's folder may hold only its tokenizer_config.json:
 * it shares Qwen2's byte-level vocabulary and merges, which are then taken from the qwen2
 * folder.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FormatError } from "../errors.js";

export type EmbeddedTokenizerName = "qwen2" | "qwen2.5";

/** The package root (this file compiles to dist/src/formats/). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const EMBEDDED_TOKENIZERS_DIR = join(PACKAGE_ROOT, "assets/tokenizers");

function vocabSource(dir: string): string | null {
  if (existsSync(join(dir, "tokenizer.json"))) return "tokenizer.json";
  if (existsSync(join(dir, "vocab.json")) && existsSync(join(dir, "merges.txt"))) return "slow";
  if (existsSync(join(dir, "vocab.txt")) && existsSync(join(dir, "merges.bin"))) return "packed";
  return null;
}

/**
 * Writes tokenizer files for `name` into `outDir` and returns the vocabulary size a model
 * needs for every id to embed: one more than the largest id of the vocabulary and the added
 * tokens. `assetsDir` defaults to the package's embedded tokenizers.
 */
export function writeEmbeddedTokenizer(name: EmbeddedTokenizerName, outDir: string, assetsDir = EMBEDDED_TOKENIZERS_DIR): number {
  const own = join(assetsDir, name);
  const configPath = join(own, "tokenizer_config.json");
  if (!existsSync(configPath)) throw new FormatError(own, "embedded tokenizer folder has no tokenizer_config.json");
  copyFileSync(configPath, join(outDir, "tokenizer_config.json"));
  let maxId = -1;
  const cfg = JSON.parse(readFileSync(configPath, "utf8")) as { added_tokens_decoder?: Record<string, unknown> };
  for (const k of Object.keys(cfg.added_tokens_decoder ?? {})) maxId = Math.max(maxId, Number(k));

  let dir = own;
  let kind = vocabSource(own);
  if (kind === null && name !== "qwen2") {
    dir = join(assetsDir, "qwen2");
    kind = vocabSource(dir);
  }
  switch (kind) {
    case "tokenizer.json": {
      copyFileSync(join(dir, "tokenizer.json"), join(outDir, "tokenizer.json"));
      const j = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as { model: { vocab: Record<string, number> }; added_tokens?: { id: number }[] };
      for (const id of Object.values(j.model.vocab)) maxId = Math.max(maxId, id);
      for (const t of j.added_tokens ?? []) maxId = Math.max(maxId, t.id);
      break;
    }
    case "slow": {
      copyFileSync(join(dir, "vocab.json"), join(outDir, "vocab.json"));
      copyFileSync(join(dir, "merges.txt"), join(outDir, "merges.txt"));
      const vocab = JSON.parse(readFileSync(join(dir, "vocab.json"), "utf8")) as Record<string, number>;
      for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
      break;
    }
    case "packed": {
      const tokens = readFileSync(join(dir, "vocab.txt"), "utf8").split("\n");
      if (tokens[tokens.length - 1] === "") tokens.pop();
      const vocab: Record<string, number> = {};
      tokens.forEach((t, i) => (vocab[t] = i));
      writeFileSync(join(outDir, "vocab.json"), JSON.stringify(vocab));
      const bin = readFileSync(join(dir, "merges.bin"));
      const triples = new Int32Array(bin.buffer, bin.byteOffset, Math.floor(bin.byteLength / 4));
      const lines = ["#version: 0.2"];
      for (let i = 0; i + 2 < triples.length; i += 3) lines.push(`${tokens[triples[i]!]} ${tokens[triples[i + 1]!]}`);
      writeFileSync(join(outDir, "merges.txt"), lines.join("\n") + "\n");
      maxId = Math.max(maxId, tokens.length - 1);
      break;
    }
    default:
      throw new FormatError(own, "embedded tokenizer has no vocabulary (tokenizer.json, vocab.json + merges.txt, or vocab.txt + merges.bin)");
  }
  for (const extra of ["LICENSE", "NOTICE"]) {
    if (existsSync(join(own, extra))) copyFileSync(join(own, extra), join(outDir, extra));
  }
  return maxId + 1;
}
