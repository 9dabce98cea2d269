/**
 * Parsing tokenizer files into plain data: `tokenizer.json` (fast layout), or `vocab.json`
 * + `merges.txt` (slow layout), each with `tokenizer_config.json` for the special tokens
 * and the chat template; and the packed layout of the embedded tokenizers. Everything here
 * parses TEXT or BYTES already read (folder.ts reads them from anywhere), so it runs in any
 * JavaScript runtime. Every problem is a FormatError naming the file and the field.
 */
import { FormatError, UnsupportedError } from "../errors.js";
import type { AddedToken } from "./added_tokens.js";
import { QWEN2_SPLIT_PATTERN } from "./pretokenize.js";

/** A merge as stored: "a b" or ["a", "b"]. */
export type RawMerge = string | readonly [string, string];

/** Everything a Tokenizer is built from. */
export interface TokenizerData {
  /** Vocabulary: token (byte-level string) -> id. This, `idToToken` or `packedVocab` is given. */
  readonly vocab: Map<string, number> | null;
  /**
   * The parsed JSON vocabulary object itself, used for lookups while building the merge
   * table instead of copying 151k entries into a Map first (loading cost).
   */
  readonly vocabObject?: Readonly<Record<string, unknown>>;
  /** Vocabulary tokens by id (holes allowed); the packed layout gives this only. */
  readonly idToToken?: readonly (string | undefined)[];
  /**
   * The packed layout's vocab.txt kept as one string with the end of each token, so that
   * loading makes no 151k small strings (tokens are sliced out when asked for).
   */
  readonly packedVocab?: { readonly text: string; readonly ends: Int32Array };
  readonly merges: readonly RawMerge[];
  /** Merges already resolved to ids: [left, right, merged] per rank (packed layout). */
  readonly mergeTriples?: Int32Array;
  readonly addedTokens: readonly AddedToken[];
  readonly config: TokenizerSettings;
  /** For error messages: where the merges came from. */
  readonly mergesFile: string;
  /** For error messages: the folder (or file) the tokenizer was read from. */
  readonly location: string;
}

export interface TokenizerSettings {
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly bosToken: string | null;
  readonly unkToken: string | null;
  readonly chatTemplate: string | null;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  readonly additionalSpecialTokens: readonly string[];
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseJson(file: string, text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new FormatError(file, `not valid JSON: ${(err as Error).message}`);
  }
}

/** A special-token field: a string, null, or an AddedToken object with `content`. */
function tokenField(file: string, obj: JsonObject, field: string): string | null {
  const v = obj[field];
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  throw new FormatError(file, `field "${field}" must be a string, null or an object with "content"`);
}

function boolField(file: string, obj: JsonObject, field: string, fallback: boolean): boolean {
  const v = obj[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new FormatError(file, `field "${field}" must be a boolean`);
  return v;
}

function chatTemplateField(file: string, obj: JsonObject): string | null {
  const v = obj.chat_template;
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  // Newer configs hold a list of named templates; "default" is what apply_chat_template uses.
  if (Array.isArray(v)) {
    const named = v.filter(isObject);
    const pick = named.find((t) => t.name === "default") ?? named[0];
    if (pick && typeof pick.template === "string") return pick.template;
  }
  throw new FormatError(file, `field "chat_template" must be a string or a list of {name, template}`);
}

export function parseSettings(file: string, cfg: Json | undefined, fallbackTemplate: string | null = null): TokenizerSettings {
  if (cfg === undefined) {
    return {
      eosToken: null,
      padToken: null,
      bosToken: null,
      unkToken: null,
      chatTemplate: fallbackTemplate,
      addBosToken: false,
      addEosToken: false,
      additionalSpecialTokens: [],
    };
  }
  if (!isObject(cfg)) throw new FormatError(file, "expected a JSON object at the top level");
  const extra = cfg.additional_special_tokens;
  const additional: string[] = [];
  if (Array.isArray(extra)) {
    for (const t of extra) {
      if (typeof t === "string") additional.push(t);
      else if (isObject(t) && typeof t.content === "string") additional.push(t.content);
    }
  }
  return {
    eosToken: tokenField(file, cfg, "eos_token"),
    padToken: tokenField(file, cfg, "pad_token"),
    bosToken: tokenField(file, cfg, "bos_token"),
    unkToken: tokenField(file, cfg, "unk_token"),
    chatTemplate: chatTemplateField(file, cfg) ?? fallbackTemplate,
    addBosToken: boolField(file, cfg, "add_bos_token", false),
    addEosToken: boolField(file, cfg, "add_eos_token", false),
    additionalSpecialTokens: additional,
  };
}

function addedTokenFrom(file: string, where: string, v: Json, id: number): AddedToken {
  if (!isObject(v) || typeof v.content !== "string") throw new FormatError(file, `${where}: expected an object with a string "content"`);
  const flag = (name: string, fallback: boolean): boolean => {
    const f = v[name];
    if (f === undefined || f === null) return fallback;
    if (typeof f !== "boolean") throw new FormatError(file, `${where}.${name} must be a boolean`);
    return f;
  };
  if (!Number.isInteger(id) || id < 0) throw new FormatError(file, `${where}.id must be a non-negative integer`);
  const special = flag("special", false);
  return {
    id,
    content: v.content,
    special,
    lstrip: flag("lstrip", false),
    rstrip: flag("rstrip", false),
    singleWord: flag("single_word", false),
    normalized: flag("normalized", !special),
  };
}

function parseVocab(file: string, field: string, v: Json | undefined): { vocabObject: JsonObject; idToToken: string[] } {
  if (!isObject(v)) throw new FormatError(file, `field "${field}" must be an object of token -> id`);
  const idToToken: string[] = [];
  for (const key in v) {
    const id = v[key];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0)
      throw new FormatError(file, `${field}[${JSON.stringify(key)}] must be a non-negative integer id`);
    if (idToToken[id] === undefined) idToToken[id] = key;
  }
  return { vocabObject: v, idToToken };
}

function checkMerges(file: string, field: string, v: Json | undefined): RawMerge[] {
  if (!Array.isArray(v)) throw new FormatError(file, `field "${field}" must be a list of merges`);
  // Entries are checked as they are turned into ranks (see bpe building), not twice here.
  return v as unknown as RawMerge[];
}

/** Parses the fast layout. `configFile` may be absent. */
export function parseTokenizerJson(file: string, json: Json, settings: TokenizerSettings): TokenizerData {
  if (!isObject(json)) throw new FormatError(file, "expected a JSON object at the top level");
  const model = json.model;
  if (!isObject(model)) throw new FormatError(file, `field "model" is missing or not an object`);
  if (model.type !== undefined && model.type !== "BPE")
    throw new UnsupportedError(`${file}: model.type ${JSON.stringify(model.type)} is not supported (only BPE)`);
  checkPipeline(file, json);
  const { vocabObject, idToToken } = parseVocab(file, "model.vocab", model.vocab);
  const merges = checkMerges(file, "model.merges", model.merges);
  const added: AddedToken[] = [];
  const list = json.added_tokens ?? [];
  if (!Array.isArray(list)) throw new FormatError(file, `field "added_tokens" must be a list`);
  list.forEach((t, i) => {
    const id = isObject(t) ? t.id : undefined;
    added.push(addedTokenFrom(file, `added_tokens[${i}]`, t, typeof id === "number" ? id : -1));
  });
  return {
    vocab: null,
    vocabObject,
    idToToken,
    merges,
    addedTokens: added,
    config: settings,
    mergesFile: `${file} (model.merges)`,
    location: file,
  };
}

/** Rejects pipelines this implementation would tokenise differently. */
function checkPipeline(file: string, json: JsonObject): void {
  const norm = json.normalizer;
  if (norm !== null && norm !== undefined && !(isObject(norm) && norm.type === "NFC")) {
    throw new UnsupportedError(`${file}: normalizer ${JSON.stringify(norm)} is not supported (only NFC or none)`);
  }
  const pre = json.pre_tokenizer;
  const text = JSON.stringify(pre ?? null);
  if (pre !== null && pre !== undefined && !text.includes(JSON.stringify(QWEN2_SPLIT_PATTERN).slice(1, -1))) {
    throw new UnsupportedError(`${file}: pre_tokenizer is not the Qwen2 split + ByteLevel pipeline`);
  }
}

/** Added tokens from tokenizer_config.json's `added_tokens_decoder` (slow layout). */
export function addedTokensFromConfig(file: string, cfg: Json | undefined): AddedToken[] {
  if (!isObject(cfg)) return [];
  const dec = cfg.added_tokens_decoder;
  if (dec === undefined || dec === null) return [];
  if (!isObject(dec)) throw new FormatError(file, `field "added_tokens_decoder" must be an object of id -> token`);
  const out: AddedToken[] = [];
  for (const [key, token] of Object.entries(dec)) out.push(addedTokenFrom(file, `added_tokens_decoder["${key}"]`, token, Number(key)));
  return out;
}

/** merges.txt: an optional "#version" line, then one "a b" per line. */
export function parseMergesTxt(text: string): string[] {
  const out: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.length > 0 && !(i === 0 && line.startsWith("#version"))) out.push(line);
  });
  return out;
}

/**
 * The text files of a Hugging Face tokenizer folder, by file name; a file that is absent is
 * undefined or null. Either `tokenizer.json` (fast layout) or `vocab.json` + `merges.txt`
 * (slow layout) holds the vocabulary; `tokenizer_config.json` the special tokens and the
 * chat template, which newer folders keep in `chat_template.jinja` instead.
 */
export interface TokenizerTexts {
  readonly "tokenizer.json"?: string | null;
  readonly "vocab.json"?: string | null;
  readonly "merges.txt"?: string | null;
  readonly "tokenizer_config.json"?: string | null;
  readonly "chat_template.jinja"?: string | null;
}

/** `location/name`, for error messages. */
export function fileIn(location: string, name: string): string {
  return location.endsWith("/") ? location + name : `${location}/${name}`;
}

/**
 * Parses a tokenizer folder's texts (see {@link TokenizerTexts}); `location` names the
 * folder in errors. Null when the texts hold neither layout's vocabulary.
 */
export function parseTokenizerTexts(location: string, texts: TokenizerTexts): TokenizerData | null {
  const configFile = fileIn(location, "tokenizer_config.json");
  const configText = texts["tokenizer_config.json"];
  const cfg = configText === undefined || configText === null ? undefined : parseJson(configFile, configText);
  const settings = parseSettings(configFile, cfg, texts["chat_template.jinja"] ?? null);
  const fast = texts["tokenizer.json"];
  if (fast !== undefined && fast !== null) {
    const file = fileIn(location, "tokenizer.json");
    return { ...parseTokenizerJson(file, parseJson(file, fast), settings), location };
  }
  const vocabText = texts["vocab.json"];
  if (vocabText === undefined || vocabText === null) return null;
  const vocabFile = fileIn(location, "vocab.json");
  const mergesFile = fileIn(location, "merges.txt");
  const mergesText = texts["merges.txt"];
  if (mergesText === undefined || mergesText === null)
    throw new FormatError(mergesFile, "missing: the slow layout needs merges.txt beside vocab.json");
  const { vocabObject, idToToken } = parseVocab(vocabFile, "(top level)", parseJson(vocabFile, vocabText));
  return {
    vocab: null,
    vocabObject,
    idToToken,
    merges: parseMergesTxt(mergesText),
    addedTokens: addedTokensFromConfig(configFile, cfg),
    config: settings,
    mergesFile,
    location,
  };
}

/**
 * The packed layout the embedded tokenizers load from (see tokenizer/embedded.ts): the
 * vocabulary as one string with the end of each token (no 151k small strings are made;
 * tokens are sliced out when asked for), and the merges already resolved to ids, [left,
 * right, merged] per rank. Added tokens, special tokens and the template come from
 * `tokenizer_config.json` (`configText`).
 */
export function packedTokenizerData(
  location: string,
  vocab: { readonly text: string; readonly ends: Int32Array },
  triples: Int32Array,
  configText: string,
): TokenizerData {
  const configFile = fileIn(location, "tokenizer_config.json");
  const cfg = parseJson(configFile, configText);
  return {
    vocab: null,
    packedVocab: vocab,
    merges: [],
    mergeTriples: triples,
    addedTokens: addedTokensFromConfig(configFile, cfg),
    config: parseSettings(configFile, cfg),
    mergesFile: `${location} (merges)`,
    location,
  };
}
