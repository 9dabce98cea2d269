/**
 * Deterministic benchmark prompts: `n` ordinary token ids (below the first added token of
 * the Qwen2 vocabulary), the same for every engine given the same seed, so every engine
 * does the same work. Random ids, not text: speed does not depend on the content.
 */
export function benchPromptIds(n: number, seed: number): number[] {
  let s = (seed * 0x9e3779b9) >>> 0;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    // xorshift32: small, fast, deterministic everywhere.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    ids.push(1000 + (s % 100000));
  }
  return ids;
}
