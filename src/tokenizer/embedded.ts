/**
 * The tokenizers shipped inside the package, usable with no network and no files of yours,
 * in any JavaScript runtime. Their data (~4 MB: the packed vocabulary and merges, and each
 * tokenizer_config.json) is a generated module loaded by a dynamic import, so bundlers split
 * it into a chunk of its own that only pages using an embedded tokenizer download.
 *
 * Qwen2 and Qwen2.5 share the byte-level vocabulary and merges; they differ in
 * tokenizer_config.json. Qwen2.5's adds the tool-calling tokens (`<tool_call>` …, not
 * special) and a chat template that renders `tools`; Qwen2's template ignores `tools`.
 */
import { InvalidArgumentError } from "../errors.js";
import { parsePacked, type TokenizerData } from "./loader.js";

export const EMBEDDED_TOKENIZERS = ["qwen2", "qwen2.5"] as const;
/** The embedded tokenizers' names. */
export type EmbeddedTokenizer = (typeof EMBEDDED_TOKENIZERS)[number];
/** The one `Tokenizer.embedded()` gives: its chat template handles tools. */
export const DEFAULT_EMBEDDED_TOKENIZER: EmbeddedTokenizer = "qwen2.5";

/** The decoded shared vocabulary and merges, kept once per process (they are never modified). */
interface Pack {
  readonly vocabText: string;
  readonly merges: Uint8Array;
  readonly configs: Readonly<Record<string, string>>;
}
let pack: Promise<Pack> | null = null;

function loadPack(): Promise<Pack> {
  pack ??= import("./data/embedded_qwen2.js").then(
    (m): Pack => ({ vocabText: m.vocabText, merges: fromBase64(m.mergesBase64), configs: m.configs }),
    (err: unknown) => {
      pack = null;
      throw new Error(`the embedded tokenizer data module is missing (run \`npm run build\`): ${(err as Error).message}`);
    },
  );
  return pack;
}

/** Throws an error listing the embedded names unless `name` is one. */
export function checkEmbeddedName(name: string): asserts name is EmbeddedTokenizer {
  if (!(EMBEDDED_TOKENIZERS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`no embedded tokenizer named ${JSON.stringify(name)} (embedded: ${EMBEDDED_TOKENIZERS.join(", ")})`);
  }
}

/** The parsed data of an embedded tokenizer. */
export async function embeddedTokenizerData(name: string): Promise<TokenizerData> {
  checkEmbeddedName(name);
  const p = await loadPack();
  return parsePacked(`<embedded ${name} tokenizer>`, p.vocabText, p.merges, configOf(p, name));
}

/**
 * An embedded tokenizer as Hugging Face's slow layout (vocab.json, merges.txt,
 * tokenizer_config.json), which transformers' Qwen2Tokenizer and our own loader both read,
 * with the vocabulary size a model needs to embed every id (largest id + 1).
 */
export async function embeddedTokenizerFiles(name: string): Promise<{ readonly files: Readonly<Record<string, string>>; readonly vocabSize: number }> {
  checkEmbeddedName(name);
  const p = await loadPack();
  const tokens = p.vocabText.split("\n");
  if (tokens[tokens.length - 1] === "") tokens.pop();
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    vocab[t] = id;
  });
  const triples = new Int32Array(p.merges.buffer, p.merges.byteOffset, p.merges.byteLength >> 2);
  const lines = ["#version: 0.2"];
  for (let i = 0; i + 2 < triples.length; i += 3) {
    const left = tokens[triples[i] as number]; // i + 2 < length
    const right = tokens[triples[i + 1] as number];
    if (left === undefined || right === undefined) throw new Error(`the embedded tokenizer data module is corrupt: merge ${i / 3} refers to an id outside the vocabulary`);
    lines.push(`${left} ${right}`);
  }
  const config = configOf(p, name);
  let maxId = tokens.length - 1;
  const added = (JSON.parse(config) as { added_tokens_decoder?: Record<string, unknown> }).added_tokens_decoder ?? {};
  for (const key of Object.keys(added)) maxId = Math.max(maxId, Number(key));
  return {
    files: { "vocab.json": JSON.stringify(vocab), "merges.txt": `${lines.join("\n")}\n`, "tokenizer_config.json": config },
    vocabSize: maxId + 1,
  };
}

function configOf(p: Pack, name: EmbeddedTokenizer): string {
  const config = p.configs[name];
  if (config === undefined) throw new Error(`the embedded tokenizer data module has no tokenizer_config.json for ${name} (rebuild with \`npm run build\`)`);
  return config;
}

/** base64 → bytes with what every runtime has (atob), not Node's Buffer. */
function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
