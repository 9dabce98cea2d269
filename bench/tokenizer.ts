/**
 * Tokenizer benchmark: our Tokenizer beside @huggingface/tokenizers, transformers.js,
 * native @anush008/tokenizers (Rust, N-API) and tiktoken cl100k_base (speed reference only:
 * another vocabulary), in one run, on ../shared/tokenizers/bench_corpus.txt.gz.
 *
 *   npm run bench:tokenizer [-- --docs-mb 1 --min-seconds 1 --rounds 2 --only ours,tiktoken --no-write]
 *
 * Each engine runs in its own child process (this file with `--child NAME`), so its import
 * and load time and its memory are its own. Figures: import and load time, RSS added by
 * loading, peak RSS, encode and decode MB/s (UTF-8 bytes of text per second) on ~1 KB
 * documents cut at line boundaries and on one 4 MB document, and how many documents get
 * ids different from ours. Our tokenizer also gets the linear-time check (100k spaces,
 * 100k digits, a 10 MB line at growing sizes; ms per MB should stay flat).
 *
 * Results go to bench/results/tokenizer.{json,md}. The machine may be shared: figures are
 * noisy, ratios from the same run are the meaningful part.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { importPeer, type PeerName } from "./peers.js";

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file compiles to dist/bench/tokenizer.js). */
const repoRoot = resolve(here, "../..");
const sharedDir = process.env.QWEN2_SHARED ?? resolve(repoRoot, "../shared");
const tokenizersDir = resolve(sharedDir, "tokenizers");
const qwen2Dir = resolve(tokenizersDir, "qwen2");
const corpusFile = resolve(tokenizersDir, "bench_corpus.txt.gz");

/** One engine as the benchmark sees it. */
interface Engine {
  encode(text: string): ArrayLike<number> | Promise<ArrayLike<number>>;
  decode(ids: ArrayLike<number>): string | Promise<string>;
}

interface EngineSpec {
  readonly name: string;
  readonly label: string;
  /** Same vocabulary as ours, so ids are comparable. */
  readonly sameVocabulary: boolean;
  /** Imports the package (timed as import) and returns the loader (timed as load). */
  importer(): Promise<() => Promise<Engine>>;
}

const utf8Decoder = new TextDecoder();

// Our Tokenizer by file URL (it may be another build, see QWEN2_BENCH_OURS); the peers from
// bench/node_modules (bench/peers.ts).
const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier) as Promise<Record<string, unknown>>;
const loadPeer = (name: PeerName): Promise<Record<string, unknown>> => importPeer<Record<string, unknown>>(name);

/**
 * Our Tokenizer, loaded from `dir` (or the embedded default when undefined).
 * QWEN2_BENCH_OURS points at another build of the node/tokenizer module (loadTokenizer) (e.g. a branch under work).
 */
function oursEngine(name: string, label: string, dir: string | undefined): EngineSpec {
  return {
    name,
    label,
    sameVocabulary: true,
    async importer() {
      const modulePath = process.env.QWEN2_BENCH_OURS ?? resolve(repoRoot, "dist/src/node/tokenizer.js");
      const mod = await load(pathToFileURL(modulePath).href);
      const loadTokenizer = mod.loadTokenizer as (dir?: string) => Promise<unknown>;
      return async () => {
        const tok = (await loadTokenizer(dir)) as { encode(t: string): number[]; decode(ids: ArrayLike<number>): string };
        return { encode: (t) => tok.encode(t), decode: (ids) => tok.decode(ids) };
      };
    },
  };
}

const ENGINES: readonly EngineSpec[] = [
  oursEngine("ours", "qwen2-ts Tokenizer", qwen2Dir),
  oursEngine("ours-embedded", "qwen2-ts Tokenizer, embedded default (loadTokenizer())", undefined),
  {
    name: "hf-tokenizers",
    label: "@huggingface/tokenizers (JS)",
    sameVocabulary: true,
    async importer() {
      const mod = await loadPeer("@huggingface/tokenizers");
      const Tokenizer = mod.Tokenizer as new (
        json: object,
        config: object,
      ) => { encode(t: string): { ids: number[] }; decode(ids: number[]): string };
      return async () => {
        const json = JSON.parse(readFileSync(resolve(qwen2Dir, "tokenizer.json"), "utf8")) as object;
        const config = JSON.parse(readFileSync(resolve(qwen2Dir, "tokenizer_config.json"), "utf8")) as object;
        const tok = new Tokenizer(json, config);
        return { encode: (t) => tok.encode(t).ids, decode: (ids) => tok.decode(Array.from(ids)) };
      };
    },
  },
  {
    name: "transformers-js",
    label: "transformers.js AutoTokenizer",
    sameVocabulary: true,
    async importer() {
      const mod = await loadPeer("@huggingface/transformers");
      const env = mod.env as { allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string };
      const AutoTokenizer = mod.AutoTokenizer as {
        from_pretrained(name: string, options?: object): Promise<{ encode(t: string): number[]; decode(ids: number[]): string }>;
      };
      return async () => {
        env.allowRemoteModels = false;
        env.allowLocalModels = true;
        env.localModelPath = tokenizersDir + "/";
        const tok = await AutoTokenizer.from_pretrained("qwen2", { local_files_only: true });
        return { encode: (t) => tok.encode(t), decode: (ids) => tok.decode(Array.from(ids)) };
      };
    },
  },
  {
    name: "native",
    label: "@anush008/tokenizers (native Rust)",
    sameVocabulary: true,
    async importer() {
      const mod = await loadPeer("@anush008/tokenizers");
      const Tokenizer = (mod.Tokenizer ?? (mod.default as Record<string, unknown>).Tokenizer) as {
        fromFile(file: string): {
          encode(t: string): Promise<{ getIds(): number[] }>;
          decode(ids: number[], skip: boolean): Promise<string>;
        };
      };
      return async () => {
        const tok = Tokenizer.fromFile(resolve(qwen2Dir, "tokenizer.json"));
        return { encode: async (t) => (await tok.encode(t)).getIds(), decode: (ids) => tok.decode(Array.from(ids), false) };
      };
    },
  },
  {
    name: "tiktoken",
    label: "tiktoken cl100k_base (WASM; other vocabulary)",
    sameVocabulary: false,
    async importer() {
      const mod = await loadPeer("tiktoken");
      const getEncoding = (mod.get_encoding ?? (mod.default as Record<string, unknown>).get_encoding) as (name: string) => {
        encode(t: string, allowed: "all"): Uint32Array;
        decode(ids: Uint32Array): Uint8Array;
      };
      return async () => {
        const enc = getEncoding("cl100k_base");
        return {
          encode: (t) => enc.encode(t, "all"),
          decode: (ids) => utf8Decoder.decode(enc.decode(ids instanceof Uint32Array ? ids : Uint32Array.from(ids))),
        };
      };
    },
  },
];

// ---------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------

interface Corpus {
  readonly text: string;
  /** ~1 KB documents cut at line boundaries, sampled evenly over the corpus. */
  readonly docs: string[];
  readonly docsBytes: number;
  /** One 4 MB document from the middle of the corpus, cut at line boundaries. */
  readonly big: string;
  readonly bigBytes: number;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function loadCorpus(docsMb: number): Corpus {
  const text = gunzipSync(readFileSync(corpusFile)).toString("utf8");
  const lines = text.split("\n");
  const all: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    current.push(line);
    size += byteLength(line) + 1;
    if (size >= 1024) {
      all.push(current.join("\n") + "\n");
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) all.push(current.join("\n"));
  const totalBytes = byteLength(text);
  const stride = Math.max(1, Math.round(totalBytes / (docsMb * 1e6)));
  const docs = all.filter((_, i) => i % stride === 0);
  // 4 MB from the middle, at line boundaries (code units ~ bytes is close enough to place it).
  const from = text.indexOf("\n", Math.floor(text.length * 0.4)) + 1;
  let big = text.slice(from);
  const bytes = Buffer.from(big, "utf8").subarray(0, 4_000_000);
  big = bytes.toString("utf8");
  big = big.slice(0, big.lastIndexOf("\n") + 1);
  return { text, docs, docsBytes: docs.reduce((n, d) => n + byteLength(d), 0), big, bigBytes: byteLength(big) };
}

// ---------------------------------------------------------------------------------------
// Child: one engine
// ---------------------------------------------------------------------------------------

interface Throughput {
  readonly mbPerS: number;
  readonly seconds: number;
  readonly passes: number;
}

interface LinearRow {
  readonly input: string;
  readonly mb: number;
  readonly ms: number;
  readonly msPerMb: number;
}

interface ChildResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly importMs?: number;
  readonly loadMs?: number;
  /** RSS added by import and load (after a GC). */
  readonly loadRssMb?: number;
  /** Peak RSS of the process up to the end of load (Node itself is ~40-50 MB of it). */
  readonly loadPeakRssMb?: number;
  /** Peak RSS over the whole run, the corpus (~20 MB of text, held as UTF-16) included. */
  readonly peakRssMb?: number;
  readonly encodeDocs?: Throughput;
  readonly encodeBig?: Throughput;
  readonly decodeDocs?: Throughput;
  readonly decodeBig?: Throughput;
  readonly tokensDocs?: number;
  readonly tokensBig?: number;
  /** FNV-1a of each document's ids, to compare with ours. */
  readonly docHashes?: number[];
  readonly bigHash?: number;
  readonly linear?: LinearRow[];
}

function hashIds(ids: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    h ^= ids[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const mb = (bytes: number): number => bytes / 1e6;
const rssMb = (): number => process.memoryUsage().rss / 1048576;

/** Runs `pass` until at least `minSeconds` have gone by (at least once); returns seconds per pass. */
async function timePasses(pass: () => Promise<void>, minSeconds: number): Promise<{ seconds: number; passes: number }> {
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    await pass();
    passes++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < minSeconds);
  return { seconds: elapsed / passes, passes };
}

async function runChild(name: string, docsMb: number, minSeconds: number, linear: boolean): Promise<ChildResult> {
  const spec = ENGINES.find((e) => e.name === name);
  if (spec === undefined) throw new Error(`unknown engine ${name}`);
  const gc = (globalThis as { gc?: () => void }).gc;
  // The engine loads before the corpus, so the load figures are the engine's alone.
  gc?.();
  const rssBefore = rssMb();
  let engine: Engine;
  let importMs: number;
  let loadMs: number;
  try {
    const t0 = performance.now();
    const loader = await spec.importer();
    const t1 = performance.now();
    engine = await loader();
    const t2 = performance.now();
    importMs = t1 - t0;
    loadMs = t2 - t1;
  } catch (e) {
    return { name, ok: false, error: (e as Error).message.split("\n")[0] };
  }
  gc?.();
  const loadRssMb = rssMb() - rssBefore;
  const loadPeakRssMb = process.resourceUsage().maxRSS / 1024;
  const corpus = loadCorpus(docsMb);

  // Warm-up: a tenth of the documents, so the JIT and caches are in their steady state.
  for (const d of corpus.docs.slice(0, Math.ceil(corpus.docs.length / 10))) await engine.decode(await engine.encode(d));

  const docIds: ArrayLike<number>[] = new Array(corpus.docs.length);
  const enc = await timePasses(async () => {
    for (let i = 0; i < corpus.docs.length; i++) docIds[i] = await engine.encode(corpus.docs[i]!);
  }, minSeconds);
  let bigIds: ArrayLike<number> = [];
  const encBig = await timePasses(async () => {
    bigIds = await engine.encode(corpus.big);
  }, minSeconds);
  let sink = 0;
  const dec = await timePasses(async () => {
    for (const ids of docIds) sink += (await engine.decode(ids)).length;
  }, minSeconds);
  const decBig = await timePasses(async () => {
    sink += (await engine.decode(bigIds)).length;
  }, minSeconds);
  if (sink < 0) console.error("unreachable");

  const tp = (bytes: number, t: { seconds: number; passes: number }): Throughput => ({
    mbPerS: mb(bytes) / t.seconds,
    seconds: t.seconds,
    passes: t.passes,
  });
  const result: ChildResult = {
    name,
    ok: true,
    importMs,
    loadMs,
    loadRssMb,
    loadPeakRssMb,
    encodeDocs: tp(corpus.docsBytes, enc),
    encodeBig: tp(corpus.bigBytes, encBig),
    decodeDocs: tp(corpus.docsBytes, dec),
    decodeBig: tp(corpus.bigBytes, decBig),
    tokensDocs: docIds.reduce((n, ids) => n + ids.length, 0),
    tokensBig: bigIds.length,
    docHashes: docIds.map(hashIds),
    bigHash: hashIds(bigIds),
    linear: linear ? await linearCheck(engine, corpus.text) : undefined,
  };
  return { ...result, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

/** Encode time per MB at growing sizes: a flat ms/MB means linear time. */
async function linearCheck(engine: Engine, corpusText: string): Promise<LinearRow[]> {
  const line = corpusText.replace(/\n/g, " ");
  const inputs: [string, (n: number) => string, number[]][] = [
    ["spaces", (n) => " ".repeat(n), [25_000, 50_000, 100_000]],
    ["digits", (n) => "0123456789".repeat(Math.ceil(n / 10)).slice(0, n), [25_000, 50_000, 100_000]],
    [
      "one line (corpus, newlines as spaces)",
      (n) => Buffer.from(line, "utf8").subarray(0, n).toString("utf8"),
      [2_500_000, 5_000_000, 10_000_000],
    ],
  ];
  const rows: LinearRow[] = [];
  for (const [label, make, sizes] of inputs) {
    for (const size of sizes) {
      const text = make(size);
      const bytes = byteLength(text);
      // Best of three: one slow run on a shared machine is noise, not a superlinear path.
      let ms = Infinity;
      for (let run = 0; run < 3; run++) {
        const t0 = performance.now();
        await engine.encode(text);
        ms = Math.min(ms, performance.now() - t0);
      }
      rows.push({ input: `${label} ×${size.toLocaleString("en")}`, mb: mb(bytes), ms, msPerMb: ms / mb(bytes) });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// Parent: run every engine, compare, report
// ---------------------------------------------------------------------------------------

interface Args {
  docsMb: number;
  minSeconds: number;
  rounds: number;
  only: string[] | null;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { docsMb: 1, minSeconds: 1, rounds: 2, only: null, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench:tokenizer: ${a} needs a value`);
      return v;
    };
    if (a === "--docs-mb") args.docsMb = Number(value());
    else if (a === "--min-seconds") args.minSeconds = Number(value());
    else if (a === "--rounds") args.rounds = Math.max(1, Number(value()));
    else if (a === "--only") args.only = value().split(",");
    else if (a === "--no-write") args.write = false;
    else throw new Error(`bench:tokenizer: unknown option ${a}`);
  }
  return args;
}

function machine(): Record<string, string | number> {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() is what there is
  }
  return {
    cpu,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits));

function ratio(ours: number | undefined, theirs: number | undefined, higherIsBetter: boolean): string {
  if (ours === undefined || theirs === undefined || ours === 0 || theirs === 0) return "–";
  return `${(higherIsBetter ? ours / theirs : theirs / ours).toFixed(2)}×`;
}

function idAgreement(r: ChildResult, ours: ChildResult | undefined, spec: EngineSpec): string {
  if (!spec.sameVocabulary) return "n/a (other vocabulary)";
  if (spec.name === "ours") return "reference";
  if (!ours?.ok || !r.ok || !ours.docHashes || !r.docHashes) return "–";
  const differ = r.docHashes.filter((h, i) => h !== ours.docHashes![i]).length;
  return `${differ}/${r.docHashes.length} docs differ${r.bigHash === ours.bigHash ? "" : ", 4 MB doc differs"}`;
}

function report(results: ChildResult[], args: Args, docsBytes: number, docsCount: number, bigBytes: number): { md: string; json: object } {
  const ours = results.find((r) => r.name === "ours" && r.ok);
  const m = machine();
  const rows = results.map((r) => {
    const spec = ENGINES.find((e) => e.name === r.name)!;
    return { spec, r };
  });
  const lines: string[] = [];
  lines.push("# Tokenizer benchmark", "");
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.date} (1-min load average at start ${m.loadAverage1m}).`,
  );
  lines.push(
    `Corpus: bench_corpus.txt.gz; ${docsCount} documents of ~1 KB (${fmt(mb(docsBytes))} MB, sampled evenly) and one ${fmt(mb(bigBytes))} MB document. ` +
      `Each engine runs in its own Node process, ${args.rounds} round(s) alternating the engines; each figure is an engine's best round, ` +
      `a round's figure being the mean over passes lasting at least ${args.minSeconds} s after a warm-up. ` +
      "The machine is shared with other jobs, so figures are noisy; ratios come from the same run. " +
      "@anush008/tokenizers is measured through its async N-API calls, one per document, as an application would call it.",
    "",
  );
  if (process.env.QWEN2_BENCH_OURS) lines.push(`Our Tokenizer was loaded from ${process.env.QWEN2_BENCH_OURS} (QWEN2_BENCH_OURS).`, "");
  lines.push(
    "| engine | import ms | load ms | RSS added by load MB | peak RSS at load MB | peak RSS in run MB | encode 1 KB docs MB/s | encode 4 MB MB/s | decode 1 KB docs MB/s | decode 4 MB MB/s | ids vs ours |",
  );
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const { spec, r } of rows) {
    if (!r.ok) {
      lines.push(`| ${spec.label} | unavailable: ${r.error} ||||||||||`);
      continue;
    }
    lines.push(
      `| ${spec.label} | ${fmt(r.importMs, 0)} | ${fmt(r.loadMs, 0)} | ${fmt(r.loadRssMb, 0)} | ${fmt(r.loadPeakRssMb, 0)} | ${fmt(r.peakRssMb, 0)} | ${fmt(r.encodeDocs?.mbPerS)} | ${fmt(r.encodeBig?.mbPerS)} | ${fmt(r.decodeDocs?.mbPerS)} | ${fmt(r.decodeBig?.mbPerS)} | ${idAgreement(r, ours, spec)} |`,
    );
  }
  if (ours) {
    lines.push("", "Our ratio to each peer (>1 means ours is better: faster, or quicker to load):", "");
    lines.push("| peer | load | encode 1 KB docs | encode 4 MB | decode 1 KB docs | decode 4 MB |");
    lines.push("|---|---|---|---|---|---|");
    for (const { spec, r } of rows) {
      if (spec.name.startsWith("ours") || !r.ok) continue;
      lines.push(
        `| ${spec.label} | ${ratio(ours.loadMs, r.loadMs, false)} | ${ratio(ours.encodeDocs?.mbPerS, r.encodeDocs?.mbPerS, true)} | ${ratio(ours.encodeBig?.mbPerS, r.encodeBig?.mbPerS, true)} | ${ratio(ours.decodeDocs?.mbPerS, r.decodeDocs?.mbPerS, true)} | ${ratio(ours.decodeBig?.mbPerS, r.decodeBig?.mbPerS, true)} |`,
      );
    }
    if (ours.linear) {
      lines.push("", "Linear-time check (ours; best of 3 runs; ms per MB should stay flat as the input grows):", "");
      lines.push("| input | MB | ms | ms/MB |", "|---|---|---|---|");
      for (const row of ours.linear) lines.push(`| ${row.input} | ${fmt(row.mb, 3)} | ${fmt(row.ms, 1)} | ${fmt(row.msPerMb, 1)} |`);
    }
  } else {
    lines.push("", "Our Tokenizer was not available in this run, so no ratios.");
  }
  const json = {
    machine: m,
    options: args,
    oursModule: process.env.QWEN2_BENCH_OURS ?? "dist/src/node/tokenizer.js",
    corpus: { docs: docsCount, docsBytes, bigBytes },
    results: results.map(({ docHashes: _h, bigHash: _b, ...rest }) => ({
      ...rest,
      label: ENGINES.find((e) => e.name === rest.name)?.label,
      idsVsOurs: idAgreement(rest as ChildResult, ours, ENGINES.find((e) => e.name === rest.name)!),
    })),
  };
  return { md: lines.join("\n") + "\n", json };
}

function runEngineChild(spec: EngineSpec, args: Args, withLinearCheck: boolean): ChildResult {
  const child = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      "--max-old-space-size=8192",
      fileURLToPath(import.meta.url),
      "--child",
      spec.name,
      String(args.docsMb),
      String(args.minSeconds),
      spec.name === "ours" && withLinearCheck ? "1" : "0",
    ],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] },
  );
  const lastLine = child.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(lastLine) as ChildResult;
  } catch {
    return { name: spec.name, ok: false, error: `child exited with ${child.status ?? child.signal}` };
  }
}

/** An engine's best figures over rounds (fastest throughput, quickest load, least memory). */
function bestOf(runs: ChildResult[]): ChildResult {
  const ok = runs.filter((r) => r.ok);
  if (ok.length === 0) return runs[0]!;
  const min = (f: (r: ChildResult) => number | undefined): number | undefined => Math.min(...ok.map((r) => f(r) ?? Infinity));
  const best = (f: (r: ChildResult) => Throughput | undefined): Throughput | undefined =>
    ok.map(f).reduce<Throughput | undefined>((a, b) => (b !== undefined && (a === undefined || b.mbPerS > a.mbPerS) ? b : a), undefined);
  return {
    ...ok[0]!,
    importMs: min((r) => r.importMs),
    loadMs: min((r) => r.loadMs),
    loadRssMb: min((r) => r.loadRssMb),
    loadPeakRssMb: min((r) => r.loadPeakRssMb),
    peakRssMb: min((r) => r.peakRssMb),
    encodeDocs: best((r) => r.encodeDocs),
    encodeBig: best((r) => r.encodeBig),
    decodeDocs: best((r) => r.decodeDocs),
    decodeBig: best((r) => r.decodeBig),
    linear: ok.find((r) => r.linear !== undefined)?.linear,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--child") {
    const [, name, docsMb, minSeconds, linear] = argv;
    const result = await runChild(name!, Number(docsMb), Number(minSeconds), linear === "1");
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const args = parseArgs(argv);
  const corpus = loadCorpus(args.docsMb);
  const engines = ENGINES.filter((e) => args.only === null || args.only.includes(e.name));
  // Rounds alternate the engines, and each figure is an engine's best over the rounds: on
  // a shared machine, load from other jobs comes and goes, and alternating keeps one
  // engine from taking all the quiet (or all the busy) minutes.
  const rounds: ChildResult[][] = engines.map(() => []);
  for (let round = 0; round < args.rounds; round++) {
    engines.forEach((spec, i) => {
      process.stderr.write(`bench:tokenizer: round ${round + 1}/${args.rounds}: ${spec.label} ...\n`);
      const result = runEngineChild(spec, args, round === 0);
      rounds[i]!.push(result);
      if (result.ok) {
        process.stderr.write(
          `  load ${fmt(result.loadMs, 0)} ms, encode ${fmt(result.encodeDocs?.mbPerS)} MB/s (docs) ${fmt(result.encodeBig?.mbPerS)} MB/s (4 MB), decode ${fmt(result.decodeDocs?.mbPerS)} / ${fmt(result.decodeBig?.mbPerS)} MB/s\n`,
        );
      } else {
        process.stderr.write(`  unavailable: ${result.error}\n`);
      }
    });
  }
  const results = rounds.map(bestOf);
  const { md, json } = report(results, args, corpus.docsBytes, corpus.docs.length, corpus.bigBytes);
  process.stdout.write(md);
  if (args.write) {
    const out = resolve(repoRoot, "bench/results");
    mkdirSync(out, { recursive: true });
    writeFileSync(resolve(out, "tokenizer.json"), JSON.stringify(json, null, 2) + "\n");
    writeFileSync(resolve(out, "tokenizer.md"), md);
    process.stderr.write(`bench:tokenizer: wrote bench/results/tokenizer.{json,md}\n`);
  }
}

main().catch((e: unknown) => {
  console.error(`bench:tokenizer: ${(e as Error).message}`);
  process.exit(1);
});
