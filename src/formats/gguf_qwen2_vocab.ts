/**
 * The tokenizer metadata llama.cpp's convert_hf_to_gguf.py writes for a Qwen2 model,
 * built from a Hugging Face tokenizer folder (`tokenizer.json`, or the slow layout
 * `vocab.json` + `merges.txt`, plus `tokenizer_config.json`) as the tokenizer's own folder
 * reader parses it (tokenizer/folder.ts):
 *
 * - tokens by id for the whole embedding (config `vocab_size`); ids with no token become
 *   `[PAD<id>]` of type UNUSED;
 * - token types: NORMAL for the BPE vocabulary; added tokens are CONTROL when special or
 *   when they look special (`<|...|>`, as convert does), USER_DEFINED otherwise;
 * - merges as "a b" strings; eos/bos/pad ids from tokenizer_config.json's token strings,
 *   then from config.json's ids; the chat template.
 */
import { FormatError } from "../errors.js";
import type { TokenizerData } from "../tokenizer/loader.js";
import { TokenType } from "./gguf_types.js";

/** The `tokenizer.*` metadata to write. */
export interface GGUFVocab {
  readonly tokens: string[];
  readonly tokenTypes: number[];
  readonly merges: readonly string[];
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly addBosToken: boolean;
  readonly chatTemplate: string | null;
}

/** convert_hf_to_gguf.py's test for added tokens that should be CONTROL even when not marked special. */
function looksSpecial(token: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(token) ||
    (token.startsWith("<|") && token.endsWith("|>")) ||
    (token.startsWith("<\uff5c") && token.endsWith("\uff5c>")) ||
    (token.startsWith("<unused") && token.endsWith(">"))
  );
}

/** Ids the model config gives, used where tokenizer_config.json names no token. */
export interface ConfigTokenIds {
  readonly eos: number | null;
  readonly bos: number | null;
  readonly pad: number | null;
}

/**
 * Builds the GGUF vocabulary for an embedding of `vocabSize` rows from a tokenizer folder as
 * tokenizer/folder.ts reads it (`readTokenizerFolder`).
 */
export function buildGGUFVocab(data: TokenizerData, vocabSize: number, fromConfig: ConfigTokenIds): GGUFVocab {
  const where = data.location;
  const tokens = new Array<string | undefined>(vocabSize);
  const types = new Array<number>(vocabSize).fill(TokenType.UNUSED);
  const place = (token: string, id: number, type: number): void => {
    if (id >= vocabSize) {
      throw new FormatError(
        where,
        `token ${JSON.stringify(token)} has id ${id}, but the model's embedding has only ${vocabSize} rows (config vocab_size)`,
      );
    }
    tokens[id] = token;
    types[id] = type;
  };
  const byId = vocabularyById(data);
  byId.forEach((token, id) => {
    if (token !== undefined) place(token, id, TokenType.NORMAL);
  });
  const added = [...data.addedTokens].sort((a, b) => a.id - b.id);
  for (const t of added) place(t.content, t.id, t.special || looksSpecial(t.content) ? TokenType.CONTROL : TokenType.USER_DEFINED);
  const filled = Array.from(tokens, (t, id) => t ?? `[PAD${id}]`); // (map would skip the holes)

  let vocab: Map<string, number> | null = null;
  const idOf = (token: string | null): number | null => {
    if (token === null) return null;
    const a = added.find((t) => t.content === token);
    if (a) return a.id;
    if (vocab === null) {
      const map = new Map<string, number>();
      byId.forEach((t, id) => {
        if (t !== undefined) map.set(t, id);
      });
      vocab = map;
    }
    return vocab.get(token) ?? null;
  };
  const check = (id: number | null): number | null => (id !== null && id >= 0 && id < vocabSize ? id : null);
  const { config } = data;
  return {
    tokens: filled,
    tokenTypes: types,
    merges: mergeStrings(data, byId),
    eosTokenId: check(idOf(config.eosToken) ?? fromConfig.eos),
    bosTokenId: check(idOf(config.bosToken) ?? fromConfig.bos),
    padTokenId: check(idOf(config.padToken) ?? fromConfig.pad),
    // Qwen2 adds no BOS (Hugging Face's tokenizer prepends nothing): false unless the folder says otherwise.
    addBosToken: config.addBosToken,
    chatTemplate: config.chatTemplate,
  };
}

/** Merges as "a b" strings (tokenizer.json may hold ["a", "b"] pairs). */
function mergeStrings(data: TokenizerData, byId: readonly (string | undefined)[]): string[] {
  const triples = data.mergeTriples;
  if (triples !== undefined) {
    const out: string[] = [];
    for (let i = 0; i + 2 < triples.length; i += 3) out.push(`${byId[triples[i] as number]} ${byId[triples[i + 1] as number]}`); // ids checked by parsePacked
    return out;
  }
  return data.merges.map((m, i) => {
    if (typeof m === "string" && m.indexOf(" ") > 0) return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw new FormatError(data.mergesFile, `merge ${i} must be "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
  });
}

/** The BPE vocabulary by id, from whichever form the folder gave (holes allowed). */
function vocabularyById(data: TokenizerData): readonly (string | undefined)[] {
  if (data.idToToken !== undefined) return data.idToToken;
  const out: (string | undefined)[] = [];
  if (data.vocab !== null) for (const [token, id] of data.vocab) out[id] = token;
  else if (data.packedVocab !== undefined) {
    const { text, ends } = data.packedVocab;
    for (let id = 0, start = 0; id < ends.length; id++) {
      const end = ends[id] as number; // id < length
      out[id] = text.slice(start, end);
      start = end + 1;
    }
  }
  return out;
}
