/**
 * Page code for test/browser/tokenizer.test.ts: tokenizes every conformance case in the page
 * with the embedded tokenizer (its data a chunk of its own, fetched on first use) and with a
 * tokenizer folder read over HTTP through Tokenizer.fromFiles, and returns the ids.
 */
import { Tokenizer, type TokenizerFiles } from "../../../src/tokenizer/tokenizer.js";

/** A tokenizer folder served over HTTP: a 404 is an absent file. */
function urlFolder(base: string): TokenizerFiles {
  return {
    location: base,
    async text(name: string): Promise<string | null> {
      const res = await fetch(new URL(name, base));
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status}`);
      return res.text();
    },
  };
}

interface Case {
  readonly id: string;
  readonly text?: string;
  readonly text_repeat?: [string, number][];
}

export interface TokenizerPageResult {
  /** Case ids, in file order (cases without text left out). */
  readonly ids: string[];
  readonly embedded: number[][];
  readonly folder: number[][];
  /** What the embedded tokenizer says of itself, to check it is the default one. */
  readonly embeddedVocabSize: number;
}

export async function encodeCases(job: { casesUrl: string; folderUrl: string }): Promise<TokenizerPageResult> {
  const res = await fetch(job.casesUrl);
  if (!res.ok) throw new Error(`${job.casesUrl}: HTTP ${res.status}`);
  const cases = (await res.text())
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as Case);
  const embedded = await Tokenizer.embedded();
  const folder = await Tokenizer.fromFiles(urlFolder(job.folderUrl));
  const out: { ids: string[]; embedded: number[][]; folder: number[][] } = { ids: [], embedded: [], folder: [] };
  for (const c of cases) {
    const text = c.text ?? c.text_repeat?.map(([unit, count]) => unit.repeat(count)).join("");
    if (text === undefined) continue;
    out.ids.push(c.id);
    out.embedded.push(embedded.encode(text));
    out.folder.push(folder.encode(text));
  }
  return { ...out, embeddedVocabSize: embedded.vocabSize };
}
