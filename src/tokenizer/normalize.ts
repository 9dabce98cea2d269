/**
 * NFC exactly as Hugging Face tokenizers computes it. Its Unicode tables are older than
 * Node's: a code point assigned later is unassigned there (combining class 0, no
 * decomposition, composes with nothing), which makes it a normalisation boundary. So the
 * text is cut at those code points (the committed table, derived by
 * tools/derive-nfc-table.mjs) and Node normalises the pieces between them.
 */
import { NFC_UNASSIGNED_RANGES } from "./data/nfc_unassigned.js";

const FIRST_UNASSIGNED = NFC_UNASSIGNED_RANGES[0] ?? 0x110000;
const UNASSIGNED = new Set<number>();
for (let i = 0; i + 1 < NFC_UNASSIGNED_RANGES.length; i += 2) {
  const first = NFC_UNASSIGNED_RANGES[i] as number; // i + 1 < length
  const end = first + (NFC_UNASSIGNED_RANGES[i + 1] as number);
  for (let c = first; c < end; c++) UNASSIGNED.add(c);
}

/** True when the reference's NFC leaves this code point alone and lets nothing cross it. */
export function isNfcUnassigned(cp: number): boolean {
  return cp >= FIRST_UNASSIGNED && UNASSIGNED.has(cp);
}

/** Lone surrogates become U+FFFD (the reference receives valid UTF-8 only). */
export function toWellFormed(s: string): string {
  // ES2024 string methods (Node >= 20); the compile target's lib predates them.
  const w = s as unknown as { isWellFormed(): boolean; toWellFormed(): string };
  return w.isWellFormed() ? s : w.toWellFormed();
}

/** True when no code unit is at or above U+0300: such text is NFC already. */
export function isTriviallyNfc(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x300) return false;
  return true;
}

/**
 * The reference's NFC of well-formed text. Every code point below U+0300 is a starter that
 * nothing composes onto from before, so only the stretches holding code points at or above
 * U+0300 (with the one character before each, which may compose with a following mark) go
 * through normalisation; mostly-Latin text costs a scan.
 */
export function nfc(s: string): string {
  const n = s.length;
  let i = 0;
  while (i < n && s.charCodeAt(i) < 0x300) i++;
  if (i === n) return s;
  let out = "";
  let last = 0;
  while (i < n) {
    if (s.charCodeAt(i) < 0x300) {
      i++;
      continue;
    }
    const start = i > last ? i - 1 : i;
    let j = i + 1;
    while (j < n && s.charCodeAt(j) >= 0x300) j++;
    out += s.slice(last, start) + nfcStretch(s.slice(start, j));
    last = j;
    i = j;
  }
  return out + s.slice(last);
}

function nfcStretch(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp < FIRST_UNASSIGNED) continue;
    let w = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      cp = ((cp - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000;
      w = 2;
    }
    if (UNASSIGNED.has(cp)) {
      out += s.slice(start, i).normalize("NFC") + s.slice(i, i + w);
      start = i + w;
    }
    i += w - 1;
  }
  if (start === 0) return s.normalize("NFC");
  return out + s.slice(start).normalize("NFC");
}

/**
 * NFC with an alignment to the input, for offsets: the text is cut before every code point
 * that NFC can never join with what precedes it (ASCII, Latin-1, CJK ideographs, Hangul
 * syllables, kana; plus the table's boundaries), each part is normalised alone, and every
 * output position maps to its part. Joining the parts gives exactly `nfc(s)`.
 * Returns the normalised text and, per output code unit, the input index where its part
 * starts and ends.
 */
export function nfcAligned(s: string): { text: string; partStart: Int32Array; partEnd: Int32Array } {
  const norm = nfc(s);
  const partStart = new Int32Array(norm.length + 1);
  const partEnd = new Int32Array(norm.length + 1);
  if (norm === s) {
    for (let i = 0; i <= s.length; i++) {
      partStart[i] = i;
      partEnd[i] = Math.min(i + 1, s.length);
    }
    return { text: norm, partStart, partEnd };
  }
  let text = "";
  let start = 0;
  const flush = (end: number): void => {
    if (end <= start) return;
    const piece = nfc(s.slice(start, end));
    for (let k = 0; k < piece.length; k++) {
      partStart[text.length + k] = start;
      partEnd[text.length + k] = end;
    }
    text += piece;
    start = end;
  };
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isSafeBoundary(c)) flush(i);
  }
  flush(s.length);
  partStart[text.length] = s.length;
  partEnd[text.length] = s.length;
  if (text !== norm) {
    // Should not happen; fall back to one part covering everything.
    partStart.fill(0);
    partEnd.fill(s.length);
    return { text: norm, partStart, partEnd };
  }
  return { text, partStart, partEnd };
}

/** Starters that never compose with a preceding character (NFC_Quick_Check=Yes, ccc=0). */
function isSafeBoundary(c: number): boolean {
  return (
    c < 0x300 ||
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0x3041 && c <= 0x3096) ||
    (c >= 0x30a1 && c <= 0x30fa) ||
    (c >= 0x3000 && c <= 0x3003)
  );
}
