/**
 * The tokenizer metadata llama.cpp's convert_hf_to_gguf.py writes for a Qwen2 model,
 * built from a Hugging Face tokenizer folder (`tokenizer.json`, or the slow layout
 * `vocab.json` + `merges.txt`, plus `tokenizer_config.json`):
 *
 * - tokens by id for the whole embedding (config `vocab_size`); ids with no token become
 *   `[PAD<id>]` of type UNUSED;
 * - token types: NORMAL for the BPE vocabulary; added tokens are CONTROL when special or
 *   when they look special (`<|...|>`, as convert does), USER_DEFINED otherwise;
 * - merges as "a b" strings; eos/bos/pad ids from tokenizer_config.json's token strings,
 *   then from config.json's ids; the chat template.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../errors.js";
import { TokenType } from "./gguf_types.js";

export interface HFAddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
}

/** What a Hugging Face tokenizer folder says, as read from its files. */
export interface HFTokenizerFiles {
  readonly dir: string;
  /** Ordinary BPE tokens → id. */
  readonly vocab: ReadonlyMap<string, number>;
  /** "a b" strings in rank order. */
  readonly merges: readonly string[];
  readonly added: readonly HFAddedToken[];
  /** tokenizer_config.json's `<kind>_token` strings. */
  readonly specialTokens: { readonly eos?: string; readonly bos?: string; readonly pad?: string };
  readonly addBosToken: boolean | undefined;
  readonly chatTemplate: string | null;
}

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

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new FormatError(file, `cannot read: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Json;
  } catch (err) {
    throw new FormatError(file, `invalid JSON: ${(err as Error).message}`);
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as Json).content === "string") return (v as Json).content as string;
  return undefined;
}

function chatTemplateOf(file: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  // A list of named templates: the default one is what a plain chat uses.
  if (Array.isArray(v)) {
    const named = v as Array<{ name?: unknown; template?: unknown }>;
    const chosen = named.find((t) => t.name === "default") ?? named[0];
    if (chosen && typeof chosen.template === "string") return chosen.template;
  }
  throw new FormatError(file, "field 'chat_template' must be a string or a list of {name, template}");
}

function parseVocab(file: string, field: string, v: unknown): Map<string, number> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FormatError(file, `field '${field}' must be an object of token → id`);
  const out = new Map<string, number>();
  for (const [token, id] of Object.entries(v as Json)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw new FormatError(file, `field '${field}': token ${JSON.stringify(token)} has id ${String(id)}`);
    out.set(token, id);
  }
  return out;
}

function parseMerges(file: string, field: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw new FormatError(file, `field '${field}' must be a list`);
  return v.map((m: unknown, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw new FormatError(file, `field '${field}'[${i}] must be "a b" or ["a", "b"]`);
  });
}

/** Reads a Hugging Face tokenizer folder; null when it has neither tokenizer.json nor vocab.json + merges.txt. */
export function readHFTokenizerFiles(dir: string): HFTokenizerFiles | null {
  const configFile = join(dir, "tokenizer_config.json");
  const config = existsSync(configFile) ? readJson(configFile) : {};
  const fast = join(dir, "tokenizer.json");
  let vocab: Map<string, number>;
  let merges: string[];
  const added: HFAddedToken[] = [];
  if (existsSync(fast)) {
    const json = readJson(fast);
    const model = json.model as Json | undefined;
    if (!model || typeof model !== "object") throw new FormatError(fast, "field 'model' is missing");
    if (model.type !== undefined && model.type !== "BPE") throw new FormatError(fast, `field 'model.type' is '${String(model.type)}', expected 'BPE'`);
    vocab = parseVocab(fast, "model.vocab", model.vocab);
    merges = parseMerges(fast, "model.merges", model.merges ?? []);
    const list = json.added_tokens ?? [];
    if (!Array.isArray(list)) throw new FormatError(fast, "field 'added_tokens' must be a list");
    list.forEach((t: unknown, i) => {
      const e = t as Json;
      if (typeof e?.id !== "number" || typeof e.content !== "string") throw new FormatError(fast, `field 'added_tokens'[${i}] needs 'id' and 'content'`);
      added.push({ id: e.id, content: e.content, special: e.special === true });
    });
  } else if (existsSync(join(dir, "vocab.json")) && existsSync(join(dir, "merges.txt"))) {
    vocab = parseVocab(join(dir, "vocab.json"), "(root)", readJson(join(dir, "vocab.json")));
    const lines = readFileSync(join(dir, "merges.txt"), "utf8").split("\n");
    merges = lines.filter((line, i) => line.length > 0 && !(i === 0 && line.startsWith("#version")));
    const decoder = config.added_tokens_decoder;
    if (decoder !== undefined) {
      if (typeof decoder !== "object" || decoder === null) throw new FormatError(configFile, "field 'added_tokens_decoder' must be an object");
      for (const [id, t] of Object.entries(decoder as Json)) {
        const e = t as Json;
        if (typeof e?.content !== "string") throw new FormatError(configFile, `field 'added_tokens_decoder.${id}.content' is missing`);
        added.push({ id: Number(id), content: e.content, special: e.special === true });
      }
    }
  } else {
    return null;
  }
  const specialTokens: { eos?: string; bos?: string; pad?: string } = {};
  for (const kind of ["eos", "bos", "pad"] as const) {
    const s = tokenString(config[`${kind}_token`]);
    if (s !== undefined) specialTokens[kind] = s;
  }
  return {
    dir,
    vocab,
    merges,
    added: added.sort((a, b) => a.id - b.id),
    specialTokens,
    addBosToken: typeof config.add_bos_token === "boolean" ? config.add_bos_token : undefined,
    chatTemplate: chatTemplateOf(configFile, config.chat_template),
  };
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

/** Builds the GGUF vocabulary for an embedding of `vocabSize` rows. */
export function buildGGUFVocab(files: HFTokenizerFiles, vocabSize: number, fromConfig: ConfigTokenIds): GGUFVocab {
  const tokens = new Array<string | undefined>(vocabSize);
  const types = new Array<number>(vocabSize).fill(TokenType.UNUSED);
  const place = (token: string, id: number, type: number): void => {
    if (id >= vocabSize) {
      throw new FormatError(files.dir, `token ${JSON.stringify(token)} has id ${id}, but the model's embedding has only ${vocabSize} rows (config vocab_size)`);
    }
    tokens[id] = token;
    types[id] = type;
  };
  for (const [token, id] of files.vocab) place(token, id, TokenType.NORMAL);
  for (const t of files.added) place(t.content, t.id, t.special || looksSpecial(t.content) ? TokenType.CONTROL : TokenType.USER_DEFINED);
  const filled = Array.from(tokens, (t, id) => t ?? `[PAD${id}]`); // (map would skip the holes)

  const idOf = (token: string | undefined): number | null => {
    if (token === undefined) return null;
    const added = files.added.find((t) => t.content === token);
    if (added) return added.id;
    return files.vocab.get(token) ?? null;
  };
  const check = (id: number | null): number | null => (id !== null && id >= 0 && id < vocabSize ? id : null);
  return {
    tokens: filled,
    tokenTypes: types,
    merges: files.merges,
    eosTokenId: check(idOf(files.specialTokens.eos) ?? fromConfig.eos),
    bosTokenId: check(idOf(files.specialTokens.bos) ?? fromConfig.bos),
    padTokenId: check(idOf(files.specialTokens.pad) ?? fromConfig.pad),
    // Qwen2 adds no BOS (Hugging Face's tokenizer prepends nothing); say so unless the folder says otherwise.
    addBosToken: files.addBosToken ?? false,
    chatTemplate: files.chatTemplate,
  };
}
