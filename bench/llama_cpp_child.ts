/**
 * Measures llama.cpp (through node-llama-cpp 3.21.1, CPU build) on one GGUF file the way
 * `qwen2 bench` measures us, and prints one JSON object. Run as a child process so that
 * load time and peak memory are its own.
 *
 *   node dist/bench/llama_cpp_child.js --model FILE.gguf --threads 2 --prompt-tokens 128 \
 *        --gen-tokens 16 [--context 1024]
 *
 * Prompts are pseudo-random ordinary token ids (no special tokens), identical to ours for
 * the same seed, so both engines do the same work.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadLlamaCpp, type LlamaSequence } from "./llama_cpp.js";
import { benchPromptIds } from "./prompt_ids.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "2" },
    "prompt-tokens": { type: "string", default: "128" },
    "gen-tokens": { type: "string", default: "16" },
    context: { type: "string", default: "0" },
  },
});
if (!values.model) throw new Error("--model FILE.gguf is required");
const threads = Number(values.threads);
const promptTokens = Number(values["prompt-tokens"]);
const genTokens = Number(values["gen-tokens"]);
const contextFill = Number(values.context);

let peakRss = process.memoryUsage.rss();
const sampleRss = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);

const llama = await loadLlamaCpp();
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
const loadMs = performance.now() - t0;
const contextSize = Math.max(promptTokens, contextFill) + genTokens + 16;
const context = await model.createContext({ contextSize, threads: { ideal: threads, min: threads }, batchSize: 512 });

async function prefill(ids: number[]): Promise<{ ms: number; seq: LlamaSequence }> {
  const seq = context.getSequence();
  const t = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(ids);
  return { ms: performance.now() - t, seq };
}

// Prefill: a fresh sequence evaluating `promptTokens` ids.
const prompt = benchPromptIds(promptTokens, 1);
const p = await prefill(prompt);
const prefillMs = p.ms;

// Decode: greedily generate `genTokens` tokens after `contextFill` tokens of context. The
// context continues the prompt (so a long context costs one long prefill, not two), as
// `qwen2 bench` does; with no context, a fresh sequence starts from one token.
let seq: LlamaSequence;
let last: number;
if (contextFill > 0) {
  seq = p.seq;
  const extra = benchPromptIds(Math.max(1, contextFill - promptTokens), 2);
  if (extra.length > 1) await seq.evaluateWithoutGeneratingNewTokens(extra.slice(0, -1));
  last = extra[extra.length - 1]!;
} else {
  p.seq.dispose();
  seq = context.getSequence();
  last = benchPromptIds(1, 2)[0]!;
}
let produced = 0;
let firstMs = 0;
const td = performance.now();
for await (const _token of seq.evaluate([last], { temperature: 0 })) {
  if (produced === 0) firstMs = performance.now() - td;
  produced++;
  if (produced >= genTokens + 1) break;
}
const decodeMs = performance.now() - td - firstMs;
clearInterval(sampleRss);
peakRss = Math.max(peakRss, process.memoryUsage.rss(), vmHwmBytes());
const out = {
  backend: "llama.cpp",
  threads,
  prompt_tokens: promptTokens,
  gen_tokens: produced - 1,
  context: contextFill,
  load_ms: round(loadMs),
  prefill_tps: round((promptTokens / prefillMs) * 1000),
  ttft_ms: round(prefillMs + firstMs),
  decode_tps: round(((produced - 1) / decodeMs) * 1000),
  peak_rss_mb: round(peakRss / 2 ** 20),
};
process.stdout.write(JSON.stringify(out) + "\n");
await context.dispose();
await model.dispose();
process.exit(0);

/** The kernel's peak-RSS mark (Linux), which sampling can miss; 0 elsewhere. */
function vmHwmBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
