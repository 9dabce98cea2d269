/**
 * Worker entry for the browser fixture test: fetches one fixture folder, loads it on the wasm
 * backend (its compute threads are Web Workers when the page is cross-origin isolated), and
 * runs every case as the Node fixture test does: prefill of the padded batch (last and, where
 * the case has them, all positions' logits), then greedy decoding. The test compares in Node.
 */
import { parentPort } from "#platform";
import { WasmBackend } from "../../../src/backends/wasm/index.js";
import { loadModelFolder } from "../../../src/formats/model_folder.js";
import { memoryFiles } from "../../../src/io/byte_source.js";
import { Qwen2ForCausalLM } from "../../../src/models/qwen2.js";
import { PaddedBatchRunner } from "../../../src/runtime/padded_batch.js";
import { type CaseInput, caseBatch, caseGeneration, greedy } from "../../support/fixture_cases.js";

export interface FixtureJob {
  /** URL of the fixture's model folder, ending in "/". */
  readonly folderUrl: string;
  /** The folder's file names. */
  readonly files: readonly string[];
  readonly cases: readonly CaseInput[];
  /** Names of the cases whose expected rows carry logits for every position. */
  readonly fullLogits: readonly string[];
  readonly threads: number;
}

export interface CaseResult {
  readonly name: string;
  /** Per row: the last real token's logits. */
  readonly last: number[][];
  /** Per row, for cases in `fullLogits`: every real position's logits. */
  readonly full: number[][][] | null;
  /** Per row: the greedy tokens (empty when the case asks for none). */
  readonly tokens: number[][];
}

export interface FixtureResult {
  readonly backend: string;
  readonly threads: number;
  readonly cases: CaseResult[];
}

async function run(job: FixtureJob): Promise<FixtureResult> {
  const bytes: Record<string, Uint8Array> = {};
  await Promise.all(
    job.files.map(async (name) => {
      const response = await fetch(job.folderUrl + name);
      if (!response.ok) throw new Error(`${job.folderUrl}${name}: HTTP ${response.status}`);
      bytes[name] = new Uint8Array(await response.arrayBuffer());
    }),
  );
  const folder = await loadModelFolder(memoryFiles(bytes, job.folderUrl));
  const backend = await WasmBackend.create({ threads: job.threads });
  try {
    const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend);
    folder.weights.close();
    const vocab = model.vocabSize;
    const cases: CaseResult[] = [];
    for (const c of job.cases) {
      const { eos, pad } = caseGeneration(c, folder.config, folder.generationConfig);
      const batch = caseBatch(c, pad);
      const realLens = batch.attentionMask.map((m) => m.filter((v) => v === 1).length);
      const wantFull = job.fullLogits.includes(c.name);
      const runner = new PaddedBatchRunner(model, batch, Math.max(...realLens) + c.max_new_tokens);
      try {
        const prefill = await runner.prefill({ allLogits: wantFull });
        const last = prefill.map((l, r) => (wantFull ? l.slice((realLens[r]! - 1) * vocab, realLens[r]! * vocab) : l));
        const full = wantFull
          ? prefill.map((l, r) => Array.from({ length: realLens[r]! }, (_, p) => Array.from(l.subarray(p * vocab, (p + 1) * vocab))))
          : null;
        const tokens = c.max_new_tokens === 0 ? last.map(() => []) : (await greedy(runner, last, c.max_new_tokens, eos, pad)).tokens;
        cases.push({ name: c.name, last: last.map((l) => Array.from(l)), full, tokens });
      } finally {
        runner.dispose();
      }
    }
    model.dispose();
    return { backend: backend.name, threads: backend.threads, cases };
  } finally {
    backend.dispose();
  }
}

const port = parentPort();
port.onMessage((job) => {
  run(job as FixtureJob).then(
    (result) => port.postMessage(result),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
  );
});
