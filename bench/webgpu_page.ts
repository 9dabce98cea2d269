/**
 * Page code for bench/webgpu.ts: a random model of a real Qwen2 shape, generated in the page
 * tensor by tensor and uploaded to the WebGPU backend (F16, or Q8_0/Q4_0 blocks quantised from
 * float32 values), then one prefill and a few greedy decode steps, timed and counted.
 */
import { WebGPUBackend } from "../src/backends/webgpu/index.js";
import { parseQwen2Config } from "../src/formats/config_parse.js";
import { type RandomPreset, randomPresetConfig } from "../src/formats/random_model.js";
import type { WeightSource } from "../src/formats/weights.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { RandomQwen2Weights } from "../src/models/random_qwen2.js";
import { QuantizedSource } from "../test/support/quantized_source.js";

export interface WebGPUBenchJob {
  readonly preset: RandomPreset;
  readonly dtype: "f16" | "q8_0" | "q4_0";
  readonly promptTokens: number;
  readonly genTokens: number;
  /** Keep only this many decoder layers (null: the shape's own count). */
  readonly layers: number | null;
}

export interface WebGPUBenchResult {
  readonly adapter: string;
  readonly matvecKernel: string;
  readonly layers: number;
  readonly modelBytes: number;
  readonly loadMs: number;
  readonly prefillMs: number;
  readonly prefillTps: number;
  readonly decodeMs: number;
  readonly decodeTps: number;
  readonly dispatchesPerToken: number;
  readonly submitsPerToken: number;
  /** Weight bytes read per decoded token ÷ weight bytes uploaded (1.0: every weight once). */
  readonly weightReadRatio: number;
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export async function runWebGPUBench(job: WebGPUBenchJob): Promise<WebGPUBenchResult> {
  const raw = randomPresetConfig(job.preset, "f16", 151936, 1);
  const config = parseQwen2Config(job.layers === null ? raw : { ...raw, num_hidden_layers: job.layers, max_window_layers: job.layers });
  const weights: WeightSource =
    job.dtype === "f16"
      ? new RandomQwen2Weights(config, 1, "f16")
      : new QuantizedSource(new RandomQwen2Weights(config, 1, "f32"), job.dtype);
  const backend = await WebGPUBackend.create();
  try {
    let t = performance.now();
    const model = await Qwen2ForCausalLM.load({ config, weights }, backend);
    const loadMs = performance.now() - t;
    const cache = model.createCache(job.promptTokens + job.genTokens + 1);
    // Warm-up on a cache of its own: compiles every pipeline the timed runs use.
    const warm = model.createCache(16);
    await model.forward([{ ids: Int32Array.from({ length: 9 }, (_, i) => i + 1), cache: warm }]);
    await model.forward([{ ids: Int32Array.of(1), cache: warm }]);
    warm.dispose();
    const prompt = Int32Array.from({ length: job.promptTokens }, (_, i) => (i * 7919 + 13) % config.vocab_size);
    t = performance.now();
    let [logits] = await model.forward([{ ids: prompt, cache }]);
    const prefillMs = performance.now() - t;
    const before = backend.counters;
    t = performance.now();
    for (let i = 0; i < job.genTokens; i++) [logits] = await model.forward([{ ids: Int32Array.of(argmax(logits!)), cache }]);
    const decodeMs = performance.now() - t;
    const after = backend.counters;
    cache.dispose();
    model.dispose();
    const n = job.genTokens;
    return {
      adapter: backend.adapterDescription,
      matvecKernel: backend.matvecKernel,
      layers: config.num_hidden_layers,
      modelBytes: backend.weightBytes,
      loadMs,
      prefillMs,
      prefillTps: (job.promptTokens / prefillMs) * 1000,
      decodeMs,
      decodeTps: (n / decodeMs) * 1000,
      dispatchesPerToken: (after.dispatches - before.dispatches) / n,
      submitsPerToken: (after.submits - before.submits) / n,
      weightReadRatio: (after.weightBytesRead - before.weightBytesRead) / n / backend.weightBytes,
    };
  } finally {
    backend.dispose();
  }
}
