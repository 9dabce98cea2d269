/**
 * A small deterministic pseudo-random generator for sampling, so that the same seed gives
 * the same text on every machine and every run (Math.random cannot be seeded).
 *
 * xoshiro128** (Blackman & Vigna) on four 32-bit words, seeded through splitmix32 so that
 * nearby seeds (0, 1, 2, ...) start from unrelated states. 32-bit integer arithmetic only
 * (Math.imul, >>> 0), which JavaScript engines compute identically everywhere.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** `seed`: any finite number; its integer part (mod 2^53) picks the stream. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    // Fold up to 53 bits of the seed into two 32-bit halves, so 2^32 and 0 differ.
    const n = Math.trunc(Math.abs(seed)) % 2 ** 53;
    const lo = n >>> 0;
    const hi = Math.floor(n / 2 ** 32) >>> 0;
    let x = (lo ^ Math.imul(hi, 0x9e3779b9) ^ (seed < 0 ? 0x5bd1e995 : 0)) >>> 0;
    const next = (): number => {
      // splitmix32 step
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A seed for callers that gave none: unpredictable, but still reported so a run can be replayed. */
export function randomSeed(): number {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  // 53 bits: an exact integer in a double.
  return (words[0]! & 0x1fffff) * 2 ** 32 + words[1]!;
}
