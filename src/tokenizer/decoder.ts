/**
 * Byte-level decoding: ids -> bytes -> UTF-8 text with errors="replace". WHATWG's
 * TextDecoder replaces each maximal invalid subpart with one U+FFFD, the same rule as
 * Rust's from_utf8_lossy (the reference) and Python's bytes.decode(errors="replace").
 */
import type { StreamDecoder } from "./types.js";

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Decodes bytes, replacing invalid sequences. */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** Something that maps an id to the bytes it decodes to (undefined: drop it). */
export type IdBytes = (id: number) => Uint8Array | undefined;

/** A growable byte buffer. */
export class ByteSink {
  buf = new Uint8Array(256);
  length = 0;
  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + bytes.length) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    if (bytes.length === 1)
      this.buf[this.length] = bytes[0]!; // length 1
    else this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Length of the longest prefix of `b[0..n)` after which no byte can still become part of a
 * valid character: a trailing, so far valid but incomplete UTF-8 sequence is held back.
 */
export function completeUtf8Prefix(b: Uint8Array, n: number): number {
  // Find the start of the last sequence (at most 3 bytes back): indexes stay in [n - 3, n).
  for (let back = 1; back <= 3 && back <= n; back++) {
    const lead = b[n - back];
    if (lead === undefined) throw new RangeError(`completeUtf8Prefix: n ${n} is beyond the ${b.length} bytes`);
    if (lead < 0x80) return n; // ASCII: everything before it is settled, and it is complete
    if (lead < 0xc0) continue; // continuation byte: keep looking for the lead
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    if (need === 0 || lead > 0xf4) return n; // invalid lead: replaced now
    if (back >= need) return n; // complete (or over-long run, handled by the decoder)
    // Validate the bytes we have against the lead's allowed second-byte range.
    if (back >= 2) {
      const second = b[n - back + 1]!; // back >= 2, so n - back + 1 < n
      const lo = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const hi = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      if (second < lo || second > hi) return n;
      const last = b[n - 1]!; // n - 1 >= 0
      if (back === 3 && (last < 0x80 || last > 0xbf)) return n;
    }
    return n - back;
  }
  return n;
}

/** Incremental decoder: emits text only once its UTF-8 is complete. */
export class ByteStreamDecoder implements StreamDecoder {
  private pending = new ByteSink();
  constructor(
    private readonly idBytes: IdBytes,
    private readonly skip: (id: number) => boolean,
  ) {}

  push(id: number): string {
    if (this.skip(id)) return "";
    const bytes = this.idBytes(id);
    if (bytes === undefined) return "";
    this.pending.push(bytes);
    const b = this.pending.buf;
    const n = this.pending.length;
    const cut = completeUtf8Prefix(b, n);
    if (cut === 0) return "";
    const text = decodeUtf8(b.subarray(0, cut));
    b.copyWithin(0, cut, n);
    this.pending.length = n - cut;
    return text;
  }

  flush(): string {
    if (this.pending.length === 0) return "";
    const text = decodeUtf8(this.pending.view());
    this.pending.length = 0;
    return text;
  }
}
