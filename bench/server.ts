/**
 * `npm run bench:server`: aggregate decode throughput and time to first token of continuous
 * batching at 1, 4, 8 and 16 concurrent sequences, ours beside llama.cpp doing the same work.
 *
 * Equal work: both engines run the SAME GGUF file (default: random weights of the real
 * Qwen2-0.5B shape, `qwen2 create-random --preset qwen2-0.5b`, written as Q8_0 by
 * `qwen2 quantize`), 2 threads, the same chat-templated prompts (one per client, no prefix
 * reuse), greedy, `ignore_eos`, the same `--tokens`. Both are measured in-process: ours
 * through the server's scheduler (the continuous batching behind every endpoint),
 * llama.cpp through node-llama-cpp (one context with N sequences, which llama.cpp decodes
 * together: the engine of llama-server, which is not on npm). Each level runs `--runs` times
 * (default 5) after a warm-up; tables give the median and [min–max], and a ratio whose ranges
 * overlap is "on par". Our HTTP figures (streaming clients against `qwen2 serve`'s server in
 * this process) are reported beside, as our own HTTP overhead, with no ratio to llama.cpp.
 *
 * Options: --model FILE.gguf | --preset NAME (default qwen2-0.5b) with --type (default
 * q8_0), --tokens N (default 32), --levels 1,4,8,16, --runs N (default 5), --skip-llama,
 * --skip-http, --skip-attacks, --attacks-only, --work DIR, --out NAME (default server).
 * Results: bench/results/NAME.{json,md}.
 *
 * Then the adversarial section (server_attacks.ts): issue 12's attacks replayed against
 * `qwen2 serve` on the same GGUF while a well-behaved client streams; results in
 * bench/results/NAME_attacks.{json,md} (server_attacks by default).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PassThrough } from "node:stream";
import { medianAndRange } from "../src/cli/bench_prompts.js";
import { main } from "../src/cli/main.js";
import { fromPretrained, type LoadedModel } from "../src/runtime/load.js";
import { Scheduler } from "../src/server/scheduler.js";
import { createServer } from "../src/server/server.js";
import type { TextTokenizer } from "../src/tokenizer/types.js";
import { type LlamaSequence, loadLlamaCpp } from "./llama_cpp.js";
import { peerVersion } from "./peers.js";
import { attacksMarkdown, runAttacks } from "./server_attacks.js";
import { sseEvents } from "./sse.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    model: { type: "string" },
    preset: { type: "string", default: "qwen2-0.5b" },
    type: { type: "string", default: "q8_0" },
    tokens: { type: "string", default: "32" },
    levels: { type: "string", default: "1,4,8,16" },
    runs: { type: "string", default: "5" },
    "skip-llama": { type: "boolean", default: false },
    "skip-http": { type: "boolean", default: false },
    "skip-attacks": { type: "boolean", default: false },
    "attacks-only": { type: "boolean", default: false },
    work: { type: "string", default: join(repo, ".models/bench-server") },
    out: { type: "string", default: "server" },
  },
});
const loadAtStart = loadavg()[0] ?? 0;
const genTokens = Number(values.tokens);
const levels = values.levels!.split(",").map(Number);
const runs = Number(values.runs);
for (const [flag, v] of [["--tokens", genTokens], ["--runs", runs], ...levels.map((l) => ["--levels", l] as const)] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`bench:server: ${flag} takes positive integers, got ${v}`);
const THREADS = 2;
const log = (m: string): void => void process.stderr.write(`[bench:server] ${m}\n`);

function prompt(i: number): string {
  return `Request ${i}: write a short story about a lighthouse keeper and the sea.`;
}

/** One run of one level: aggregate tokens/s and each sequence's time to first token. */
interface Sample {
  tps: number;
  ttftMean: number;
}

/** Per level: medians and [min, max] over the runs. */
interface LevelResult {
  clients: number;
  runs: number;
  aggregate_tps: number;
  aggregate_tps_range: [number, number];
  ttft_ms_mean: number;
  ttft_ms_mean_range: [number, number];
}

function summarise(clients: number, samples: readonly Sample[]): LevelResult {
  const tps = medianAndRange(samples.map((x) => x.tps));
  const ttft = medianAndRange(samples.map((x) => x.ttftMean));
  return {
    clients,
    runs: samples.length,
    aggregate_tps: tps.median,
    aggregate_tps_range: tps.range,
    ttft_ms_mean: ttft.median,
    ttft_ms_mean_range: ttft.range,
  };
}

function sample(tokens: number, wallMs: number, ttfts: readonly number[]): Sample {
  return { tps: (tokens * 1000) / wallMs, ttftMean: ttfts.reduce((a, b) => a + b, 0) / ttfts.length };
}

/** Runs `measure` once untimed, then `runs` times. */
async function repeated(label: string, n: number, measure: (run: number) => Promise<Sample>): Promise<LevelResult> {
  await measure(-1);
  const samples: Sample[] = [];
  for (let r = 0; r < runs; r++) samples.push(await measure(r));
  const res = summarise(n, samples);
  log(`${label} ${n}: ${res.aggregate_tps} tok/s [${res.aggregate_tps_range.join("–")}], TTFT ${res.ttft_ms_mean} ms`);
  return res;
}

function chatIds(tokenizer: TextTokenizer, i: number): number[] {
  return tokenizer.encode(tokenizer.applyChatTemplate([{ role: "user", content: prompt(i) }], { addGenerationPrompt: true }), {
    addSpecialTokens: false,
  });
}

/** Ours in-process: the server's scheduler, N sequences submitted together. */
async function benchScheduler(loaded: LoadedModel): Promise<LevelResult[]> {
  const out: LevelResult[] = [];
  for (const n of levels) {
    const scheduler = new Scheduler(loaded.model, loaded.tokenizer, {
      parallel: n,
      maxQueue: n,
      contextLength: 512,
      prefixCacheEntries: 0,
    });
    out.push(
      await repeated("ours (scheduler)", n, async (run) => {
        const signal = new AbortController().signal;
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from(
            { length: n },
            (_, i) =>
              new Promise<{ ttft: number; tokens: number }>((done, fail) => {
                let ttft = -1;
                let tokens = 0;
                scheduler.submit([
                  {
                    // Distinct prompts per run and client: no prefix is shared.
                    promptIds: chatIds(loaded.tokenizer, run * 100 + i),
                    options: { maxNewTokens: genTokens, temperature: 0, ignoreEos: true },
                    signal,
                    onEvent(e) {
                      if (e.id !== null) {
                        tokens++;
                        if (ttft < 0) ttft = performance.now() - t0;
                      }
                      if (e.done) done({ ttft, tokens });
                    },
                    onError: fail,
                  },
                ]);
              }),
          ),
        );
        return sample(
          results.reduce((a, r) => a + r.tokens, 0),
          performance.now() - t0,
          results.map((r) => r.ttft),
        );
      }),
    );
    scheduler.close();
  }
  return out;
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
  for await (const ev of sseEvents<{ choices: { delta: { content?: string } }[]; usage?: { completion_tokens: number } | null }>(
    res.body,
  )) {
    if (ttft < 0 && ev.choices.some((c) => c.delta.content)) ttft = performance.now() - t0;
    if (ev.usage) tokens = ev.usage.completion_tokens;
  }
  return { ttft: ttft < 0 ? performance.now() - t0 : ttft, tokens };
}

/** Ours over HTTP: streaming clients against the server in this process (our HTTP overhead). */
async function benchHttp(loaded: LoadedModel): Promise<LevelResult[]> {
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
    out.push(
      await repeated("ours (HTTP)", n, async (run) => {
        const t0 = performance.now();
        const rs = await Promise.all(Array.from({ length: n }, (_, i) => client(url, run * 100 + i)));
        return sample(
          rs.reduce((a, r) => a + r.tokens, 0),
          performance.now() - t0,
          rs.map((r) => r.ttft),
        );
      }),
    );
    await server.close();
  }
  return out;
}

/** llama.cpp in-process: one context with N sequences evaluated concurrently. */
async function benchLlama(gguf: string, tokenizer: TextTokenizer): Promise<LevelResult[]> {
  const llama = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const out: LevelResult[] = [];
  for (const n of levels) {
    const context = await model.createContext({
      sequences: n,
      contextSize: n * 512,
      batchSize: 512,
      threads: { ideal: THREADS, min: THREADS },
    });
    const one = async (ids: number[], seq: LlamaSequence, t0: number): Promise<{ ttft: number; tokens: number }> => {
      let ttft = -1;
      let tokens = 0;
      for await (const _t of seq.evaluate(ids, { temperature: 0 })) {
        if (ttft < 0) ttft = performance.now() - t0;
        if (++tokens >= genTokens) break;
      }
      return { ttft, tokens };
    };
    // The context's N sequences, emptied before each run.
    const seqs = Array.from({ length: n }, () => context.getSequence());
    out.push(
      await repeated("llama.cpp", n, async (run) => {
        for (const s of seqs) await s.clearHistory();
        const t0 = performance.now();
        const rs = await Promise.all(seqs.map((s, i) => one(chatIds(tokenizer, run * 100 + i), s, t0)));
        const wall = performance.now() - t0;
        return sample(
          rs.reduce((a, r) => a + r.tokens, 0),
          wall,
          rs.map((r) => r.ttft),
        );
      }),
    );
    await context.dispose();
  }
  await model.dispose();
  await llama.dispose();
  return out;
}

mkdirSync(values.work!, { recursive: true });
let gguf: string;
if (values.model) gguf = resolve(values.model);
else {
  const dir = join(values.work!, `random-${values.preset}`);
  gguf = join(values.work!, `random-${values.preset}.${values.type}.gguf`);
  const quiet = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: process.stderr };
  if (!existsSync(join(dir, "config.json"))) {
    log(`creating a random ${values.preset} model in ${dir}`);
    if ((await main(["create-random", "--preset", values.preset!, "--dtype", "bf16", "--out", dir, "--seed", "1"], quiet)) !== 0)
      throw new Error("create-random failed");
  }
  if (!existsSync(gguf)) {
    log(`quantize → ${gguf}`);
    if ((await main(["quantize", "--model", dir, "--type", values.type!, "--out", gguf, "--quiet"], quiet)) !== 0)
      throw new Error("quantize failed");
  }
}

/** The adversarial section: its own results files, so it can run alone (--attacks-only). */
async function attackSection(): Promise<void> {
  const results = await runAttacks(gguf, { backend: "wasm", tokens: 16 });
  const m = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    node: process.version,
    load: loadavg()[0] ?? 0,
    date: new Date().toISOString(),
  };
  const model = values.model ?? `random weights of the real ${values.preset} shape, ${values.type!.toUpperCase()} GGUF`;
  const header = `Model: ${model}; \`qwen2 serve --ctx 2048 --parallel 4\` (wasm backend) as a child process, other settings default; the good client streams 16-token completions. Machine: ${m.cpus} × ${m.cpu}, Node ${m.node}, ${m.date}, load average ${m.load.toFixed(2)} at the end (other sessions share the cores: figures are noisy).`;
  // --out NAME names this section's files NAME_attacks (server_attacks by default).
  const stem = join(repo, `bench/results/${values.out}_attacks`);
  writeFileSync(`${stem}.json`, `${JSON.stringify({ machine: m, model, results }, null, 2)}\n`);
  const md = attacksMarkdown(results, header);
  writeFileSync(`${stem}.md`, `# Server under attack\n\n${md}`);
  process.stdout.write(md);
}
if (values["attacks-only"]) {
  await attackSection();
  process.exit(0);
}

const loaded = await fromPretrained(gguf, { backend: "wasm", threads: THREADS });
const oursScheduler = await benchScheduler(loaded);
const oursHttp = values["skip-http"] ? [] : await benchHttp(loaded);
const tokenizer = loaded.tokenizer;
const llama: LevelResult[] | string = values["skip-llama"]
  ? "skipped (--skip-llama)"
  : await benchLlama(gguf, tokenizer).catch((err: Error) => `failed: ${err.message}`);
loaded.close();

const machine = {
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "?",
  mem_gb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  node_llama_cpp: peerVersion("node-llama-cpp") ?? "not installed",
  loadavg_1m_start: loadAtStart,
  loadavg_1m_end: loadavg()[0] ?? 0,
  date: new Date().toISOString(),
};
const resultsDir = join(repo, "bench/results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, `${values.out}.json`),
  JSON.stringify(
    {
      machine,
      model: values.model ?? `create-random --preset ${values.preset}, quantized ${values.type}`,
      threads: THREADS,
      gen_tokens: genTokens,
      ours_scheduler: oursScheduler,
      ours_http: oursHttp,
      llama_cpp: llama,
    },
    null,
    2,
  ) + "\n",
);
const cell = (v: number, r: [number, number], digits = 1): string =>
  `${v.toFixed(digits)} [${r[0].toFixed(digits)}–${r[1].toFixed(digits)}]`;
const rows = oursScheduler.map((o) => {
  const l = Array.isArray(llama) ? llama.find((x) => x.clients === o.clients) : undefined;
  const h = oursHttp.find((x) => x.clients === o.clients);
  const overlap = l && o.aggregate_tps_range[0] <= l.aggregate_tps_range[1] && l.aggregate_tps_range[0] <= o.aggregate_tps_range[1];
  const ratio = l ? `${(o.aggregate_tps / l.aggregate_tps).toFixed(2)}x${overlap ? " (on par)" : ""}` : "–";
  return `| ${o.clients} | ${cell(o.aggregate_tps, o.aggregate_tps_range)} | ${cell(o.ttft_ms_mean, o.ttft_ms_mean_range, 0)} | ${l ? cell(l.aggregate_tps, l.aggregate_tps_range) : "–"} | ${l ? cell(l.ttft_ms_mean, l.ttft_ms_mean_range, 0) : "–"} | ${ratio} | ${h ? cell(h.aggregate_tps, h.aggregate_tps_range) : "–"} | ${h ? cell(h.ttft_ms_mean, h.ttft_ms_mean_range, 0) : "–"} |`;
});
const md = [
  "# Server benchmark (`npm run bench:server`)",
  "",
  `Model: ${values.model ?? `random weights of the real ${values.preset} shape (\`qwen2 create-random --preset ${values.preset}\`), one GGUF file (${values.type.toUpperCase()}) read by both engines`}; ${THREADS} threads; ${genTokens} tokens per sequence (greedy, ignore_eos), a distinct chat prompt per sequence and run.`,
  `Machine: ${machine.cpus} × ${machine.cpu}, Node ${machine.node}, node-llama-cpp ${machine.node_llama_cpp}, ${machine.date}, load average ${machine.loadavg_1m_start.toFixed(2)} at the start and ${machine.loadavg_1m_end.toFixed(2)} at the end (other jobs may share the cores).`,
  "",
  `Both engines in-process, the same work: ours through the server's continuous-batching scheduler, llama.cpp through one context with N sequences decoded together. Median [min–max] of ${runs} runs after a warm-up; "on par" where the ranges overlap. TTFT: mean over the sequences of a run. The last two columns are ours again through HTTP (streaming clients against the server in this process): our HTTP overhead, not compared with llama.cpp.`,
  "",
  "| sequences | ours tok/s | ours TTFT ms | llama.cpp tok/s | llama.cpp TTFT ms | ours / llama.cpp | ours over HTTP tok/s | ours over HTTP TTFT ms |",
  "|---|---|---|---|---|---|---|---|",
  ...rows,
  "",
  Array.isArray(llama) ? "" : `llama.cpp: ${llama}`,
];
writeFileSync(join(resultsDir, `${values.out}.md`), md.join("\n") + "\n");
process.stdout.write(md.join("\n") + "\n");
if (!values["skip-attacks"]) await attackSection();
