/**
 * Page code for test/browser/webgpu_fixtures.test.ts: whole models on the WebGPU backend in
 * the page's main thread. `runFixture` runs a fixture's cases as the wasm fixture worker does
 * (fixture_run.ts); `runQuantized` runs a random model with Q8_0 / Q4_0 matrices on WebGPU
 * and, on the reference backend, the float32 values those blocks decode to. One backend serves every model of the page, so its pipelines compile once.
 */
import { ReferenceBackend } from "../../../src/backends/reference/index.js";
import type { Backend } from "../../../src/backends/ops.js";
import { WebGPUBackend } from "../../../src/backends/webgpu/index.js";
import { Qwen2ForCausalLM } from "../../../src/models/qwen2.js";
import { RandomQwen2Weights } from "../../../src/models/random_qwen2.js";
import { fromPretrained } from "../../../src/runtime/load.js";
import { QuantizedSource } from "../../support/quantized_source.js";
import { tinyConfig } from "../../models/tiny_model.js";
import { type FixtureJob, type FixtureResult, fetchFixtureFolder, runFixtureCases } from "./fixture_run.js";

let shared: Promise<WebGPUBackend> | null = null;
function backend(): Promise<WebGPUBackend> {
  shared ??= WebGPUBackend.create();
  return shared;
}

export async function runFixture(job: FixtureJob): Promise<FixtureResult> {
  const folder = await fetchFixtureFolder(job);
  const be = await backend();
  const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, be);
  folder.weights.close();
  try {
    return { backend: be.name, threads: 1, cases: await runFixtureCases(model, folder, job) };
  } finally {
    model.dispose();
  }
}

export interface QuantizedResult {
  readonly dtype: string;
  /** Largest |logit difference| over every position and step. */
  readonly diff: number;
  /** Greedy tokens (argmax of each step) on each backend. */
  readonly gpuTokens: number[];
  readonly refTokens: number[];
}

/** Prefill 6 tokens (all logits), then 3 decode steps: both matrix kernels, on Q8_0 and Q4_0 matrices. */
export async function runQuantized(): Promise<QuantizedResult[]> {
  const config = tinyConfig(128);
  const base = new RandomQwen2Weights(config, 11, "f32", 0.2);
  const seq = Int32Array.from({ length: 9 }, (_, i) => (i * 37 + 5) % 128);
  const results: QuantizedResult[] = [];
  const gpu = await backend();
  for (const dtype of ["q8_0", "q4_0"] as const) {
    const run = async (b: Backend, asFloat: boolean): Promise<Float32Array[]> => {
      const m = await Qwen2ForCausalLM.load({ config, weights: new QuantizedSource(base, dtype, asFloat) }, b);
      try {
        const cache = m.createCache(seq.length);
        const out = [(await m.forward([{ ids: seq.subarray(0, 6), cache }], { allLogits: true }))[0]!];
        for (let i = 6; i < seq.length; i++) out.push((await m.forward([{ ids: seq.subarray(i, i + 1), cache }]))[0]!);
        cache.dispose();
        return out;
      } finally {
        m.dispose();
      }
    };
    const want = await run(new ReferenceBackend(), true);
    const got = await run(gpu, false);
    let diff = 0;
    want.forEach((w, s) => w.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - got[s]![i]!)))));
    const argmaxLast = (l: Float32Array) => {
      const row = l.subarray(l.length - 128);
      return row.indexOf(Math.max(...row));
    };
    results.push({ dtype, diff, gpuTokens: got.map(argmaxLast), refTokens: want.map(argmaxLast) });
  }
  return results;
}

export interface LoadedRun {
  readonly backend: string;
  readonly reason: string | null;
  readonly engine: string | null;
  /** The last position's logits for `ids`. */
  readonly logits: number[];
}

/** fromPretrained(folderUrl, { backend: "auto" }), then one forward pass over `ids`. */
export async function loadAuto(folderUrl: string, ids: number[]): Promise<LoadedRun> {
  const m = await fromPretrained(folderUrl, { backend: "auto" });
  try {
    const cache = m.model.createCache(ids.length);
    const [logits] = await m.model.forward([{ ids: Int32Array.from(ids), cache }]);
    cache.dispose();
    return { backend: m.backend, reason: m.backendReason ?? null, engine: m.engine ?? null, logits: Array.from(logits!) };
  } finally {
    m.close();
  }
}
