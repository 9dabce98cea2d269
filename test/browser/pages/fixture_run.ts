/**
 * What the browser fixture pages share, whatever the backend: a fixture's model folder fetched
 * by URL, and its cases run as the Node fixture test runs them: prefill of the padded batch
 * (last and, where the case has them, all positions' logits), then greedy decoding. The wasm
 * worker (fixture_worker.ts) and the WebGPU page (webgpu_model_page.ts) differ only in the
 * backend they load the model on; the test compares the results in Node.
 */
import { loadModelFolder, type ModelFolder } from "../../../src/formats/model_folder.js";
import { memoryFiles } from "../../../src/io/byte_source.js";
import type { Qwen2ForCausalLM } from "../../../src/models/qwen2.js";
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

/** The job's folder, every file fetched whole, parsed (an HTTP error names the file's URL). */
export async function fetchFixtureFolder(job: FixtureJob): Promise<ModelFolder> {
  const bytes: Record<string, Uint8Array> = {};
  await Promise.all(
    job.files.map(async (name) => {
      const response = await fetch(job.folderUrl + name);
      if (!response.ok) throw new Error(`${job.folderUrl}${name}: HTTP ${response.status}`);
      bytes[name] = new Uint8Array(await response.arrayBuffer());
    }),
  );
  return loadModelFolder(memoryFiles(bytes, job.folderUrl));
}

/** Every case of the job on `model` (loaded from `folder`), in order. */
export async function runFixtureCases(model: Qwen2ForCausalLM, folder: ModelFolder, job: FixtureJob): Promise<CaseResult[]> {
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
  return cases;
}
