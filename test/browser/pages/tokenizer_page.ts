/**
 * Page code for test/browser/tokenizer.test.ts: tokenizes every conformance case in the page
 * with the embedded tokenizer (its data a chunk of its own, fetched on first use) and with a
 * tokenizer folder read over HTTP (io's urlFiles, as model loading reads it) through
 * Tokenizer.fromFiles, and returns the ids.
 */
import { urlFiles } from "../../../src/io/url_files.js";
import { Tokenizer } from "../../../src/tokenizer/tokenizer.js";

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
  const folder = await Tokenizer.fromFiles(urlFiles(job.folderUrl));
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
