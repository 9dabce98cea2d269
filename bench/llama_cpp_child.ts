/**
 * Measures llama.cpp (through node-llama-cpp 3.21.1, CPU build) on one GGUF file the way
 * `qwen2 bench` measures us (see src/cli/commands/bench.ts), and prints one JSON object. Run
 * as a child process so that load time and peak memory are its own.
 *
 *   node dist/bench/llama_cpp_child.js --model FILE.gguf --threads 2 --prompt-tokens 128 \
 *        --gen-tokens 16 [--context 1024] [--repeats 5]
 *
 * The same work as ours: the same prompt ids (pseudo-random ordinary tokens, no special ones),
 * one untimed 8-token warm-up, then per repeat a prefill of the prompt in a fresh sequence,
 * a time to first token (a fresh sequence evaluating the prompt until its first greedy token:
 * prefill plus picking that token, as ours is timed), and greedy decoding whose first step is
 * untimed. Medians and [min, max] over the repeats; load time once.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadLlamaCpp, type LlamaSequence } from "./llama_cpp.js";
import { medianAndRange } from "../src/cli/bench_prompts.js";
import { benchPromptIds } from "./prompt_ids.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "2" },
    "prompt-tokens": { type: "string", default: "128" },
    "gen-tokens": { type: "string", default: "16" },
    context: { type: "string", default: "0" },
    repeats: { type: "string", default: "5" },
  },
});
if (!values.model) throw new Error("--model FILE.gguf is required");
const threads = Number(values.threads);
const promptTokens = Number(values["prompt-tokens"]);
const genTokens = Number(values["gen-tokens"]);
const contextFill = Number(values.context);
const repeats = Number(values.repeats);

let peakRss = process.memoryUsage.rss();
const sampleRss = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);

const llama = await loadLlamaCpp();
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
const loadMs = performance.now() - t0;
const contextSize = Math.max(promptTokens, contextFill) + genTokens + 16;
const context = await model.createContext({ contextSize, threads: { ideal: threads, min: threads }, batchSize: 512 });

// Warm-up, untimed, as ours: 8 tokens through a sequence that is then dropped.
{
  const warm = context.getSequence();
  await warm.evaluateWithoutGeneratingNewTokens(benchPromptIds(8, 3));
  warm.dispose();
}

const prompt = benchPromptIds(promptTokens, 1);
const prefillTps: number[] = [];
const ttfts: number[] = [];
const decodeTps: number[] = [];
for (let r = 0; r < repeats; r++) {
  // Time to first token: the prompt evaluated and the first greedy token picked.
  {
    const seq = context.getSequence();
    const t = performance.now();
    for await (const _token of seq.evaluate(prompt, { temperature: 0 })) break;
    ttfts.push(performance.now() - t);
    seq.dispose();
  }
  // Prefill: a fresh sequence evaluating the prompt.
  const seqP = context.getSequence();
  const tp = performance.now();
  await seqP.evaluateWithoutGeneratingNewTokens(prompt);
  prefillTps.push((promptTokens / (performance.now() - tp)) * 1000);

  // Decode: greedily generate `genTokens` tokens after `contextFill` tokens of context. The
  // context continues the prompt (so a long context costs one long prefill, not two), as
  // `qwen2 bench` does; with no context, a fresh sequence starts from one token.
  let seq: LlamaSequence;
  let last: number;
  if (contextFill > 0) {
    seq = seqP;
    const extra = benchPromptIds(Math.max(1, contextFill - promptTokens), 2);
    if (extra.length > 1) await seq.evaluateWithoutGeneratingNewTokens(extra.slice(0, -1));
    last = extra[extra.length - 1]!;
  } else {
    seqP.dispose();
    seq = context.getSequence();
    last = benchPromptIds(1, 2)[0]!;
  }
  let produced = 0;
  let td = 0;
  for await (const _token of seq.evaluate([last], { temperature: 0 })) {
    // The first generated token is untimed (ours leaves out its first step the same way).
    if (produced === 0) td = performance.now();
    produced++;
    if (produced >= genTokens + 1) break;
  }
  decodeTps.push(((produced - 1) / (performance.now() - td)) * 1000);
  seq.dispose();
}
clearInterval(sampleRss);
peakRss = Math.max(peakRss, process.memoryUsage.rss(), vmHwmBytes());
const prefill = medianAndRange(prefillTps);
const ttft = medianAndRange(ttfts);
const decode = medianAndRange(decodeTps);
const out = {
  backend: "llama.cpp",
  threads,
  prompt_tokens: promptTokens,
  gen_tokens: genTokens,
  context: contextFill,
  load_ms: round(loadMs),
  repeats,
  prefill_tps: prefill.median,
  prefill_tps_range: prefill.range,
  ttft_ms: ttft.median,
  ttft_ms_range: ttft.range,
  decode_tps: decode.median,
  decode_tps_range: decode.range,
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
