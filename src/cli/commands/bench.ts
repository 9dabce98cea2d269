/**
 * `qwen2 bench --model DIR|FILE.gguf --json`: measures one model the way bench/model.ts and
 * the llama.cpp child (bench/llama_cpp_child.ts) do, so anyone can compare engines:
 *
 * - load_ms: from the path to a model ready to run (weights on the backend, tokenizer read:
 *   llama.cpp's load reads its vocabulary from the GGUF too);
 * - prefill: one forward pass over `--prompt-tokens` new tokens in an empty cache;
 * - ttft_ms: that prefill plus picking the first token (greedy);
 * - decode: `--gen-tokens` greedy steps of one token each, after `--context` tokens of context
 *   (the prompt continued to that length; 0 = a fresh cache), timed after one untimed step;
 * - peak_rss_mb: the process's peak resident memory (VmHWM on Linux).
 *
 * Prompts are pseudo-random ordinary token ids (bench/prompt_ids.ts), the same for every
 * engine. One untimed 8-token warm-up pass runs first (it compiles the WebAssembly kernels);
 * the llama.cpp child warms up the same way. Prefill, TTFT and decode are measured
 * `--repeats` times (default 5), each from a fresh cache, and reported as the median with
 * the range ([min, max]); load time is measured once.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CliIO, Command } from "../command.js";
import { intFlag, parseFlags } from "../flags.js";
import { loadModelFor, MODEL_FLAGS, MODEL_FLAGS_USAGE, readModelFlags, type ModelFlags } from "../model_flags.js";
import { benchPromptIds, medianAndRange } from "../bench_prompts.js";
import { relaxedSimdAvailable } from "../../backends/wasm/features.js";
import { openGGUF } from "../../formats/gguf_qwen2.js";
import { localPathKind, openLocalFile } from "#platform";
import type { CausalLM } from "../../models/causal_lm.js";

const usage = `Usage: qwen2 bench --model DIR|FILE.gguf [options]

Measures load time, prefill and decode speed and peak memory of one model.

Options:
${MODEL_FLAGS_USAGE}
  --prompt-tokens N        prefill length (default 128)
  --gen-tokens N           decode steps (default 32)
  --context N              tokens already in the cache before decoding (default 0)
  --repeats N              measurements of prefill and decode, reported as median and range (default 5)
  --json                   print one JSON object instead of a table
`;

export interface BenchResult {
  readonly model: string;
  readonly backend: string;
  readonly dtype: string;
  readonly threads: number;
  readonly relaxed_simd_available: boolean;
  readonly prompt_tokens: number;
  readonly gen_tokens: number;
  readonly context: number;
  readonly load_ms: number;
  readonly repeats: number;
  /** Medians over the repeats; each `_range` is [min, max]. */
  readonly prefill_tps: number;
  readonly prefill_tps_range: readonly [number, number];
  readonly ttft_ms: number;
  readonly ttft_ms_range: readonly [number, number];
  readonly decode_tps: number;
  readonly decode_tps_range: readonly [number, number];
  readonly peak_rss_mb: number;
}

/** Peak resident set size of this process in MiB: the kernel's high-water mark where there is one. */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage.rss() / 2 ** 20;
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

async function dtypeOf(path: string): Promise<string> {
  if ((await localPathKind(path)) === "file") {
    const g = await openGGUF(await openLocalFile(path));
    g.close();
    return g.dtype;
  }
  try {
    const j = JSON.parse(readFileSync(join(path, "config.json"), "utf8")) as { torch_dtype?: string };
    return (
      ({ float32: "f32", float16: "f16", bfloat16: "bf16" } as Record<string, string>)[j.torch_dtype ?? ""] ?? j.torch_dtype ?? "unknown"
    );
  } catch {
    return "unknown";
  }
}

export interface BenchOptions {
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly context: number;
  readonly repeats: number;
}

/**
 * Runs the measurement in this process, loading the model the way every command does (the
 * tokenizer included: llama.cpp's load time includes its own).
 */
export async function benchModel(io: CliIO, flags: ModelFlags & { readonly threads: number }, o: BenchOptions): Promise<BenchResult> {
  const path = flags.path;
  const t0 = performance.now();
  const loaded = await loadModelFor(io, flags, { quiet: true });
  const loadMs = performance.now() - t0;
  const model: CausalLM = loaded.model;
  try {
    const vocab = model.vocabSize;
    // Warm-up: compiles kernels and touches every weight once, untimed.
    const warm = model.createCache(16);
    await model.forward([{ ids: benchPromptIds(8, 3, vocab), cache: warm }]);
    warm.dispose();

    const prefillTps: number[] = [];
    const ttfts: number[] = [];
    const decodeTps: number[] = [];
    for (let r = 0; r < o.repeats; r++) {
      // Prefill: `promptTokens` new tokens in an empty cache. With `context`, the cache is kept
      // and continued to `context` tokens before decoding (one long prefill, not two), as the
      // llama.cpp child does.
      const prompt = benchPromptIds(o.promptTokens, 1, vocab);
      const extra = o.context > 0 ? Math.max(1, o.context - o.promptTokens) : 0;
      const pcache = model.createCache(o.promptTokens + extra + o.genTokens + 2);
      const tp = performance.now();
      const [plogits] = await model.forward([{ ids: prompt, cache: pcache }]);
      const prefillMs = performance.now() - tp;
      argmax(plogits!);
      ttfts.push(performance.now() - tp);
      prefillTps.push((o.promptTokens / prefillMs) * 1000);

      let cache = pcache;
      let next: number;
      if (extra > 0) {
        const [fill] = await model.forward([{ ids: benchPromptIds(extra, 2, vocab), cache }]);
        next = argmax(fill!);
      } else {
        pcache.dispose();
        cache = model.createCache(o.genTokens + 2);
        next = benchPromptIds(1, 2, vocab)[0]!;
      }
      const one = new Int32Array(1);
      // One logits array reused every step, as generation does.
      const into = [new Float32Array(vocab)];
      let td = 0;
      // Step 0 is untimed, as the llama.cpp child leaves out its first generated token.
      for (let i = 0; i <= o.genTokens; i++) {
        if (i === 1) td = performance.now();
        one[0] = next;
        const [logits] = await model.forward([{ ids: one, cache }], { into });
        next = argmax(logits!);
      }
      decodeTps.push((o.genTokens / (performance.now() - td)) * 1000);
      cache.dispose();
    }
    const prefill = medianAndRange(prefillTps);
    const ttft = medianAndRange(ttfts);
    const decode = medianAndRange(decodeTps);
    const round = (x: number): number => Math.round(x * 100) / 100;
    return {
      model: path,
      backend: loaded.engine ?? loaded.backend,
      dtype: await dtypeOf(path),
      threads: flags.threads,
      relaxed_simd_available: relaxedSimdAvailable(),
      prompt_tokens: o.promptTokens,
      gen_tokens: o.genTokens,
      context: o.context,
      load_ms: round(loadMs),
      repeats: o.repeats,
      prefill_tps: prefill.median,
      prefill_tps_range: prefill.range,
      ttft_ms: ttft.median,
      ttft_ms_range: ttft.range,
      decode_tps: decode.median,
      decode_tps_range: decode.range,
      peak_rss_mb: round(peakRssMb()),
    };
  } finally {
    loaded.close();
  }
}

export async function runBench(args: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(args, {
    ...MODEL_FLAGS,
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
    context: { type: "string" },
    repeats: { type: "string" },
    json: { type: "boolean" },
  });
  const flags = readModelFlags(values);
  const options: BenchOptions = {
    promptTokens: intFlag(values, "prompt-tokens", { min: 1 }) ?? 128,
    genTokens: intFlag(values, "gen-tokens", { min: 1 }) ?? 32,
    context: intFlag(values, "context", { min: 0 }) ?? 0,
    repeats: intFlag(values, "repeats", { min: 1, max: 100 }) ?? 5,
  };
  const { availableParallelism } = await import("node:os");
  // The thread count is part of the result, so it is fixed here rather than left to the backend.
  const result = await benchModel(io, { ...flags, threads: flags.threads ?? availableParallelism() }, options);
  if (values.json) {
    io.stdout.write(JSON.stringify(result) + "\n");
  } else {
    const rows: Array<[string, string]> = [
      ["model", result.model],
      [
        "backend",
        `${result.backend} (${result.threads} thread${result.threads > 1 ? "s" : ""}${result.relaxed_simd_available ? ", relaxed SIMD available" : ""})`,
      ],
      ["dtype", result.dtype],
      ["load", `${result.load_ms} ms`],
      [
        `prefill ${result.prompt_tokens}`,
        `${result.prefill_tps} tok/s [${result.prefill_tps_range.join(", ")}] (TTFT ${result.ttft_ms} ms [${result.ttft_ms_range.join(", ")}])`,
      ],
      [`decode ${result.gen_tokens} @ ctx ${result.context}`, `${result.decode_tps} tok/s [${result.decode_tps_range.join(", ")}]`],
      ["repeats", `${result.repeats} (median [min, max])`],
      ["peak RSS", `${result.peak_rss_mb} MiB`],
    ];
    for (const [k, v] of rows) io.stdout.write(`${k.padEnd(22)} ${v}\n`);
  }
  return 0;
}

const command: Command = {
  summary: "measure load time, prefill/decode tokens per second and peak memory of a model",
  usage,
  run: (args, io) => runBench(args, io),
};
export default command;
