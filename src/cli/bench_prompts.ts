/**
 * What every engine's benchmark shares, so that they measure the same way.
 *
 * Deterministic benchmark prompts: `n` ordinary token ids (below the first added token of
 * the Qwen2 vocabulary), the same for every engine given the same seed, so every engine
 * does the same work. Random ids, not text: speed does not depend on the content. Ids are
 * folded into `vocab` for smaller vocabularies. Used by `qwen2 bench` and bench/*.ts.
 */
export function benchPromptIds(n: number, seed: number, vocab = Infinity): Int32Array {
  let s = (seed * 0x9e3779b9) >>> 0;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // xorshift32: small, fast, deterministic everywhere.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const id = 1000 + (s % 100000);
    ids[i] = id < vocab ? id : id % vocab;
  }
  return ids;
}

/** Median and [min, max] of a non-empty list of measurements, rounded to 0.01. */
export function medianAndRange(xs: readonly number[]): { median: number; range: [number, number] } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { median: round(median), range: [round(s[0]!), round(s[s.length - 1]!)] };
}
