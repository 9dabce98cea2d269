/**
 * Tokenizing large texts without holding the event loop: a prompt's length is checked in
 * pieces before all of it is tokenized, and the loop yields between pieces.
 *
 * 1. A bound first, at no cost: every token covers at most `maxTokenBytes` bytes of text, so
 *    a text of B bytes has at least B / maxTokenBytes tokens. Past the context that is a 400
 *    at once (a 4 MB prompt against a 4096-token context never reaches the tokenizer).
 * 2. Then pieces of about 32 K characters, cut only where the Qwen2 pre-tokenizer always
 *    cuts, so the pieces' tokens are exactly the whole text's: before a space that follows an
 *    ASCII letter and precedes one ("…word| word…": a letter run ends at the space and the
 *    next match is " word"; no normalisation joins an ASCII letter to a space; no special
 *    token holds a space). The count so far is exact, so the request is refused as soon as
 *    it reaches the context, and between pieces other requests run.
 * A text without such a cut (one long "word") is tokenized whole: the bound of step 1 is
 * what limits it.
 */
import { yieldToEventLoop } from "../generation/sequence_generator.js";
import type { EncodeOptions, TextTokenizer } from "../tokenizer/types.js";
import { errors } from "./errors.js";

/** Characters per piece: about a millisecond or two of BPE. */
export const PIECE_CHARS = 32 * 1024;

const maxBytes = new WeakMap<TextTokenizer, number>();

/** The longest token of the vocabulary in bytes (computed once per tokenizer). */
export function maxTokenBytes(tokenizer: TextTokenizer): number {
  let m = maxBytes.get(tokenizer);
  if (m === undefined) {
    m = 1;
    for (let id = 0; id < tokenizer.vocabSize; id++) m = Math.max(m, tokenizer.idToBytes(id)?.length ?? 0);
    maxBytes.set(tokenizer, m);
  }
  return m;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** The first cut at or after `from` (see the header), or -1. */
export function nextCut(text: string, from: number): number {
  for (let i = Math.max(1, from); i < text.length - 1; i++) {
    if (text.charCodeAt(i) === 0x20 && isAsciiLetter(text.charCodeAt(i - 1)) && isAsciiLetter(text.charCodeAt(i + 1))) return i;
  }
  return -1;
}

/** Pieces of `text` cut as the header says; joined they are the text. */
export function* pieces(text: string, size = PIECE_CHARS): Generator<string> {
  let start = 0;
  while (text.length - start > size) {
    const cut = nextCut(text, start + size);
    if (cut < 0) break;
    yield text.slice(start, cut);
    start = cut;
  }
  yield text.slice(start);
}

/** What refuses a text of at least `atLeast` tokens (a context overflow, or a /tokenize cap). */
export type Refusal = (atLeast: number) => Error;

/**
 * `tokenizer.encode(text, options)`, refusing a text of `limit` tokens or more as early as it
 * can, before all of it is tokenized (a text tokenized whole comes back, its count exact, for the caller to check) (with `refuse`, by default 400 context_length_exceeded blamed on `param`); the event
 * loop runs between pieces. Special tokens (`addSpecialTokens`) go with the first piece only.
 */
export async function encodeChecked(
  tokenizer: TextTokenizer,
  text: string,
  options: EncodeOptions,
  limit: number,
  param: string,
  refuse: Refusal = (n) => errors.contextOverflowAtLeast(param, n, limit),
  pieceChars = PIECE_CHARS,
): Promise<number[]> {
  const atLeast = Math.ceil(Buffer.byteLength(text, "utf8") / maxTokenBytes(tokenizer));
  if (atLeast >= limit) throw refuse(atLeast);
  if (text.length <= pieceChars) return tokenizer.encode(text, options);
  const ids: number[] = [];
  let consumed = 0;
  for (const piece of pieces(text, pieceChars)) {
    const part = tokenizer.encode(piece, consumed === 0 ? options : { ...options, addSpecialTokens: false });
    consumed += piece.length;
    for (const id of part) ids.push(id);
    // Refused here only with text left over; a whole count is the caller's to judge (its error names the exact count).
    if (ids.length >= limit && consumed < text.length) throw refuse(ids.length);
    await yieldToEventLoop();
  }
  return ids;
}
