/**
 * The Qwen2 tokenizer: added tokens -> NFC -> Qwen2 split -> byte-level BPE, and back.
 * Id-for-id Hugging Face `tokenizers` (see test/tokenizer/conformance.test.ts).
 */
import { FormatError, InvalidArgumentError } from "../errors.js";
import { AddedTokenMatcher, type AddedToken } from "./added_tokens.js";
import { CHAR_TO_BYTE, tokenToBytes } from "./byte_level.js";
import { bpeMerge, PairTable } from "./bpe.js";
import { renderChatTemplate } from "./chat_template.js";
import { ByteStreamDecoder, decodeUtf8 } from "./decoder.js";
import { DEFAULT_EMBEDDED_TOKENIZER, type EmbeddedTokenizer, embeddedTokenizerData } from "./embedded.js";
import { readTokenizerFolder, type TokenizerFiles } from "./folder.js";
import {
  parseJson,
  parseSettings,
  parseTokenizerJson,
  parseTokenizerTexts,
  type RawMerge,
  type TokenizerData,
  type TokenizerSettings,
  type TokenizerTexts,
} from "./loader.js";
import { nfc, nfcAligned, toWellFormed } from "./normalize.js";
import { splitQwen2 } from "./pretokenize.js";
import { WordCache } from "./word_cache.js";
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, StreamDecoder, TextTokenizer } from "./types.js";

export { EMBEDDED_TOKENIZERS, type EmbeddedTokenizer } from "./embedded.js";
export type { TokenizerFiles } from "./folder.js";
export type { TokenizerTexts } from "./loader.js";

export interface BatchEncodeOptions extends EncodeOptions {
  /** Pad to the longest sequence (or maxLength when truncating) on this side. Default false. */
  readonly padding?: "left" | "right" | false;
  /** Longest sequence kept with `truncation`, and padded length with padding. */
  readonly maxLength?: number;
  /** Cut sequences longer than maxLength (from the right). Default false. */
  readonly truncation?: boolean;
  /** Also return each token's [start, end) character offsets in its input string. */
  readonly returnOffsets?: boolean;
}

export interface BatchEncoding {
  readonly ids: number[][];
  readonly attentionMask: number[][];
  /** [start, end) in UTF-16 code units of the input string; [0, 0] for padding. */
  readonly offsets?: [number, number][][];
}

export interface ChatTemplateCallOptions extends ChatTemplateOptions {
  /** Retrieval documents, exposed to the template as `documents`. */
  readonly documents?: readonly unknown[];
  /** Return token ids (without adding BOS/EOS) instead of the rendered text. */
  readonly tokenize?: boolean;
}

/** Input of {@link Tokenizer.fromVocabAndMerges} (the GGUF loader's shape). */
export interface VocabAndMerges {
  /** Byte-level tokens in id order. */
  readonly vocab: readonly string[];
  /** "a b" strings in rank order. */
  readonly merges: readonly RawMerge[];
  readonly addedTokens?: readonly {
    readonly id: number;
    readonly content: string;
    readonly special: boolean;
    readonly lstrip?: boolean;
    readonly rstrip?: boolean;
    readonly normalized?: boolean;
    readonly singleWord?: boolean;
  }[];
  readonly eosToken?: string | null;
  readonly padToken?: string | null;
  readonly bosToken?: string | null;
  readonly unkToken?: string | null;
  readonly chatTemplate?: string | null;
}

/** Words longer than this (in UTF-16 units) bypass the cache. */
const CACHE_MAX_KEY = 256;

export class Tokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly eosToken: string | null;
  readonly eosTokenId: number | null;
  readonly padToken: string | null;
  readonly padTokenId: number | null;
  readonly bosToken: string | null;
  readonly bosTokenId: number | null;
  readonly unkToken: string | null;
  readonly unkTokenId: number | null;
  readonly chatTemplate: string | null;

  private vocabMap: Map<string, number> | null;
  /** Vocabulary tokens by id: an array, or the packed text sliced on demand. */
  private readonly idToTok: readonly (string | undefined)[] | null;
  private readonly packed: { readonly text: string; readonly ends: Int32Array } | null;
  private readonly tokenCount: number;
  private readonly rawMerges: readonly RawMerge[];
  private readonly mergeTriples: Int32Array | null;
  private vocabObject: Readonly<Record<string, unknown>> | null;
  private readonly mergesFile: string;
  private pairs: PairTable | null = null;
  private readonly byteIds = new Int32Array(256);
  private readonly added: AddedToken[];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;
  private readonly settings: TokenizerSettings;
  private readonly cache = new WordCache();
  private bytesTable: { offsets: Int32Array; data: Uint8Array; special: Uint8Array } | null = null;
  private syms = new Int32Array(1024);
  private ends: number[] = [];

  private constructor(data: TokenizerData) {
    this.vocabMap = data.vocab;
    this.rawMerges = data.merges;
    this.mergeTriples = data.mergeTriples ?? null;
    this.vocabObject = data.vocabObject ?? null;
    this.mergesFile = data.mergesFile;
    this.settings = data.config;
    this.packed = data.packedVocab ?? null;
    let idToTok: (string | undefined)[] | null = null;
    if (this.packed === null) {
      if (data.idToToken !== undefined) idToTok = data.idToToken as (string | undefined)[];
      else {
        idToTok = [];
        for (const [tok, id] of data.vocab!) idToTok[id] = tok;
      }
    }
    this.idToTok = idToTok;
    this.tokenCount = idToTok !== null ? idToTok.length : this.packed!.ends.length;
    let size = this.tokenCount;
    this.added = [...data.addedTokens];
    for (const t of this.added) {
      this.addedById.set(t.id, t);
      this.addedByContent.set(t.content, t);
      if (t.id + 1 > size) size = t.id + 1;
    }
    this.vocabSize = size;
    this.rawMatcher = new AddedTokenMatcher(this.added.filter((t) => !t.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(this.added.filter((t) => t.normalized));
    // Single-byte tokens, found without building the token -> id map (kept lazy).
    this.byteIds.fill(-1);
    for (let id = 0; id < this.tokenCount; id++) {
      if (this.tokenLength(id) !== 1) continue;
      const t = this.vocabToken(id);
      if (t !== undefined) {
        const c = t.charCodeAt(0);
        const b = CHAR_TO_BYTE[c] ?? -1;
        if (b >= 0 && this.byteIds[b]! < 0) this.byteIds[b] = id; // a byte: b < 256
      }
    }
    const idOf = (tok: string | null): number | null => (tok === null ? null : (this.tokenToId(tok) ?? null));
    this.eosToken = data.config.eosToken;
    this.eosTokenId = idOf(this.eosToken);
    this.padToken = data.config.padToken;
    this.padTokenId = idOf(this.padToken);
    this.bosToken = data.config.bosToken;
    this.bosTokenId = idOf(this.bosToken);
    this.unkToken = data.config.unkToken;
    this.unkTokenId = idOf(this.unkToken);
    this.chatTemplate = data.config.chatTemplate;
    // Built now so that a malformed merge list fails at load, naming the file and merge.
    this.pairTable();
  }

  // ---------------------------------------------------------------- construction

  /**
   * Reads a tokenizer folder (tokenizer.json, or vocab.json + merges.txt, with
   * tokenizer_config.json) through anything that hands out its files' text: io's
   * `ModelFiles` for a local folder, a URL folder or dropped files. In Node,
   * `loadTokenizer(dir)` from `qwen2-ts/node` takes a path.
   */
  static async fromFiles(files: TokenizerFiles): Promise<Tokenizer> {
    const data = await readTokenizerFolder(files);
    if (data === null) throw new FormatError(files.location, "no tokenizer.json, and no vocab.json + merges.txt (slow layout)");
    return new Tokenizer(data);
  }

  /**
   * One of the tokenizers shipped with the package (no network, no files of yours): "qwen2.5"
   * (the default; its chat template renders tools) or "qwen2". Any other name is an error
   * listing these.
   */
  static async embedded(name: EmbeddedTokenizer = DEFAULT_EMBEDDED_TOKENIZER): Promise<Tokenizer> {
    return new Tokenizer(await embeddedTokenizerData(name));
  }

  /** From a folder already read (`readTokenizerFolder`), e.g. to fall back to another tokenizer when it has none. */
  static fromData(data: TokenizerData): Tokenizer {
    return new Tokenizer(data);
  }

  /** From the texts of a tokenizer folder's files, by file name (see {@link TokenizerTexts}). */
  static fromTexts(texts: TokenizerTexts, location = "<tokenizer texts>"): Tokenizer {
    const data = parseTokenizerTexts(location, texts);
    if (data === null) throw new FormatError(location, "no tokenizer.json, and no vocab.json + merges.txt (slow layout)");
    return new Tokenizer(data);
  }

  /** From the parsed (or unparsed) contents of tokenizer.json and tokenizer_config.json. */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
    const toJson = (name: string, v: unknown) => (typeof v === "string" ? parseJson(name, v) : (v as Parameters<typeof parseSettings>[1]));
    const settings = parseSettings(
      "tokenizer_config.json",
      tokenizerConfig === undefined ? undefined : toJson("tokenizer_config.json", tokenizerConfig),
    );
    return new Tokenizer(parseTokenizerJson("tokenizer.json", toJson("tokenizer.json", tokenizerJson)!, settings));
  }

  /** From an id-ordered vocabulary and merges, e.g. read from a GGUF file. */
  static fromVocabAndMerges(spec: VocabAndMerges): Tokenizer {
    const vocab = new Map<string, number>();
    const added = spec.addedTokens ?? [];
    const addedIds = new Set(added.map((t) => t.id));
    spec.vocab.forEach((tok, id) => {
      // GGUF lists added tokens in the vocabulary too; they are matched as added tokens.
      if (!addedIds.has(id) && !vocab.has(tok)) vocab.set(tok, id);
    });
    const settings: TokenizerSettings = {
      eosToken: spec.eosToken ?? null,
      padToken: spec.padToken ?? null,
      bosToken: spec.bosToken ?? null,
      unkToken: spec.unkToken ?? null,
      chatTemplate: spec.chatTemplate ?? null,
      addBosToken: false,
      addEosToken: false,
      additionalSpecialTokens: [],
    };
    return new Tokenizer({
      vocab,
      merges: spec.merges,
      addedTokens: added.map((t) => ({
        id: t.id,
        content: t.content,
        special: t.special,
        lstrip: t.lstrip ?? false,
        rstrip: t.rstrip ?? false,
        singleWord: t.singleWord ?? false,
        normalized: t.normalized ?? !t.special,
      })),
      config: settings,
      mergesFile: "merges",
      location: "<vocabulary and merges>",
    });
  }

  /** Builds the merge table: (left id, right id) -> (rank, merged id). */
  private pairTable(): PairTable {
    if (this.pairs !== null) return this.pairs;
    const triples = this.mergeTriples;
    if (triples !== null) {
      const table = new PairTable(triples.length / 3);
      // parsePacked checked the length is a multiple of 3, so i + 2 < length.
      for (let i = 0, rank = 0; i < triples.length; i += 3, rank++) table.add(triples[i]!, triples[i + 1]!, rank, triples[i + 2]!);
      return (this.pairs = table);
    }
    const merges = this.rawMerges;
    const obj = this.vocabMap === null ? this.vocabObject : null;
    const map = obj === null ? this.vocab : null;
    const idOf = (t: string): number | undefined => {
      if (map !== null) return map.get(t);
      const v = obj![t];
      return typeof v === "number" ? v : undefined; // Object.prototype holds no numbers
    };
    const table = new PairTable(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank];
      let a: string;
      let b: string;
      if (typeof m === "string") {
        const sp = m.indexOf(" ");
        if (sp <= 0 || sp === m.length - 1) throw new FormatError(this.mergesFile, `merge ${rank} (${JSON.stringify(m)}) is not "a b"`);
        a = m.slice(0, sp);
        b = m.slice(sp + 1);
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
        a = m[0];
        b = m[1];
      } else throw new FormatError(this.mergesFile, `merge ${rank} must be "a b" or ["a", "b"]`);
      const ia = idOf(a);
      const ib = idOf(b);
      const im = idOf(a + b);
      if (ia === undefined || ib === undefined || im === undefined) {
        throw new FormatError(
          this.mergesFile,
          `merge ${rank} (${JSON.stringify(a)} + ${JSON.stringify(b)}) uses a token missing from the vocabulary`,
        );
      }
      table.add(ia, ib, rank, im);
    }
    this.pairs = table;
    this.vocabObject = null; // the lazy Map (from idToTok) serves lookups from now on
    return table;
  }

  // ---------------------------------------------------------------- encoding

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    this.encodeInto(toWellFormed(text), options.splitSpecialTokens ?? false, out, null);
    if (options.addSpecialTokens ?? true) this.addSpecial(out, null);
    return out;
  }

  /** Number of tokens `encode(text)` gives. */
  countTokens(text: string, options: EncodeOptions = {}): number {
    return this.encode(text, options).length;
  }

  private addSpecial(ids: number[], offsets: [number, number][] | null): void {
    if (this.settings.addBosToken && this.bosTokenId !== null) {
      ids.unshift(this.bosTokenId);
      offsets?.unshift([0, 0]);
    }
    if (this.settings.addEosToken && this.eosTokenId !== null) {
      ids.push(this.eosTokenId);
      offsets?.push([0, 0]);
    }
  }

  /** Encodes well-formed text; with `offsets`, records each token's span in `text`. */
  private encodeInto(text: string, splitSpecial: boolean, out: number[], offsets: [number, number][] | null): void {
    for (const seg of this.rawMatcher.split(text, splitSpecial)) {
      if (seg.id >= 0) {
        out.push(seg.id);
        offsets?.push([seg.start, seg.end]);
        continue;
      }
      const raw = text.slice(seg.start, seg.end);
      if (offsets === null) {
        const norm = nfc(raw);
        if (this.normalizedMatcher.isEmpty) this.encodeNormalized(norm, out);
        else {
          for (const s of this.normalizedMatcher.split(norm, splitSpecial)) {
            if (s.id >= 0) out.push(s.id);
            else this.encodeNormalized(norm.slice(s.start, s.end), out);
          }
        }
      } else {
        const al = nfcAligned(raw);
        const norm = al.text;
        // a and b - 1 index characters of the normalised text, which both tables cover.
        const map = (a: number, b: number): [number, number] => [seg.start + al.partStart[a]!, seg.start + al.partEnd[Math.max(a, b - 1)]!];
        for (const s of this.normalizedMatcher.split(norm, splitSpecial)) {
          if (s.id >= 0) {
            out.push(s.id);
            offsets.push(map(s.start, s.end));
          } else this.encodeNormalizedWithOffsets(norm, s.start, s.end, out, offsets, map);
        }
      }
    }
  }

  private encodeNormalized(s: string, out: number[]): void {
    // One reused list of piece ends (encoding is synchronous, never re-entered).
    const ends = this.ends;
    ends.length = 0;
    splitQwen2(s, ends);
    let start = 0;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k]!; // k < length
      this.encodeWord(s, start, end, out);
      start = end;
    }
    // Do not keep a huge document's list alive.
    if (ends.length > 1 << 16) this.ends = [];
  }

  private encodeNormalizedWithOffsets(
    norm: string,
    from: number,
    to: number,
    out: number[],
    offsets: [number, number][],
    map: (a: number, b: number) => [number, number],
  ): void {
    const s = norm.slice(from, to);
    const ends = splitQwen2(s, []);
    let start = 0;
    for (const end of ends) {
      const first = out.length;
      this.encodeWord(s, start, end, out);
      // Map each token's bytes back to the characters holding them.
      const charOfByte: number[] = [];
      for (let i = start; i < end; i++) {
        const c = s.codePointAt(i)!;
        const w = c > 0xffff ? 2 : 1;
        const nb = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        for (let k = 0; k < nb; k++) charOfByte.push(i);
        i += w - 1;
      }
      charOfByte.push(end);
      let byte = 0;
      for (let t = first; t < out.length; t++) {
        const len = this.idToBytes(out[t]!)?.length ?? 0; // t < out.length
        const firstChar = charOfByte[byte];
        const lastChar = charOfByte[byte + len - 1];
        if (firstChar === undefined || lastChar === undefined)
          throw new Error(`offsets: token ${out[t]} does not cover bytes ${byte}..${byte + len} of its word`);
        const cp = s.codePointAt(lastChar)!;
        const b = from + lastChar + (cp > 0xffff ? 2 : 1);
        offsets.push(map(from + firstChar, b));
        byte += len;
      }
      start = end;
    }
  }

  /** BPE of s[start, end), through the word cache. */
  private encodeWord(s: string, start: number, end: number, out: number[]): void {
    // byteIds is indexed by bytes (< 256), and syms holds at least 3 symbols per UTF-16 unit
    // of the word: the non-null assertions below rest on these two facts.
    const len = end - start;
    if (len === 1) {
      const c = s.charCodeAt(start);
      if (c < 0x80) {
        const id = this.byteIds[c]!;
        if (id >= 0) out.push(id);
        return;
      }
    }
    const cacheable = len <= CACHE_MAX_KEY;
    const hash = cacheable ? WordCache.hash(s, start, end) : 0;
    if (cacheable && this.cache.get(s, start, end, hash, out)) return;
    // UTF-8 bytes of the word, as single-byte token ids.
    if (this.syms.length < len * 3 + 4) this.syms = new Int32Array(len * 3 + 4);
    const syms = this.syms;
    const byteIds = this.byteIds;
    let n = 0;
    for (let i = start; i < end; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) syms[n++] = byteIds[c]!;
      else if (c < 0x800) {
        syms[n++] = byteIds[0xc0 | (c >> 6)]!;
        syms[n++] = byteIds[0x80 | (c & 0x3f)]!;
      } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
        c = ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00) + 0x10000;
        syms[n++] = byteIds[0xf0 | (c >> 18)]!;
        syms[n++] = byteIds[0x80 | ((c >> 12) & 0x3f)]!;
        syms[n++] = byteIds[0x80 | ((c >> 6) & 0x3f)]!;
        syms[n++] = byteIds[0x80 | (c & 0x3f)]!;
      } else {
        syms[n++] = byteIds[0xe0 | (c >> 12)]!;
        syms[n++] = byteIds[0x80 | ((c >> 6) & 0x3f)]!;
        syms[n++] = byteIds[0x80 | (c & 0x3f)]!;
      }
    }
    let m = bpeMerge(this.pairTable(), syms, n);
    // A byte missing from the vocabulary (not in byte-level vocabularies) is dropped.
    let k = 0;
    for (let i = 0; i < m; i++) {
      const id = syms[i]!;
      if (id >= 0) syms[k++] = id;
    }
    m = k;
    for (let i = 0; i < m; i++) out.push(syms[i]!);
    if (cacheable) this.cache.set(s.slice(start, end), hash, syms, m);
  }

  /**
   * Encodes several texts, with optional truncation, padding (pad id: the pad token, else
   * 0), attention masks and offsets.
   */
  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const { padding = false, maxLength, truncation = false, returnOffsets = false } = options;
    if (truncation && (maxLength === undefined || !(maxLength >= 0)))
      throw new InvalidArgumentError("encodeBatch: truncation needs a non-negative maxLength");
    const ids: number[][] = [];
    const offsets: [number, number][][] = [];
    for (const text of texts) {
      const seq: number[] = [];
      const offs: [number, number][] | null = returnOffsets ? [] : null;
      this.encodeInto(toWellFormed(text), options.splitSpecialTokens ?? false, seq, offs);
      if (options.addSpecialTokens ?? true) this.addSpecial(seq, offs);
      if (truncation && seq.length > maxLength!) {
        seq.length = maxLength!;
        if (offs) offs.length = maxLength!;
      }
      ids.push(seq);
      if (offs) offsets.push(offs);
    }
    const attentionMask = ids.map((seq) => seq.map(() => 1));
    if (padding !== false) {
      let target = 0;
      for (const seq of ids) target = Math.max(target, seq.length);
      if (maxLength !== undefined && !truncation) target = Math.max(target, maxLength);
      const padId = this.padTokenId ?? 0;
      ids.forEach((seq, i) => {
        const k = target - seq.length;
        if (k <= 0) return;
        const pad = new Array<number>(k).fill(padId);
        const zeros = new Array<number>(k).fill(0);
        const empty = Array.from({ length: k }, (): [number, number] => [0, 0]);
        // One mask (and, with returnOffsets, one offsets list) per sequence.
        const mask = attentionMask[i]!;
        const offs = returnOffsets ? offsets[i]! : [];
        if (padding === "left") {
          ids[i] = [...pad, ...seq];
          attentionMask[i] = [...zeros, ...mask];
          if (returnOffsets) offsets[i] = [...empty, ...offs];
        } else {
          seq.push(...pad);
          mask.push(...zeros);
          offs.push(...empty);
        }
      });
    }
    return returnOffsets ? { ids, attentionMask, offsets } : { ids, attentionMask };
  }

  // ---------------------------------------------------------------- decoding

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const { offsets, data, special } = this.byteTable();
    const n = this.vocabSize;
    let total = 0;
    // ids[i] is read with i < length; an id that passes the checks is in [0, n), and
    // offsets has n + 1 entries, data offsets[n] bytes: hence the non-null assertions.
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      // Unknown ids (out of range, not integers, holes) are dropped, as the reference does.
      if ((id | 0) !== id || id < 0 || id >= n || (skip && special[id] === 1)) continue;
      total += offsets[id + 1]! - offsets[id]!;
    }
    if (total === 0) return "";
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if ((id | 0) !== id || id < 0 || id >= n || (skip && special[id] === 1)) continue;
      const a = offsets[id]!;
      const b = offsets[id + 1]!;
      if (b - a === 1) out[at++] = data[a]!;
      else for (let k = a; k < b; k++) out[at++] = data[k]!;
    }
    return decodeUtf8(out);
  }

  /**
   * Every id's decoded bytes in one buffer (built on first decode, ~1 MB): decoding is then
   * a copy per id and one UTF-8 decode, with no per-token objects.
   */
  private byteTable(): { offsets: Int32Array; data: Uint8Array; special: Uint8Array } {
    if (this.bytesTable !== null) return this.bytesTable;
    const n = this.vocabSize;
    const offsets = new Int32Array(n + 1);
    const special = new Uint8Array(n);
    const parts: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(n);
    let total = 0;
    for (let id = 0; id < n; id++) {
      const tok = this.idToToken(id);
      const bytes = tok === undefined ? undefined : (tokenToBytes(tok) ?? new TextEncoder().encode(tok));
      parts[id] = bytes;
      offsets[id] = total;
      total += bytes?.length ?? 0;
      if (this.addedById.get(id)?.special === true) special[id] = 1;
    }
    offsets[n] = total;
    const data = new Uint8Array(total);
    for (let id = 0; id < n; id++) {
      const p = parts[id];
      if (p !== undefined) data.set(p, offsets[id]);
    }
    return (this.bytesTable = { offsets, data, special });
  }

  decodeBatch(batch: readonly ArrayLike<number>[], options: DecodeOptions = {}): string[] {
    return batch.map((ids) => this.decode(ids, options));
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    const skip = options.skipSpecialTokens ?? false;
    return new ByteStreamDecoder(
      (id) => this.idToBytes(id),
      (id) => skip && this.isSpecialId(id),
    );
  }

  // ---------------------------------------------------------------- lookup

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.vocabToken(id);
  }

  /** The vocabulary (not added) token of an id. */
  private vocabToken(id: number): string | undefined {
    if (this.idToTok !== null) return this.idToTok[id];
    if ((id | 0) !== id || id < 0 || id >= this.tokenCount) return undefined;
    const { text, ends } = this.packed!;
    return text.slice(id === 0 ? 0 : ends[id - 1]! + 1, ends[id]); // 0 <= id < tokenCount = ends.length
  }

  /** Length of the vocabulary token of an id in UTF-16 units (-1 when none), without slicing. */
  private tokenLength(id: number): number {
    if (this.idToTok !== null) return this.idToTok[id]?.length ?? -1;
    const ends = this.packed!.ends;
    const end = ends[id];
    if (end === undefined) return -1;
    return end - (id === 0 ? 0 : ends[id - 1]! + 1);
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.vocab.get(token);
  }

  /** token -> id of the vocabulary, built on first need (the packed layout has none). */
  private get vocab(): Map<string, number> {
    if (this.vocabMap === null) {
      const m = new Map<string, number>();
      for (let id = 0; id < this.tokenCount; id++) {
        const t = this.vocabToken(id);
        if (t !== undefined && !m.has(t)) m.set(t, id);
      }
      this.vocabMap = m;
    }
    return this.vocabMap;
  }

  /**
   * As the reference's ByteLevel decoder: the byte-level bytes, or the UTF-8 when a
   * character is outside the alphabet (added tokens with spaces, for example). The result
   * is a view into a shared table: do not modify it.
   */
  idToBytes(id: number): Uint8Array | undefined {
    if ((id | 0) !== id || id < 0 || id >= this.vocabSize) return undefined;
    if (this.idToToken(id) === undefined) return undefined;
    const { offsets, data } = this.byteTable();
    return data.subarray(offsets[id], offsets[id + 1]);
  }

  isSpecialId(id: number): boolean {
    return this.addedById.get(id)?.special ?? false;
  }

  /** The added tokens (special and not), in id order. */
  get addedTokens(): readonly AddedToken[] {
    return [...this.added].sort((a, b) => a.id - b.id);
  }

  /** Contents of the special tokens (those skipSpecialTokens drops). */
  get specialTokens(): string[] {
    return this.addedTokens.filter((t) => t.special).map((t) => t.content);
  }

  // ---------------------------------------------------------------- chat

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateCallOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateCallOptions & { tokenize?: false }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateCallOptions): string | number[];
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateCallOptions = {}): string | number[] {
    if (this.chatTemplate === null)
      throw new InvalidArgumentError("this tokenizer has no chat template (tokenizer_config.json has no chat_template)");
    // transformers passes the special-tokens map to the template as well (only set ones).
    const specials: Record<string, unknown> = {};
    if (this.unkToken !== null) specials.unk_token = this.unkToken;
    if (this.padToken !== null) specials.pad_token = this.padToken;
    if (this.settings.additionalSpecialTokens.length > 0) specials.additional_special_tokens = [...this.settings.additionalSpecialTokens];
    const text = renderChatTemplate(this.chatTemplate, messages, {
      addGenerationPrompt: options.addGenerationPrompt ?? false,
      tools: options.tools,
      documents: options.documents,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      extra: { ...specials, ...(options.extra ?? {}) },
    });
    return options.tokenize === true ? this.encode(text, { addSpecialTokens: false }) : text;
  }
}
