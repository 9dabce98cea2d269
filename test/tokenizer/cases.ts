/** Reading the conformance case files (format: ../shared/tokenizers/README.md). */
import { readFileSync } from "node:fs";

export interface TokenizerCase {
  readonly id: string;
  readonly category: string;
  readonly text?: string;
  readonly text_repeat?: [string, number][];
  readonly roundtrip?: boolean;
  readonly decode_ids?: number[];
  readonly [key: string]: unknown;
}

export function loadCases(file: string): TokenizerCase[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as TokenizerCase);
}

export function caseText(c: TokenizerCase): string | undefined {
  if (c.text !== undefined) return c.text;
  if (c.text_repeat !== undefined) return c.text_repeat.map(([unit, count]) => unit.repeat(count)).join("");
  return undefined;
}

/** An id list field, expanding its run-length form `<field>_rle`. */
export function idsField(c: TokenizerCase, field: string): number[] | undefined {
  const plain = c[field];
  if (Array.isArray(plain)) return plain as number[];
  const rle = c[`${field}_rle`];
  if (Array.isArray(rle)) {
    const out: number[] = [];
    for (const [id, count] of rle as [number, number][]) for (let i = 0; i < count; i++) out.push(id);
    return out;
  }
  return undefined;
}
