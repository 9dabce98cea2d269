/**
 * `npm run bench:server`: aggregate decode throughput and time to first token of the
 * OpenAI-compatible server at 1, 4 and 16 concurrent streaming clients, beside llama.cpp
 * doing the same work through node-llama-cpp (one context with N sequences, which
 * llama.cpp decodes together in one batch: the engine of llama-server's continuous
 * batching, without its HTTP layer; llama-server itself is not on npm).
 *
 * Model: `--model DIR` (a Hugging Face folder), default a random-weight model made with
 * `qwen2 create-random --preset PRESET` (default "tiny": the real 151k vocabulary with tiny
 * layers, so the figures measure serving overhead, batching and the LM head rather than
 * big matrix products). The same weights go to llama.cpp as an F32 GGUF written by our
 * exporter. Every client sends its own prompt (no prefix reuse), greedy, `ignore_eos`,
 * `max_tokens` fixed, so both engines do the same work.
 *
 * Options: --model DIR | --preset NAME, --tokens N (default 32), --levels 1,4,16,
 * --backend wasm|reference (default wasm), --skip-llama, --work DIR. Results:
 * bench/results/server.{json,md}.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PassThrough } from "node:stream";
import { ReferenceBackend } from "../src/backends/reference/index.js";
import { UnsupportedError } from "../src/errors.js";
import { writeQwen2GGUF } from "../src/node/gguf_writer.js";
import { loadTokenizer } from "../src/node/tokenizer.js";
import { readTokenizerFolder } from "../src/tokenizer/folder.js";
import { loadModelFolder } from "../src/formats/model_folder.js";
import { collectEosIds } from "../src/generation/stopping.js";
import type { CausalLM } from "../src/models/causal_lm.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { main } from "../src/cli/main.js";
import { fromPretrained, type BackendName } from "../src/runtime/load.js";
import { createServer } from "../src/server/server.js";
import type { TextTokenizer } from "../src/tokenizer/types.js";
import { type Llama, type LlamaSequence, loadLlamaCpp } from "./llama_cpp.js";
import { localFolder } from "../src/platform/node_files.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    model: { type: "string" },
    preset: { type: "string", default: "tiny" },
    tokens: { type: "string", default: "32" },
    levels: { type: "string", default: "1,4,16" },
    backend: { type: "string", default: "wasm" },
    "skip-llama": { type: "boolean", default: false },
    work: { type: "string", default: join(repo, ".models/bench-server") },
  },
});
const genTokens = Number(values.tokens);
const levels = values.levels!.split(",").map(Number);
const log = (m: string): void => void process.stderr.write(`[bench:server] ${m}\n`);

interface Loaded {
  model: CausalLM;
  tokenizer: TextTokenizer;
  eosIds: readonly number[];
  close(): void;
}

async function loadOurs(dir: string): Promise<Loaded> {
  try {
    const m = await fromPretrained(dir, { backend: values.backend as BackendName });
    return { model: m.model, tokenizer: m.tokenizer, eosIds: m.eosIds, close: () => m.close() };
  } catch (err) {
    if (!(err instanceof UnsupportedError) || values.backend !== "reference") throw err;
  }
  // fromPretrained not wired yet in this build: the same pieces by hand.
  const folder = await loadModelFolder(localFolder(dir));
  const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, new ReferenceBackend());
  const tokenizer = await loadTokenizer(dir);
  return {
    model,
    tokenizer,
    eosIds: collectEosIds({ generationConfig: folder.generationConfig, config: folder.config, tokenizer }),
    close: () => model.dispose(),
  };
}

function prompt(i: number): string {
  return `Request ${i}: write a short story about a lighthouse keeper and the sea.`;
}

interface LevelResult {
  clients: number;
  completion_tokens: number;
  wall_s: number;
  aggregate_tps: number;
  ttft_ms_mean: number;
  ttft_ms_max: number;
}

function summarise(clients: number, tokens: number, wallMs: number, ttfts: number[]): LevelResult {
  const r = (x: number): number => Math.round(x * 100) / 100;
  return {
    clients,
    completion_tokens: tokens,
    wall_s: r(wallMs / 1000),
    aggregate_tps: r((tokens * 1000) / wallMs),
    ttft_ms_mean: r(ttfts.reduce((a, b) => a + b, 0) / ttfts.length),
    ttft_ms_max: r(Math.max(...ttfts)),
  };
}

/** One streaming client over HTTP: time to the first content delta, tokens from usage. */
async function client(url: string, i: number): Promise<{ ttft: number; tokens: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      messages: [{ role: "user", content: prompt(i) }],
      max_tokens: genTokens,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = -1;
  let tokens = 0;
  let buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, at).replace(/^data: /, "");
      buf = buf.slice(at + 2);
      if (line === "[DONE]") continue;
      const ev = JSON.parse(line) as { choices: { delta: { content?: string } }[]; usage?: { completion_tokens: number } | null };
      if (ttft < 0 && ev.choices.some((c) => c.delta.content)) ttft = performance.now() - t0;
      if (ev.usage) tokens = ev.usage.completion_tokens;
    }
  }
  return { ttft: ttft < 0 ? performance.now() - t0 : ttft, tokens };
}

async function benchOurs(dir: string): Promise<LevelResult[]> {
  const loaded = await loadOurs(dir);
  const out: LevelResult[] = [];
  for (const n of levels) {
    const server = createServer({
      model: loaded.model,
      tokenizer: loaded.tokenizer,
      eosIds: loaded.eosIds,
      modelId: "bench",
      parallel: n,
      contextLength: 512,
      prefixCacheEntries: 0,
    });
    const url = await server.listen(0);
    await client(url, -1); // warm-up (lazy state, JIT)
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => client(url, i)));
    const wall = performance.now() - t0;
    const res = summarise(
      n,
      rs.reduce((s, r) => s + r.tokens, 0),
      wall,
      rs.map((r) => r.ttft),
    );
    log(`ours ${n} clients: ${res.aggregate_tps} tok/s, TTFT mean ${res.ttft_ms_mean} ms (max batch ${server.stats().maxBatch})`);
    out.push(res);
    await server.close();
  }
  loaded.close();
  return out;
}

async function benchLlama(dir: string, tokenizer: TextTokenizer): Promise<LevelResult[] | string> {
  const gguf = join(values.work!, "model.f32.gguf");
  const folder = await loadModelFolder(localFolder(dir));
  await writeQwen2GGUF(gguf, {
    config: folder.config,
    weights: folder.weights,
    tokenizer: await readTokenizerFolder(localFolder(dir)),
    type: "f32",
    name: "bench",
  });
  let llama: Llama;
  try {
    llama = await loadLlamaCpp();
  } catch (err) {
    return `node-llama-cpp unavailable: ${(err as Error).message}`;
  }
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const out: LevelResult[] = [];
  for (const n of levels) {
    const context = await model.createContext({ sequences: n, contextSize: n * 512, batchSize: 512, threads: { ideal: 2, min: 1 } });
    const prompts = Array.from({ length: n + 1 }, (_, i) =>
      tokenizer.encode(tokenizer.applyChatTemplate([{ role: "user", content: prompt(i - 1) }], { addGenerationPrompt: true }), {
        addSpecialTokens: false,
      }),
    );
    const run = async (ids: number[], seq: LlamaSequence): Promise<{ ttft: number; tokens: number }> => {
      const t0 = performance.now();
      let ttft = -1;
      let tokens = 0;
      for await (const _t of seq.evaluate(ids, { temperature: 0 })) {
        if (ttft < 0) ttft = performance.now() - t0;
        if (++tokens >= genTokens) break;
      }
      return { ttft, tokens };
    };
    const warm = context.getSequence();
    await run(prompts[0]!, warm);
    warm.dispose();
    const seqs = Array.from({ length: n }, () => context.getSequence());
    const t0 = performance.now();
    const rs = await Promise.all(seqs.map((s, i) => run(prompts[i + 1]!, s)));
    const wall = performance.now() - t0;
    const res = summarise(
      n,
      rs.reduce((s, r) => s + r.tokens, 0),
      wall,
      rs.map((r) => r.ttft),
    );
    log(`llama.cpp ${n} sequences: ${res.aggregate_tps} tok/s, TTFT mean ${res.ttft_ms_mean} ms`);
    out.push(res);
    for (const s of seqs) s.dispose();
    await context.dispose();
  }
  await model.dispose();
  await llama.dispose();
  return out;
}

mkdirSync(values.work!, { recursive: true });
let dir = values.model ? resolve(values.model) : join(values.work!, `random-${values.preset}`);
if (!values.model && !existsSync(join(dir, "config.json"))) {
  log(`creating a random ${values.preset} model in ${dir}`);
  const quiet = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: process.stderr };
  if ((await main(["create-random", "--preset", values.preset!, "--out", dir, "--seed", "1"], quiet)) !== 0)
    throw new Error("create-random failed");
}
dir = resolve(dir);
const ours = await benchOurs(dir);
const llama = values["skip-llama"]
  ? "skipped (--skip-llama)"
  : await benchLlama(dir, await loadTokenizer(dir)).catch((err: Error) => `failed: ${err.message}`);

const machine = {
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "?",
  mem_gb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  loadavg_1m: loadavg()[0] ?? 0,
  date: new Date().toISOString(),
};
const resultsDir = join(repo, "bench/results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, "server.json"),
  JSON.stringify(
    {
      machine,
      model: values.model ?? `create-random --preset ${values.preset}`,
      backend: values.backend,
      gen_tokens: genTokens,
      ours,
      llama_cpp: llama,
    },
    null,
    2,
  ) + "\n",
);
const rows = ours.map((o) => {
  const l = Array.isArray(llama) ? llama.find((x) => x.clients === o.clients) : undefined;
  const ratio = l ? ` ${(o.aggregate_tps / l.aggregate_tps).toFixed(2)}x |` : " - |";
  return `| ${o.clients} | ${o.aggregate_tps} | ${o.ttft_ms_mean} (max ${o.ttft_ms_max}) | ${l ? l.aggregate_tps : "-"} | ${l ? `${l.ttft_ms_mean} (max ${l.ttft_ms_max})` : "-"} |${ratio}`;
});
const md = [
  "# Server benchmark (`npm run bench:server`)",
  "",
  `Model: ${values.model ?? `random weights, \`qwen2 create-random --preset ${values.preset}\``}; our backend: ${values.backend}; ${genTokens} tokens per client (greedy, ignore_eos), distinct prompts.`,
  `Machine: ${machine.cpus} × ${machine.cpu}, Node ${machine.node}, ${machine.date}, load average ${machine.loadavg_1m.toFixed(2)} at the start (other jobs share the cores: figures are noisy).`,
  "",
  "Ours: streaming HTTP clients against the server in the same process (continuous batching, `--parallel` = clients). llama.cpp: node-llama-cpp, one context with N sequences evaluated concurrently (batched by llama.cpp), no HTTP.",
  "",
  "| clients | ours tok/s | ours TTFT ms | llama.cpp tok/s | llama.cpp TTFT ms | ours / llama.cpp |",
  "|---|---|---|---|---|---|",
  ...rows,
  "",
  Array.isArray(llama) ? "" : `llama.cpp: ${llama}`,
];
writeFileSync(join(resultsDir, "server.md"), md.join("\n") + "\n");
process.stdout.write(md.join("\n") + "\n");
