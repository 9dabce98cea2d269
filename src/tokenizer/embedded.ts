/**
 * The tokenizers shipped inside the package, usable with no network and no files of yours,
 * in any JavaScript runtime. Their data (1.2 MB: the merges, from which the vocabulary is
 * rebuilt, and each tokenizer_config.json) is a generated module loaded by a dynamic import,
 * so bundlers split it into a chunk of its own that only pages using an embedded tokenizer
 * download.
 *
 * Qwen2 and Qwen2.5 share the byte-level vocabulary and merges; they differ in
 * tokenizer_config.json. Qwen2.5's adds the tool-calling tokens (`<tool_call>` …, not
 * special) and a chat template that renders `tools`; Qwen2's template ignores `tools`.
 */
import { InvalidArgumentError } from "../errors.js";
import { packedTokenizerData, type TokenizerData } from "./loader.js";

export const EMBEDDED_TOKENIZERS = ["qwen2", "qwen2.5"] as const;
/** The embedded tokenizers' names. */
export type EmbeddedTokenizer = (typeof EMBEDDED_TOKENIZERS)[number];
/** The one `Tokenizer.embedded()` gives: its chat template handles tools. */
export const DEFAULT_EMBEDDED_TOKENIZER: EmbeddedTokenizer = "qwen2.5";

/**
 * The shared vocabulary and merges, decoded once per process (never modified afterwards).
 * The data module stores the 256 byte characters and each merge's two part ids; token
 * 256 + r is merge r's parts joined (scripts/build-tokenizer-data.mjs checks this holds).
 */
interface Pack {
  /** Every token in id order, each followed by "\n" (tokens hold no newline). */
  readonly text: string;
  /** End of each token in `text`. */
  readonly ends: Int32Array;
  /** [left, right, merged] ids per merge rank. */
  readonly triples: Int32Array;
  readonly configs: Readonly<Record<string, string>>;
}
let pack: Promise<Pack> | null = null;

function loadPack(): Promise<Pack> {
  pack ??= import("./data/embedded_qwen2.js").then(
    (m): Pack => ({ ...decodePack(m.byteTokens, fromBase64(m.mergePairsBase64)), configs: m.configs }),
    (err: unknown) => {
      pack = null;
      throw new Error(`the embedded tokenizer data module is missing (run \`npm run build\`): ${(err as Error).message}`);
    },
  );
  return pack;
}

function decodePack(byteTokens: string, pairs: Uint8Array): { text: string; ends: Int32Array; triples: Int32Array } {
  const merges = Math.floor(pairs.byteLength / 6);
  const count = 256 + merges;
  if (byteTokens.length !== 256 || pairs.byteLength % 6 !== 0)
    throw new Error("the embedded tokenizer data module is corrupt (rebuild with `npm run build`)");
  // Token lengths first (a merge's is the sum of its parts'), then every token's UTF-16 units
  // copied into one buffer, each followed by "\n", in id order: no per-token strings at all.
  // Indexes: r < merges keeps `at` inside pairs and 3r inside triples; ids are below count
  // (left and right are checked against the merge's own id).
  const triples = new Int32Array(merges * 3);
  const ends = new Int32Array(count);
  const lengths = new Int32Array(count).fill(1, 0, 256);
  for (let r = 0, at = 0; r < merges; r++, at += 6) {
    const left = pairs[at]! | (pairs[at + 1]! << 8) | (pairs[at + 2]! << 16);
    const right = pairs[at + 3]! | (pairs[at + 4]! << 8) | (pairs[at + 5]! << 16);
    const merged = 256 + r;
    if (left >= merged || right >= merged) throw new Error(`the embedded tokenizer data module is corrupt: merge ${r} uses a later token`);
    triples[3 * r] = left;
    triples[3 * r + 1] = right;
    triples[3 * r + 2] = merged;
    lengths[merged] = lengths[left]! + lengths[right]!;
  }
  let end = -1;
  for (let id = 0; id < count; id++) {
    end += lengths[id]! + 1;
    ends[id] = end;
  }
  const units = new Uint16Array(end + 1).fill(0x0a);
  const start = (id: number): number => ends[id]! - lengths[id]!;
  for (let id = 0; id < 256; id++) units[start(id)] = byteTokens.charCodeAt(id);
  for (let r = 0; r < merges; r++) {
    const left = triples[3 * r]!;
    const right = triples[3 * r + 1]!;
    // Tokens are short: a plain loop beats copyWithin's per-call cost here.
    let at = start(256 + r);
    for (let k = start(left), e = ends[left]!; k < e; k++) units[at++] = units[k]!;
    for (let k = start(right), e = ends[right]!; k < e; k++) units[at++] = units[k]!;
  }
  return { text: new TextDecoder("utf-16le").decode(units), ends, triples };
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
  return packedTokenizerData(`<embedded ${name} tokenizer>`, { text: p.text, ends: p.ends }, p.triples, configOf(p, name));
}

/**
 * An embedded tokenizer as Hugging Face's slow layout (vocab.json, merges.txt,
 * tokenizer_config.json), which transformers' Qwen2Tokenizer and our own loader both read,
 * with the vocabulary size a model needs to embed every id (largest id + 1).
 */
export async function embeddedTokenizerFiles(
  name: string,
): Promise<{ readonly files: Readonly<Record<string, string>>; readonly vocabSize: number }> {
  checkEmbeddedName(name);
  const p = await loadPack();
  const tokens = p.text.split("\n");
  tokens.pop(); // after the final newline
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    vocab[t] = id;
  });
  const lines = ["#version: 0.2"];
  // The triples were built from ids below tokens.length (decodePack checks them).
  for (let i = 0; i + 2 < p.triples.length; i += 3) lines.push(`${tokens[p.triples[i]!]} ${tokens[p.triples[i + 1]!]}`);
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
  if (config === undefined)
    throw new Error(`the embedded tokenizer data module has no tokenizer_config.json for ${name} (rebuild with \`npm run build\`)`);
  return config;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) BASE64_VALUE[BASE64.charCodeAt(i)] = i;

/** base64 → bytes, by table (no atob string in between, no Node Buffer). */
function fromBase64(text: string): Uint8Array {
  let n = text.length;
  while (n > 0 && text.charCodeAt(n - 1) === 0x3d) n--; // "=" padding
  const out = new Uint8Array((n * 3) >> 2);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = BASE64_VALUE[text.charCodeAt(i)] ?? -1;
    if (v < 0) throw new Error(`the embedded tokenizer data module is corrupt: not base64 at ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
