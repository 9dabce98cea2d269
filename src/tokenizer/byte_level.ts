/**
 * GPT-2's byte-level alphabet: every byte is shown as one printable character so that BPE
 * vocabularies can be stored as text. Printable Latin-1 bytes stand for themselves; the
 * others (controls, space, a few Latin-1 gaps) map to U+0100 onwards, in byte order.
 */

function isPrintable(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/** BYTE_TO_CHAR[b] is the character that stands for byte b. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(isPrintable(b) ? b : next++);
  return out;
})();

/** CHAR_TO_BYTE[charCode] is the byte, or -1 for characters outside the alphabet. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((char, b) => {
    out[char.charCodeAt(0)] = b;
  });
  return out;
})();

/**
 * The bytes a byte-level token stands for, or null when one of its characters is not in
 * the alphabet (the decoder then falls back to the token's UTF-8, as the reference does).
 */
export function tokenToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < 0x144 ? CHAR_TO_BYTE[c] : undefined;
    if (b === undefined || b < 0) return null;
    out[i] = b;
  }
  return out;
}

/** The byte-level string of some bytes (as vocabulary entries are written). */
export function bytesToToken(bytes: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    const char = BYTE_TO_CHAR[bytes[i] as number]; // i < length
    if (char === undefined) throw new RangeError(`bytesToToken: ${bytes[i]} at index ${i} is not a byte`);
    s += char;
  }
  return s;
}
