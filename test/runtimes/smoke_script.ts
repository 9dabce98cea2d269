/**
 * Run by Deno and Bun (see deno_bun.test.ts), not by Node's test runner: imports the universal
 * entry, tokenizes with the embedded tokenizer, loads a fixture model and decodes greedily on
 * each backend. Input: one JSON argument (SmokeInput); output: one JSON line (SmokeOutput).
 */
import { fromPretrained, generate, Tokenizer } from "../../src/index.js";

export interface SmokeInput {
  text: string;
  /** file: URL of a Hugging Face-layout model folder. */
  model: string;
  ids: number[];
  maxNewTokens: number;
}
export interface SmokeOutput {
  encoded: number[];
  greedy: { wasm: number[]; reference: number[] };
}

const input = JSON.parse(process.argv[2] ?? "") as SmokeInput;
const encoded = (await Tokenizer.embedded()).encode(input.text);
const greedy: SmokeOutput["greedy"] = { wasm: [], reference: [] };
for (const backend of ["wasm", "reference"] as const) {
  const m = await fromPretrained(input.model, { backend, threads: 2 });
  try {
    const r = await generate(m.model, m.tokenizer, { ids: input.ids }, { maxNewTokens: input.maxNewTokens, temperature: 0, eosIds: [] });
    greedy[backend] = r.ids;
  } finally {
    m.close();
  }
}
const output: SmokeOutput = { encoded, greedy };
console.log(JSON.stringify(output));
