/**
 * Slow, obviously-correct references for the fast paths: the split regex as a JavaScript
 * regex (with Oniguruma's \s spelled out), and textbook BPE over a rank map.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tokenizersDir } from "../support/paths.js";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte_level.js";

/** Oniguruma's \s (Unicode White_Space), unlike JavaScript's (no U+0085, has U+FEFF). */
const S = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** The Qwen2 split regex in JavaScript syntax (no inline (?i:), so the cases are spelled out). */
export const REFERENCE_SPLIT = new RegExp(
  `'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|[${S}]*[\\r\\n]+|[${S}]+(?![^${S}])|[${S}]+`,
  "gu",
);

export function referenceSplit(s: string): string[] {
  return [...s.matchAll(REFERENCE_SPLIT)].map((m) => m[0]);
}

let ranks: Map<string, number> | null = null;
let vocab: Record<string, number> | null = null;

function load(): void {
  if (ranks !== null) return;
  const json = JSON.parse(readFileSync(join(tokenizersDir, "qwen2-plain", "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number>; merges: string[] };
  };
  vocab = json.model.vocab;
  ranks = new Map(json.model.merges.map((m, i) => [m, i]));
}

/** Textbook BPE of one pre-tokenised word: merge the lowest-ranked (leftmost) pair until none. */
export function referenceBpe(word: string): number[] {
  load();
  let syms = [...Buffer.from(word, "utf8")].map((b) => BYTE_TO_CHAR[b]!);
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = ranks!.get(syms[i] + " " + syms[i + 1]);
      if (r !== undefined && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) break;
    syms = [...syms.slice(0, at), syms[at]! + syms[at + 1]!, ...syms.slice(at + 2)];
  }
  return syms.map((t) => vocab![t]!);
}
