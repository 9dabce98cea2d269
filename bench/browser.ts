/**
 * `npm run bench:browser`: our engine in headless Chromium against @wllama/wllama (llama.cpp
 * compiled to WebAssembly, multi-threaded build) in the same browser, and against our own
 * engine in Node, on the same GGUF files: random weights of the real Qwen2-0.5B shape
 * (`qwen2 create-random --preset qwen2-0.5b` + `qwen2 quantize`, as bench/model.ts makes them).
 *
 *   ours     a cross-origin-isolated page; WorkerEngine (the universal entry, bundled by
 *            esbuild) loads the file by URL in a dedicated worker with `--threads` compute threads
 *   wllama   the same page setup; loadModelFromUrl with n_threads = `--threads`
 *   node     `qwen2 bench --json` on the same file, same threads (a child process per run)
 *
 * Both browser engines get the same prompt text, which our tokenizer (and llama.cpp's, from the
 * same GGUF vocabulary) reads as exactly `--prompt-tokens` tokens; wllama's own count is kept
 * beside ours in the results. Prefill tok/s = prompt tokens / time to the first token's logits;
 * decode tok/s = tokens after the first / their time (llama.cpp: its own `timings`). EOS is
 * ignored so every run decodes `--gen-tokens` tokens. Each page loads once (load time), warms
 * up with a 4-token generation, then runs `--runs` generations: the median is reported. Page
 * memory is `performance.measureUserAgentSpecificMemory()` after the runs (JS heaps and
 * WebAssembly memories of the page and its workers).
 *
 * Options: --preset qwen2-0.5b|tiny, --dtypes q8_0,q4_0, --threads 2, --prompt-tokens 128,
 * --gen-tokens 32, --runs 3, --work DIR (default .models/bench), --skip-ours, --skip-wllama,
 * --skip-node, --no-write. Results: bench/results/browser.json and browser.md; the last line
 * printed is one JSON object {"q8_0": {"ours": {...}, "wllama": {...}, "node": {...}}, ...}.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Browser } from "playwright-core";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import { bundle, type Bundle } from "../test/browser/support/bundle.js";
import { browserSkipReason, launchChromium } from "../test/browser/support/chromium.js";
import { openPage, runInPage } from "../test/browser/support/page.js";
import { startTestServer, type TestServer } from "../test/browser/support/server.js";
import { peerDir, peerVersion } from "./peers.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(repo, "bin/qwen2.js");
const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "qwen2-0.5b" },
    dtypes: { type: "string", default: "q8_0,q4_0" },
    threads: { type: "string", default: "2" },
    "prompt-tokens": { type: "string", default: "128" },
    "gen-tokens": { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    work: { type: "string", default: join(repo, ".models/bench") },
    "skip-ours": { type: "boolean", default: false },
    "skip-wllama": { type: "boolean", default: false },
    "skip-node": { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const preset = values.preset!;
const dtypes = values.dtypes!.split(",");
const threads = Number(values.threads);
const promptTokens = Number(values["prompt-tokens"]);
const genTokens = Number(values["gen-tokens"]);
const runs = Number(values.runs);
const work = resolve(values.work!);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** One engine on one file: medians over the runs. */
interface Figures {
  prefill_tps: number;
  decode_tps: number;
  load_ms: number;
  /** Page memory (browser engines) or peak RSS (Node), MiB. */
  memory_mb: number | null;
  prompt_tokens: number;
  gen_tokens: number;
  /** Per-run prefill and decode tok/s, for the spread. */
  runs: Array<{ prefill_tps: number; decode_tps: number }>;
  /** What the engine says it ran: build, threads, isolation. */
  detail: Record<string, unknown>;
}
type Outcome = Figures | { error: string };

// 1. The files.
const folder = join(work, `${preset}-random`);
function makeModels(): Record<string, string> {
  mkdirSync(work, { recursive: true });
  if (!existsSync(join(folder, "config.json"))) {
    log(`creating ${folder}`);
    const r = spawnSync(process.execPath, [cli, "create-random", "--preset", preset, "--dtype", "bf16", "--out", folder], {
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error(`create-random failed (exit ${r.status})`);
  }
  const files: Record<string, string> = {};
  for (const dtype of dtypes) {
    const out = join(work, `${preset}-random.${dtype}.gguf`);
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(join(folder, "config.json")).mtimeMs) {
      log(`quantize → ${out}`);
      const r = spawnSync(process.execPath, [cli, "quantize", "--model", folder, "--type", dtype, "--out", out, "--quiet"], {
        stdio: "inherit",
      });
      if (r.status !== 0) throw new Error(`quantize ${dtype} failed (exit ${r.status})`);
    }
    files[dtype] = out;
  }
  return files;
}

/**
 * A text our tokenizer reads as exactly `n` tokens: the first `n` tokens of an ordinary
 * paragraph, decoded, then shortened a token at a time until it re-encodes to `n`.
 */
async function promptText(n: number): Promise<string> {
  const tok = await Tokenizer.embedded();
  const paragraph =
    "The river town woke slowly. Fishermen checked their nets, bakers opened their shutters, and the ferry " +
    "sounded its horn twice before leaving the pier. Children ran along the embankment with kites that never " +
    "quite caught the wind, while the old clockmaker argued with the postman about the weather, as he did every morning. ";
  const ids = tok.encode(paragraph.repeat(Math.ceil((n * 2) / 40)));
  for (let take = n; take < n + 8; take++) {
    const text = tok.decode(ids.slice(0, take));
    if (tok.encode(text).length === n) return text;
  }
  throw new Error(`no prefix of the benchmark paragraph encodes to exactly ${n} tokens`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
};
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

function summarise(
  load: number,
  memory: number | null,
  list: Array<{ prefill_tps: number; decode_tps: number; prompt_tokens: number; gen_tokens: number }>,
  detail: Record<string, unknown>,
): Figures {
  return {
    prefill_tps: round(median(list.map((r) => r.prefill_tps))),
    decode_tps: round(median(list.map((r) => r.decode_tps))),
    load_ms: Math.round(load),
    memory_mb: memory === null ? null : round(memory, 0),
    prompt_tokens: list[0]?.prompt_tokens ?? 0,
    gen_tokens: list[0]?.gen_tokens ?? 0,
    runs: list.map((r) => ({ prefill_tps: round(r.prefill_tps), decode_tps: round(r.decode_tps) })),
    detail,
  };
}

// 2. In the page. These functions travel to the page as source text (runInPage): they use
// nothing but their arguments and the page's globals.
interface PageArgs {
  modelUrl: string;
  workerUrl: string;
  wasmUrl: string;
  text: string;
  threads: number;
  gen: number;
  runs: number;
}
interface PageResult {
  load_ms: number;
  memory_bytes: number | null;
  runs: Array<{ prefill_tps: number; decode_tps: number; prompt_tokens: number; gen_tokens: number }>;
  detail: Record<string, unknown>;
}

interface OursModule {
  WorkerEngine: {
    create(o: { model: string; threads: number; workerUrl: URL }): Promise<{
      info: { backend: string; warnings: readonly string[] };
      stream(
        input: string,
        o: { maxNewTokens: number; temperature: number; eosIds: number[] },
      ): AsyncGenerator<
        unknown,
        { ids: number[]; timings: { prefillTokens: number; prefillTokensPerSecond: number; decodeTokensPerSecond: number } }
      >;
      dispose(): void;
    }>;
  };
}

async function oursInPage(m: OursModule, a: PageArgs): Promise<PageResult> {
  const g = globalThis as unknown as {
    crossOriginIsolated: boolean;
    location: { href: string };
    performance: { measureUserAgentSpecificMemory?(): Promise<{ bytes: number }> };
  };
  const t0 = performance.now();
  const engine = await m.WorkerEngine.create({ model: a.modelUrl, threads: a.threads, workerUrl: new URL(a.workerUrl, g.location.href) });
  const load = performance.now() - t0;
  const once = async (maxNewTokens: number) => {
    const it = engine.stream(a.text, { maxNewTokens, temperature: 0, eosIds: [] });
    for (;;) {
      const step = await it.next();
      if (step.done) return step.value;
    }
  };
  await once(4);
  const out: PageResult["runs"] = [];
  for (let i = 0; i < a.runs; i++) {
    const r = await once(a.gen);
    out.push({
      prefill_tps: r.timings.prefillTokensPerSecond,
      decode_tps: r.timings.decodeTokensPerSecond,
      prompt_tokens: r.timings.prefillTokens,
      gen_tokens: r.ids.length,
    });
  }
  const memory = g.performance.measureUserAgentSpecificMemory ? (await g.performance.measureUserAgentSpecificMemory()).bytes : null;
  const detail = {
    backend: engine.info.backend,
    warnings: engine.info.warnings,
    threads: a.threads,
    crossOriginIsolated: g.crossOriginIsolated,
  };
  engine.dispose();
  return { load_ms: load, memory_bytes: memory, runs: out, detail };
}

interface WllamaModule {
  Wllama: new (
    paths: { default: string },
    config: { suppressNativeLog: boolean; parallelDownloads: number },
  ) => {
    loadModelFromUrl(url: string, o: Record<string, unknown>): Promise<void>;
    createCompletion(
      o: Record<string, unknown>,
    ): Promise<{ timings?: { prompt_n: number; prompt_per_second: number; predicted_n: number; predicted_per_second: number } }>;
    isMultithread(): boolean;
    getNumThreads(): number;
    exit(): Promise<void>;
  };
}

async function wllamaInPage(m: WllamaModule, a: PageArgs): Promise<PageResult> {
  const g = globalThis as unknown as {
    crossOriginIsolated: boolean;
    performance: { measureUserAgentSpecificMemory?(): Promise<{ bytes: number }> };
  };
  const w = new m.Wllama({ default: a.wasmUrl }, { suppressNativeLog: true, parallelDownloads: 1 });
  const t0 = performance.now();
  // One batch holds the whole prompt, as our prefill does.
  await w.loadModelFromUrl(a.modelUrl, { n_threads: a.threads, n_ctx: 1024, n_batch: 512, n_ubatch: 512, warmup: false });
  const load = performance.now() - t0;
  const once = (max_tokens: number) =>
    w.createCompletion({ prompt: a.text, max_tokens, temperature: 0, ignore_eos: true, cache_prompt: false });
  await once(4);
  const out: PageResult["runs"] = [];
  for (let i = 0; i < a.runs; i++) {
    const t = (await once(a.gen)).timings;
    if (!t) throw new Error("wllama returned no timings");
    out.push({
      prefill_tps: t.prompt_per_second,
      decode_tps: t.predicted_per_second,
      prompt_tokens: t.prompt_n,
      gen_tokens: t.predicted_n,
    });
  }
  const memory = g.performance.measureUserAgentSpecificMemory ? (await g.performance.measureUserAgentSpecificMemory()).bytes : null;
  const detail = { multithread: w.isMultithread(), threads: w.getNumThreads(), crossOriginIsolated: g.crossOriginIsolated };
  await w.exit();
  return { load_ms: load, memory_bytes: memory, runs: out, detail };
}

async function inBrowser(browser: Browser, server: TestServer, engine: "ours" | "wllama", file: string, text: string): Promise<Outcome> {
  const p = await openPage(browser, `${server.origin}/`);
  try {
    const args: PageArgs = {
      modelUrl: `${server.origin}/models/${file}`,
      workerUrl: "/bundle/engine_worker.js",
      wasmUrl: `${server.origin}/wllama/wasm/wllama.wasm`,
      text,
      threads,
      gen: genTokens,
      runs,
    };
    const r =
      engine === "ours"
        ? await runInPage(p.page, `${server.origin}/bundle/qwen2.js`, oursInPage, args, 900_000)
        : await runInPage(p.page, `${server.origin}/wllama/index.js`, wllamaInPage, args, 900_000);
    const errors = p.errors();
    if (errors.length > 0) log(`  ${engine}: console errors: ${errors.join(" | ").slice(0, 500)}`);
    const warnings = p.console.filter((m) => m.type === "warning").map((m) => m.text);
    return summarise(r.load_ms, r.memory_bytes === null ? null : r.memory_bytes / 2 ** 20, r.runs, {
      ...r.detail,
      ...(warnings.length ? { console_warnings: warnings } : {}),
    });
  } catch (err) {
    const errors = p.errors();
    return { error: `${(err as Error).message.split("\n")[0]}${errors.length ? ` (console: ${errors.join(" | ").slice(0, 300)})` : ""}` };
  } finally {
    await p.close();
  }
}

// 3. In Node: `qwen2 bench` on the same file.
function inNode(path: string): Outcome {
  const list: Array<{ prefill_tps: number; decode_tps: number; prompt_tokens: number; gen_tokens: number }> = [];
  let load = 0;
  let rss: number | null = null;
  let detail: Record<string, unknown> = {};
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(
      process.execPath,
      [
        cli,
        "bench",
        "--json",
        "--model",
        path,
        "--backend",
        "wasm",
        "--threads",
        String(threads),
        "--prompt-tokens",
        String(promptTokens),
        "--gen-tokens",
        String(genTokens),
      ],
      {
        cwd: repo,
        encoding: "utf8",
        timeout: 600_000,
      },
    );
    const line = r.stdout?.trim().split("\n").at(-1) ?? "";
    if (r.status !== 0 || !line.startsWith("{"))
      return { error: `qwen2 bench exited ${r.status ?? r.signal}: ${(r.stderr ?? "").trim().split("\n").at(-1) ?? ""}` };
    const j = JSON.parse(line) as Record<string, number | string>;
    list.push({
      prefill_tps: Number(j.prefill_tps),
      decode_tps: Number(j.decode_tps),
      prompt_tokens: Number(j.prompt_tokens),
      gen_tokens: Number(j.gen_tokens),
    });
    load = i === 0 ? Number(j.load_ms) : Math.min(load, Number(j.load_ms));
    rss = typeof j.peak_rss_mb === "number" ? Math.max(rss ?? 0, j.peak_rss_mb) : rss;
    detail = { engine: j.engine ?? j.backend, threads: j.threads, node: process.version };
  }
  return summarise(load, rss, list, detail);
}

// 4. Run.
const files = makeModels();
const text = await promptText(promptTokens);
const results: Record<string, Record<string, Outcome>> = {};
for (const dtype of dtypes) results[dtype] = {};

const skipBrowser = browserSkipReason();
let ourBundle: Bundle | null = null;
const wllamaDir = peerDir("@wllama/wllama");
if ((!values["skip-ours"] || !values["skip-wllama"]) && skipBrowser) log(`browser engines skipped: ${skipBrowser}`);
else if (!values["skip-ours"] || !values["skip-wllama"]) {
  ourBundle = await bundle(
    {
      qwen2: join(repo, "dist/src/index.js"),
      engine_worker: join(repo, "dist/src/runtime/worker_engine/engine_worker.js"),
      worker: join(repo, "dist/src/backends/wasm/worker.js"),
    },
    { minify: true },
  );
  if (ourBundle.nodeImports.length > 0)
    log(`our bundle still imports Node built-ins: ${[...new Set(ourBundle.nodeImports.map((i) => i.path))].join(", ")}`);
  const mounts: Record<string, string> = { "/models/": work, "/bundle/": ourBundle.dir };
  if (wllamaDir) mounts["/wllama/"] = join(wllamaDir, "esm");
  const server = await startTestServer({ isolated: true, ranges: true, mounts });
  // Eager memory measurement: without it the API waits for the next garbage collection.
  const browser = await launchChromium({ args: ["--enable-blink-features=ForceEagerMeasureMemory"] });
  try {
    for (const dtype of dtypes) {
      const file = files[dtype]!.slice(work.length + 1);
      if (!values["skip-ours"]) {
        log(`${dtype} ours (Chromium, ${threads} threads)`);
        results[dtype]!.ours = await inBrowser(browser, server, "ours", file, text);
        log(`  ${JSON.stringify(results[dtype]!.ours)}`);
      }
      if (!values["skip-wllama"]) {
        log(`${dtype} wllama (Chromium, ${threads} threads)`);
        results[dtype]!.wllama = wllamaDir
          ? await inBrowser(browser, server, "wllama", file, text)
          : { error: "@wllama/wllama is not installed (npm run bench:peers)" };
        log(`  ${JSON.stringify(results[dtype]!.wllama)}`);
      }
    }
  } finally {
    const missing = [...new Set(server.requests.filter((r) => r.status >= 400).map((r) => `${r.status} ${r.path}`))];
    if (missing.length > 0) log(`requests that failed: ${missing.join(", ")}`);
    await browser.close();
    await server.close();
    ourBundle.dispose();
  }
}
if (!values["skip-node"]) {
  for (const dtype of dtypes) {
    log(`${dtype} ours (Node ${process.version}, ${threads} threads)`);
    results[dtype]!.node = inNode(files[dtype]!);
    log(`  ${JSON.stringify(results[dtype]!.node)}`);
  }
}

// 5. Report.
const chromiumVersion = (() => {
  const r = spawnSync(process.env.QWEN2_CHROMIUM ?? "/usr/bin/chromium", ["--version"], { encoding: "utf8" });
  return r.stdout?.trim() || "unknown";
})();
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memory_gib: round(totalmem() / 2 ** 30),
  os: `${platform()} ${release()}`,
  node: process.version,
  chromium: chromiumVersion,
  wllama: peerVersion("@wllama/wllama") ?? "not installed",
  load_average_at_end: loadavg().map((x) => round(x, 2)),
  date: new Date().toISOString(),
};
const setup = {
  preset,
  threads,
  prompt_tokens: promptTokens,
  gen_tokens: genTokens,
  runs,
  files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.slice(work.length + 1)])),
};

const ok = (o: Outcome | undefined): o is Figures => o !== undefined && !("error" in o);
const cell = (o: Outcome | undefined, k: "prefill_tps" | "decode_tps" | "load_ms" | "memory_mb"): string =>
  ok(o) ? String(o[k] ?? "–") : "–";
const ratio = (a: Outcome | undefined, b: Outcome | undefined, k: "prefill_tps" | "decode_tps"): string =>
  ok(a) && ok(b) && b[k] > 0 ? (a[k] / b[k]).toFixed(2) : "–";
const md: string[] = [
  "# Browser benchmark: qwen2-ts in Chromium vs wllama, and vs qwen2-ts in Node",
  "",
  `Random weights of the ${preset} shape (\`qwen2 create-random --preset ${preset}\`, then \`qwen2 quantize\`); the same GGUF files go to every engine.`,
  `${machine.chromium}, headless, cross-origin isolated; @wllama/wllama ${machine.wllama} (multi-threaded build); Node ${machine.node}.`,
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ${machine.os}. ${machine.date}. Load average at the end: ${machine.load_average_at_end.join(" / ")}.`,
  "",
  `${threads} threads; a ${promptTokens}-token prompt (the same text for both browser engines), ${genTokens} generated tokens, EOS ignored; median of ${runs} runs after a warm-up. Memory: page memory (JS heaps + WebAssembly memories of the page and its workers) for browser engines, peak RSS for Node.`,
  "",
  "| file | engine | prefill tok/s | decode tok/s | load ms | memory MiB |",
  "|---|---|---|---|---|---|",
];
for (const dtype of dtypes) {
  for (const engine of ["ours", "wllama", "node"]) {
    const o = results[dtype]![engine];
    if (o === undefined) continue;
    const label = engine === "ours" ? "qwen2-ts (Chromium)" : engine === "wllama" ? "wllama (Chromium)" : "qwen2-ts (Node)";
    md.push(
      `| ${dtype} | ${label} | ${cell(o, "prefill_tps")} | ${cell(o, "decode_tps")} | ${cell(o, "load_ms")} | ${cell(o, "memory_mb")} |`,
    );
  }
}
md.push(
  "",
  "| file | ours / wllama prefill | ours / wllama decode | Chromium / Node prefill | Chromium / Node decode |",
  "|---|---|---|---|---|",
);
for (const dtype of dtypes) {
  const r = results[dtype]!;
  md.push(
    `| ${dtype} | ${ratio(r.ours, r.wllama, "prefill_tps")} | ${ratio(r.ours, r.wllama, "decode_tps")} | ${ratio(r.ours, r.node, "prefill_tps")} | ${ratio(r.ours, r.node, "decode_tps")} |`,
  );
}
md.push("", "Targets (issue 9): ours ≥ 3× wllama in prefill and decode on both files, and within 10% of our Node figures (ratio ≥ 0.90).");
const failures = dtypes.flatMap((d) => Object.entries(results[d]!).flatMap(([e, o]) => ("error" in o ? [`- ${d} ${e}: ${o.error}`] : [])));
if (failures.length > 0) md.push("", "Failed runs:", ...failures);

const headline = Object.fromEntries(
  dtypes.map((d) => [
    d,
    Object.fromEntries(
      Object.entries(results[d]!).map(([e, o]) => [
        e,
        ok(o) ? { prefill_tps: o.prefill_tps, decode_tps: o.decode_tps, load_ms: o.load_ms, memory_mb: o.memory_mb } : { error: o.error },
      ]),
    ),
  ]),
);
if (!values["no-write"]) {
  const dir = join(repo, "bench/results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "browser.json"), `${JSON.stringify({ machine, setup, text, results }, null, 2)}\n`);
  writeFileSync(join(dir, "browser.md"), `${md.join("\n")}\n`);
  log(`wrote bench/results/browser.json and browser.md`);
}
process.stdout.write(`${md.join("\n")}\n\n${JSON.stringify(headline)}\n`);
