/**
 * `qwen2 bench --model DIR|FILE.gguf --json`: measures one model the way bench/model.ts and
 * the llama.cpp child (bench/llama_cpp_child.ts) do, so anyone can compare engines:
 *
 * - load_ms: from the path to a model ready to run (weights on the backend, tokenizer read);
 * - prefill: one forward pass over `--prompt-tokens` new tokens in an empty cache;
 * - ttft_ms: that prefill plus picking the first token (greedy);
 * - decode: `--gen-tokens` greedy steps of one token each, after `--context` tokens of context
 *   (the prompt continued to that length; 0 = a fresh cache);
 * - peak_rss_mb: the process's peak resident memory (VmHWM on Linux).
 *
 * Prompts are pseudo-random ordinary token ids (bench/prompt_ids.ts), the same for every
 * engine. One short untimed warm-up pass runs first (it compiles the WebAssembly kernels).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { UsageError, type CliIO, type Command } from "../command.js";
import type { Backend } from "../../backends/ops.js";
import { isGGUFFile } from "../../formats/gguf.js";
import { openGGUF } from "../../formats/gguf_qwen2.js";
import { loadModelFolder } from "../../formats/model_folder.js";
import type { CausalLM } from "../../models/causal_lm.js";
import { Qwen2ForCausalLM } from "../../models/qwen2.js";
import { benchPromptIds } from "../bench_prompts.js";

export type BenchBackend = "reference" | "wasm";
const BACKENDS: readonly BenchBackend[] = ["wasm", "reference"];

const usage = `Usage: qwen2 bench --model DIR|FILE.gguf [options]

Measures load time, prefill and decode speed and peak memory of one model.

Options:
  --model PATH          Hugging Face model folder or .gguf file
  --backend NAME        ${BACKENDS.join(" | ")} (default wasm)
  --threads N           compute threads (default: all cores)
  --prompt-tokens N     prefill length (default 128)
  --gen-tokens N        decode steps (default 32)
  --context N           tokens already in the cache before decoding (default 0)
  --json                print one JSON object instead of a table
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
  readonly prefill_tps: number;
  readonly ttft_ms: number;
  readonly decode_tps: number;
  readonly peak_rss_mb: number;
}

/** A model ready to run, with the name of the backend that runs it (e.g. "wasm-relaxed"). */
export interface BenchModel {
  readonly model: CausalLM;
  readonly backend: string;
  close(): void;
}
export type BenchLoader = (path: string, options: { backend: BenchBackend; threads: number }) => Promise<BenchModel>;

/**
 * The model at `path` (a .gguf file or a Hugging Face folder) on a fresh backend. Tokenizers
 * are not loaded: speed does not depend on them.
 */
export async function loadForBench(path: string, options: { backend: BenchBackend; threads: number }): Promise<BenchModel> {
  const source = isGGUFFile(path) ? openGGUF(path) : loadModelFolder(path);
  let backend: Backend | null = null;
  try {
    if (options.backend === "wasm") {
      // Sized for the weights: one memory, or layers split across several past 4 GiB.
      const bytes = source.weights.names().reduce((n, name) => n + source.weights.info(name).byteLength, 0);
      backend = await (await import("../../backends/wasm/sharded.js")).createWasmBackend(bytes, { threads: options.threads });
    } else {
      backend = new (await import("../../backends/reference/index.js")).ReferenceBackend();
    }
    const model = Qwen2ForCausalLM.load({ config: source.config, weights: source.weights }, backend);
    const b = backend;
    return {
      model,
      backend: b.name,
      close: () => {
        model.dispose();
        b.dispose();
      },
    };
  } catch (err) {
    backend?.dispose();
    throw err;
  } finally {
    source.weights.close();
  }
}

function count(flag: string, v: string | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} expects an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
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

/** Whether this engine accepts relaxed SIMD (f32x4.relaxed_madd); Node 20 needs --experimental-wasm-relaxed-simd. */
export function relaxedSimdAvailable(): boolean {
  const v128 = (): number[] => [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...v128(), ...v128(), ...v128(), 0xfd, 0x85, 0x02, 0x0b];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // type: () -> v128
    ...[0x03, 0x02, 0x01, 0x00], // one function of that type
    ...[0x0a, body.length + 2, 0x01, body.length, ...body],
  ];
  // (typed through globalThis: the project's lib settings carry no WebAssembly declarations)
  const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
  return wasm.validate(new Uint8Array(bytes));
}


function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function dtypeOf(path: string): string {
  if (isGGUFFile(path)) {
    const g = openGGUF(path);
    g.close();
    return g.dtype;
  }
  try {
    const j = JSON.parse(readFileSync(join(path, "config.json"), "utf8")) as { torch_dtype?: string };
    return ({ float32: "f32", float16: "f16", bfloat16: "bf16" } as Record<string, string>)[j.torch_dtype ?? ""] ?? j.torch_dtype ?? "unknown";
  } catch {
    return "unknown";
  }
}

export interface BenchOptions {
  readonly backend: BenchBackend;
  readonly threads: number;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly context: number;
}

/** Runs the measurement in this process. */
export async function benchModel(path: string, o: BenchOptions, load: BenchLoader = loadForBench): Promise<BenchResult> {
  const t0 = performance.now();
  const loaded = await load(path, { backend: o.backend, threads: o.threads });
  const loadMs = performance.now() - t0;
  const model: CausalLM = loaded.model;
  try {
    const vocab = model.vocabSize;
    // Warm-up: compiles kernels and touches every weight once, untimed.
    const warm = model.createCache(16);
    model.forward([{ ids: benchPromptIds(8, 3, vocab), cache: warm }]);
    warm.dispose();

    // Prefill: `promptTokens` new tokens in an empty cache. With `context`, the cache is kept
    // and continued to `context` tokens before decoding (one long prefill, not two), as the
    // llama.cpp child does.
    const prompt = benchPromptIds(o.promptTokens, 1, vocab);
    const extra = o.context > 0 ? Math.max(1, o.context - o.promptTokens) : 0;
    const pcache = model.createCache(o.promptTokens + extra + o.genTokens + 1);
    const tp = performance.now();
    const [plogits] = model.forward([{ ids: prompt, cache: pcache }]);
    const prefillMs = performance.now() - tp;
    argmax(plogits!);
    const ttftMs = performance.now() - tp;

    let cache = pcache;
    let next: number;
    if (extra > 0) {
      const [fill] = model.forward([{ ids: benchPromptIds(extra, 2, vocab), cache }]);
      next = argmax(fill!);
    } else {
      pcache.dispose();
      cache = model.createCache(o.genTokens + 1);
      next = benchPromptIds(1, 2, vocab)[0]!;
    }
    const one = new Int32Array(1);
    // One logits array reused every step, as generation does.
    const into = [new Float32Array(vocab)];
    const td = performance.now();
    for (let i = 0; i < o.genTokens; i++) {
      one[0] = next;
      const [logits] = model.forward([{ ids: one, cache }], { into });
      next = argmax(logits!);
    }
    const decodeMs = performance.now() - td;
    cache.dispose();
    const round = (x: number): number => Math.round(x * 100) / 100;
    return {
      model: path,
      backend: loaded.backend,
      dtype: dtypeOf(path),
      threads: o.threads,
      relaxed_simd_available: relaxedSimdAvailable(),
      prompt_tokens: o.promptTokens,
      gen_tokens: o.genTokens,
      context: o.context,
      load_ms: round(loadMs),
      prefill_tps: round((o.promptTokens / prefillMs) * 1000),
      ttft_ms: round(ttftMs),
      decode_tps: round((o.genTokens / decodeMs) * 1000),
      peak_rss_mb: round(peakRssMb()),
    };
  } finally {
    loaded.close();
  }
}

export async function runBench(args: string[], io: CliIO, load: BenchLoader = loadForBench): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        model: { type: "string" },
        backend: { type: "string" },
        threads: { type: "string" },
        "prompt-tokens": { type: "string" },
        "gen-tokens": { type: "string" },
        context: { type: "string" },
        json: { type: "boolean" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!values.model) throw new UsageError("--model DIR|FILE.gguf is required");
  const backend = (values.backend ?? "wasm") as BenchBackend;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got ${JSON.stringify(values.backend)}`);
  const { availableParallelism } = await import("node:os");
  const result = await benchModel(
    values.model,
    {
      backend,
      threads: count("threads", values.threads, availableParallelism(), 1),
      promptTokens: count("prompt-tokens", values["prompt-tokens"], 128, 1),
      genTokens: count("gen-tokens", values["gen-tokens"], 32, 1),
      context: count("context", values.context, 0, 0),
    },
    load,
  );
  if (values.json) {
    io.stdout.write(JSON.stringify(result) + "\n");
  } else {
    const rows: Array<[string, string]> = [
      ["model", result.model],
      ["backend", `${result.backend} (${result.threads} thread${result.threads > 1 ? "s" : ""}${result.relaxed_simd_available ? ", relaxed SIMD available" : ""})`],
      ["dtype", result.dtype],
      ["load", `${result.load_ms} ms`],
      [`prefill ${result.prompt_tokens}`, `${result.prefill_tps} tok/s (TTFT ${result.ttft_ms} ms)`],
      [`decode ${result.gen_tokens} @ ctx ${result.context}`, `${result.decode_tps} tok/s`],
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
