/**
 * The Qwen2 pre-tokeniser: the split regex
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * run as a hand-written scanner with Oniguruma's semantics (leftmost alternative wins, the
 * classes of ./char_class.ts). The alternatives together match every character, so the
 * pieces tile the text and only their end positions need reporting. Every step is O(length
 * of the piece), so no input is slower than linear (a JavaScript regex needs backtracking
 * for `\s+(?!\S)`, quadratic on long runs of spaces before a letter in some engines).
 */
import { charClassTable, LETTER, NUMBER, OTHER, SPACE } from "./char_class.js";

/** The regex as written in tokenizer.json, for reference and for tests. */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const CLASS = charClassTable();

function isNewline(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

/** ASCII lower-casing; the contractions only involve ASCII letters (U+017F is not matched). */
function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** Length of a contraction ('s 't 're 've 'm 'll 'd, any case) at i, or 0. */
function contractionAt(s: string, i: number, n: number): number {
  if (i + 1 >= n) return 0;
  const a = lower(s.charCodeAt(i + 1));
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  if (i + 2 >= n) return 0;
  const b = lower(s.charCodeAt(i + 2));
  if ((a === 0x72 || a === 0x76) && b === 0x65) return 3; // re ve
  if (a === 0x6c && b === 0x6c) return 3; // ll
  return 0;
}

/**
 * Splits `s` (well-formed UTF-16: lone surrogates already replaced) into pieces, pushing the
 * end index of each piece onto `ends`. Returns `ends`.
 */
export function splitQwen2(s: string, ends: number[] = []): number[] {
  const n = s.length;
  const cls = CLASS;
  let i = 0;
  while (i < n) {
    let cp = s.charCodeAt(i);
    let w = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      cp = ((cp - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000;
      w = 2;
    }
    const k = cls[cp];
    // 1. contractions
    if (cp === 0x27) {
      const len = contractionAt(s, i, n);
      if (len > 0) {
        ends.push((i += len));
        continue;
      }
    }
    // 2. [^\r\n\p{L}\p{N}]?\p{L}+
    let letters = -1;
    if (k === LETTER) letters = i;
    else if (k !== NUMBER && !isNewline(cp) && i + w < n && classAt(s, i + w, n) === LETTER) letters = i + w;
    if (letters >= 0) {
      ends.push((i = skipClass(s, letters, n, LETTER)));
      continue;
    }
    // 3. \p{N}, one at a time
    if (k === NUMBER) {
      ends.push((i += w));
      continue;
    }
    // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
    let other = -1;
    if (k === OTHER) other = i;
    else if (cp === 0x20 && i + 1 < n && classAt(s, i + 1, n) === OTHER) other = i + 1;
    if (other >= 0) {
      let j = skipClass(s, other, n, OTHER);
      while (j < n && isNewline(s.charCodeAt(j))) j++;
      ends.push((i = j));
      continue;
    }
    // k === SPACE (every space character is in the BMP)
    let j = i + 1;
    let lastNewline = isNewline(cp) ? i : -1;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (cls[c] !== SPACE || (c >= 0xd800 && c <= 0xdfff)) break;
      if (isNewline(c)) lastNewline = j;
      j++;
    }
    // 5. \s*[\r\n]+ : up to the last newline of the run
    if (lastNewline >= 0) i = lastNewline + 1;
    // 6. \s+(?!\S) : the run, less its last space when a non-space follows
    else if (j === n || j - i === 1)
      i = j; // 7. \s+ : a single space before a non-space
    else i = j - 1;
    ends.push(i);
  }
  return ends;
}

function classAt(s: string, i: number, n: number): number {
  let cp = s.charCodeAt(i);
  if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) cp = ((cp - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000;
  return CLASS[cp]!; // the table covers every code point (0 to 0x10ffff)
}

/** Index after the run of code points of class `k` starting at i. */
function skipClass(s: string, i: number, n: number, k: number): number {
  const cls = CLASS;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      if (cls[((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000] !== k) break;
      i += 2;
    } else {
      if (cls[c] !== k) break;
      i++;
    }
  }
  return i;
}

/** The pieces themselves (convenience for tests and tools). */
export function preTokenize(s: string): string[] {
  const ends = splitQwen2(s);
  const out: string[] = [];
  let start = 0;
  for (const e of ends) {
    out.push(s.slice(start, e));
    start = e;
  }
  return out;
}
