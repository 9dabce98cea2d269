/**
 * Worker entry for the browser fixture test: fetches one fixture folder, loads it on the wasm
 * backend (its compute threads are Web Workers when the page is cross-origin isolated), and
 * runs every case as the Node fixture test does (fixture_run.ts). The test compares in Node.
 */
import { parentPort } from "#platform";
import { WasmBackend } from "../../../src/backends/wasm/index.js";
import { Qwen2ForCausalLM } from "../../../src/models/qwen2.js";
import { type FixtureJob, type FixtureResult, fetchFixtureFolder, runFixtureCases } from "./fixture_run.js";

export type { CaseResult, FixtureJob, FixtureResult } from "./fixture_run.js";

async function run(job: FixtureJob): Promise<FixtureResult> {
  const folder = await fetchFixtureFolder(job);
  const backend = await WasmBackend.create({ threads: job.threads });
  try {
    const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend);
    folder.weights.close();
    const cases = await runFixtureCases(model, folder, job);
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
