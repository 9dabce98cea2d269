/**
 * Added tokens (special and not), found in the raw text before normalisation as Hugging
 * Face's AddedVocabulary does: leftmost-longest non-overlapping matches, each honouring
 * `single_word` (only between non-word characters), `lstrip` / `rstrip` (swallow the
 * whitespace beside it). With `splitSpecial`, special tokens are not matched (their text is
 * ordinary text) while non-special added tokens still are.
 */

export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
  /** Matched on the normalised text instead of the raw text. */
  readonly normalized: boolean;
}

/** A part of the text: an added token's id, or -1 for text to tokenise normally. */
export interface Segment {
  readonly id: number;
  readonly start: number;
  readonly end: number;
}

const WORD_CHAR = /^[\p{Alphabetic}\p{N}\p{M}\p{Pc}]$/u;
/** Rust's char::is_whitespace (White_Space: includes U+0085, excludes U+FEFF). */
const RUST_SPACE = /^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD_CHAR.test(ch);
}

function lastChar(s: string, end: number): string | undefined {
  if (end <= 0) return undefined;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xdc00 && c <= 0xdfff && end >= 2) return s.slice(end - 2, end);
  return s[end - 1];
}

function firstChar(s: string, start: number): string | undefined {
  if (start >= s.length) return undefined;
  const cp = s.codePointAt(start)!;
  return String.fromCodePoint(cp);
}

/** Leftmost-longest matcher over a set of added tokens. */
export class AddedTokenMatcher {
  /** Candidates by first code unit, longest first. */
  private readonly byFirst = new Map<number, AddedToken[]>();
  private readonly firstFlags = new Uint8Array(0x10000);
  readonly isEmpty: boolean;

  constructor(tokens: readonly AddedToken[]) {
    for (const t of tokens) {
      if (t.content.length === 0) continue;
      const c = t.content.charCodeAt(0);
      let list = this.byFirst.get(c);
      if (!list) this.byFirst.set(c, (list = []));
      list.push(t);
      this.firstFlags[c] = 1;
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.content.length - a.content.length);
    this.isEmpty = this.byFirst.size === 0;
  }

  /**
   * Splits `s` into added-token segments and text segments. `skipSpecial` leaves special
   * tokens unmatched (split_special_tokens / encode_special_tokens).
   */
  split(s: string, skipSpecial: boolean): Segment[] {
    const out: Segment[] = [];
    if (this.isEmpty) {
      if (s.length > 0) out.push({ id: -1, start: 0, end: s.length });
      return out;
    }
    const flags = this.firstFlags;
    let textStart = 0;
    let i = 0;
    const n = s.length;
    while (i < n) {
      if (flags[s.charCodeAt(i)] === 0) {
        i++;
        continue;
      }
      let match: AddedToken | undefined;
      for (const t of this.byFirst.get(s.charCodeAt(i))!) {
        if (s.startsWith(t.content, i)) {
          match = t;
          break;
        }
      }
      if (!match) {
        i++;
        continue;
      }
      let start = i;
      let stop = i + match.content.length;
      // The automaton moves past a match even when the token is then rejected.
      i = stop;
      if (skipSpecial && match.special) continue;
      if (match.singleWord) {
        if (isWordChar(lastChar(s, start)) || isWordChar(firstChar(s, stop))) continue;
      }
      if (match.lstrip) {
        let k = start;
        for (;;) {
          const ch = lastChar(s, k);
          if (ch === undefined || !RUST_SPACE.test(ch)) break;
          k -= ch.length;
        }
        start = Math.max(k, textStart);
      }
      if (match.rstrip) {
        for (;;) {
          const ch = firstChar(s, stop);
          if (ch === undefined || !RUST_SPACE.test(ch)) break;
          stop += ch.length;
        }
        i = stop;
      }
      if (textStart < start) out.push({ id: -1, start: textStart, end: start });
      out.push({ id: match.id, start, end: stop });
      textStart = stop;
    }
    if (textStart < n) out.push({ id: -1, start: textStart, end: n });
    return out;
  }
}
