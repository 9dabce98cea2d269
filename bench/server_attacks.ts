/**
 * The adversarial section of `npm run bench:server` (also alone: `node dist/bench/server_attacks.js`).
 *
 * `qwen2 serve` runs as a child process (default settings but --ctx 2048 --parallel 4) on a
 * model folder; this process replays the attacks of issue 12 one at a time while one
 * well-behaved client streams a chat answer, and measures:
 *
 * - that client's decode rate (tokens/s between its first and last token) and p99
 *   inter-token latency, against the same client on the idle server;
 * - /health latency (p50/p99, polled every 25 ms through each phase from a worker thread, so this
 *   process's own work does not count);
 * - the server's RSS (from /proc) before and after each attack, after it has ended;
 * - what the attack itself got (status, time).
 *
 * Attacks: a response_format schema with an `enum` of 20k and of 100k strings; 500 sockets
 * that send headers and a few body bytes, then stall; /v1/embeddings with 10,000 inputs of
 * 380 bytes; a stream of n=16 × 2000 tokens with logprobs read at 1 byte/s; a 4 MB prompt.
 *
 * Each phase is bounded: a good-client answer not finished within --client-timeout seconds
 * (default 60) is cut and counted as 0 tokens/s, and the phase's remaining answers are
 * skipped, so a starved client shows as a failed target instead of a hung run and the whole
 * section stays within about 8 phases × the timeout. Every phase prints the targets as met or not.
 *
 * Options: --model DIR|FILE.gguf (default: the bench's random tiny model), --tokens N (the
 * good client's answer, default 64; 16 suits the 0.5B shape on 2 cores), --client-timeout S,
 * --backend, --out NAME (results file stem, default server_attacks). Results:
 * bench/results/NAME.{json,md}.
 *
 *   node dist/bench/server_attacks.js                     # tiny model, ~2 min on 2 cores
 *   node dist/bench/server_attacks.js --model .models/bench/qwen2-0.5b-random.q8_0.gguf --tokens 16
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { sseEvents } from "./sse.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const log = (m: string): void => void process.stderr.write(`[bench:server attacks] ${m}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Serve {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
}

async function startServe(model: string, backend: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [
      join(repo, "bin/qwen2.js"),
      "serve",
      "--model",
      model,
      "--port",
      "0",
      "--ctx",
      "2048",
      "--parallel",
      "4",
      "--no-webui",
      "--backend",
      backend,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
      if (m) res(m[1]!);
    });
    child.on("exit", () => rej(new Error(`serve exited: ${err}`)));
  });
  return { url, child, stderr: () => err };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : -1;
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

interface ClientRun {
  tokens: number;
  tps: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
  ttft_ms: number;
}

/**
 * The well-behaved client: one streamed legacy completion of `tokens` tokens, sampled with a
 * seed, ignore_eos. (A random-weight model's greedy chat answer is a run of newlines, which
 * the chat endpoint holds back while it could still open a tool call; a completion streams
 * each token's text as it comes.)
 */
async function goodClient(url: string, tokens: number, allGaps: number[] = [], timeoutS = 60): Promise<ClientRun> {
  const t0 = performance.now();
  const signal = AbortSignal.timeout(timeoutS * 1000);
  // A pooled keep-alive connection the server closes as it is reused fails before any answer: retry that once.
  const send = (): Promise<Response> =>
    fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        prompt: "Write a short story about a lighthouse keeper.",
        max_tokens: tokens,
        temperature: 1,
        seed: 7,
        ignore_eos: true,
        stream: true,
      }),
      signal,
    });
  const cut = (got: number[]): ClientRun => {
    log(`good client: cut after ${timeoutS} s with ${got.length} of ${tokens} tokens`);
    return {
      tokens: got.length,
      tps: 0,
      itl_p50_ms: Number.NaN,
      itl_p99_ms: Number.POSITIVE_INFINITY,
      ttft_ms: got.length > 0 ? round(got[0]! - t0) : Number.POSITIVE_INFINITY,
    };
  };
  let res: Response;
  try {
    res = await send().catch((err: Error) => {
      if (signal.aborted) throw err;
      return send();
    });
  } catch (err) {
    if (signal.aborted) return cut([]);
    throw err;
  }
  if (!res.ok || !res.body) throw new Error(`good client: HTTP ${res.status}: ${await res.text()}`);
  const times: number[] = [];
  try {
    for await (const ev of sseEvents<{ choices: { text: string; finish_reason: string | null }[] }>(res.body)) {
      // One chunk per generated token (a token that ends inside a UTF-8 character waits for the next).
      if (ev.choices.some((c) => c.text !== "")) times.push(performance.now());
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    return cut(times);
  }
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  allGaps.push(...gaps);
  const span = (times.at(-1)! - times[0]!) / 1000;
  return {
    tokens: times.length,
    tps: round((times.length - 1) / span),
    itl_p50_ms: round(percentile(gaps, 50)),
    itl_p99_ms: round(percentile(gaps, 99)),
    ttft_ms: round(times[0]! - t0),
  };
}

/**
 * Polls /health every 25 ms until stopped; resolves to the latencies (ms). A request that
 * fails on a pooled keep-alive connection the server closed as it was reused is retried once
 * (the time of both tries counts); one that fails twice counts as infinitely slow.
 *
 * The poller runs on a worker thread of its own: on this process's event loop, its timings
 * would also hold whatever this process does meanwhile (sending an attack's body, reading
 * the good client's stream), which is not the server's latency.
 */
function healthPoller(url: string): { ready: Promise<void>; stop(): Promise<number[]> } {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require("node:worker_threads");
    const lat = [];
    let running = true;
    parentPort.once("message", () => (running = false));
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const get = async () => void (await (await fetch(workerData + "/health")).arrayBuffer());
    (async () => {
      // Untimed first requests: a worker's first fetch loads and compiles the HTTP client
      // (70-100 ms here, ~10 ms for the second), which is this poller's cost, not the server's.
      for (let i = 0; i < 3; i++) await get().catch(() => get());
      parentPort.postMessage("ready");
      while (running) {
        const t0 = performance.now();
        try {
          await get().catch(() => get());
          lat.push(performance.now() - t0);
        } catch {
          lat.push(Number.POSITIVE_INFINITY);
        }
        await sleep(25);
      }
      parentPort.postMessage(lat);
    })();
    `,
    { eval: true, workerData: url },
  );
  let ready!: () => void;
  const readyP = new Promise<void>((resolve) => (ready = resolve));
  const done = new Promise<number[]>((resolve, reject) => {
    worker.on("message", (m: "ready" | number[]) => (m === "ready" ? ready() : resolve(m)));
    worker.once("error", reject);
  });
  return {
    ready: Promise.race([readyP, done.then(() => undefined)]),
    stop: async () => {
      worker.postMessage("stop");
      const lat = await done;
      await worker.terminate();
      return lat;
    },
  };
}

function postJson(url: string, path: string, body: Uint8Array<ArrayBuffer>): Promise<{ status: number; ms: number; code: string | null }> {
  const t0 = performance.now();
  // Bounded like the good client's answers, so no attack can hold the section up.
  return fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(120_000) })
    .then(async (r) => {
      const text = await r.text();
      let code: string | null = null;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
      } catch {
        // a non-JSON answer has no code
      }
      return { status: r.status, ms: round(performance.now() - t0), code };
    })
    .catch(() => ({ status: -1, ms: round(performance.now() - t0), code: "connection failed or cut after 120 s" }));
}

/** A body as UTF-8 bytes, so that sending it costs this process no encoding during the phase. */
const utf8 = (value: unknown): Uint8Array<ArrayBuffer> => new TextEncoder().encode(JSON.stringify(value));

function enumSchemaBody(n: number): Uint8Array<ArrayBuffer> {
  const values = Array.from({ length: n }, (_, i) => `value-${i.toString(36)}-x`);
  return utf8({
    messages: [{ role: "user", content: "pick one" }],
    max_tokens: 8,
    response_format: {
      type: "json_schema",
      json_schema: { name: "pick", schema: { type: "object", properties: { v: { enum: values } }, required: ["v"] } },
    },
  });
}

/** An attack: starts, runs while the good client streams, then stops; says what it got. */
interface Attack {
  readonly name: string;
  /** Builds what the attack sends before the phase starts, so the bench's own work is not measured. */
  prepare?(): void;
  start(url: string): Promise<{ stop(): Promise<string> }>;
}

const attacks: Attack[] = [
  ...[20_000, 100_000].map((n): Attack => {
    let body = new Uint8Array(0);
    return {
      name: `schema enum ${n / 1000}k`,
      prepare() {
        body = enumSchemaBody(n);
      },
      async start(url) {
        const done = postJson(url, "/v1/chat/completions", body);
        return {
          stop: async () => ((r) => `${(body.length / 1e6).toFixed(2)} MB body → ${r.status} ${r.code ?? ""} in ${r.ms} ms`)(await done),
        };
      },
    };
  }),
  {
    name: "500 stalled bodies",
    async start(url) {
      const { port } = new URL(url);
      const sockets: Socket[] = [];
      let refused = 0;
      for (let i = 0; i < 500; i++) {
        const s = connect(Number(port), "127.0.0.1");
        s.on("error", () => refused++);
        s.on("data", () => {});
        s.write(
          'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"messages":',
        );
        sockets.push(s);
      }
      return {
        stop: async () => {
          const open = sockets.filter((s) => !s.destroyed).length;
          for (const s of sockets) s.destroy();
          return `${open} of 500 still open when the client finished (${refused} errors); all closed`;
        },
      };
    },
  },
  (() => {
    let body = new Uint8Array(0);
    return {
      name: "10k-input embeddings",
      prepare() {
        body = utf8({ input: Array.from({ length: 10_000 }, (_, i) => `${i} `.padEnd(380, "lorem ipsum ")) });
      },
      async start(url: string) {
        const done = postJson(url, "/v1/embeddings", body);
        return {
          stop: async () => ((r) => `${(body.length / 1e6).toFixed(2)} MB body → ${r.status} ${r.code ?? ""} in ${r.ms} ms`)(await done),
        };
      },
    };
  })(),
  {
    name: "1 byte/s reader (n=16 × 2000 tokens, logprobs)",
    async start(url) {
      const { port } = new URL(url);
      const s = connect(Number(port), "127.0.0.1");
      s.on("error", () => {});
      const body = JSON.stringify({
        messages: [{ role: "user", content: "babble" }],
        n: 16,
        max_tokens: 2000,
        temperature: 1,
        ignore_eos: true,
        logprobs: true,
        top_logprobs: 5,
        stream: true,
      });
      s.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      s.pause();
      let read = 0;
      const timer = setInterval(() => {
        if (s.read(1)) read++;
      }, 1000);
      return {
        stop: async () => {
          clearInterval(timer);
          s.destroy();
          return `read ${read} bytes, then disconnected`;
        },
      };
    },
  },
  (() => {
    let body = new Uint8Array(0);
    return {
      name: "4 MB prompt",
      prepare() {
        body = utf8({ prompt: "word ".repeat(800_000), max_tokens: 4 });
      },
      async start(url: string) {
        const done = postJson(url, "/v1/completions", body);
        return {
          stop: async () => ((r) => `${(body.length / 1e6).toFixed(2)} MB body → ${r.status} ${r.code ?? ""} in ${r.ms} ms`)(await done),
        };
      },
    };
  })(),
];

interface PhaseResult {
  phase: string;
  client: ClientRun;
  tps_ratio: number;
  itl_p99_ratio: number;
  health_p50_ms: number;
  health_p99_ms: number;
  health_max_ms: number;
  rss_before_mb: number;
  rss_after_mb: number;
  attack: string;
  /** Issue 12's targets for this phase: tok/s ≥ 0.8× idle, ITL p99 ≤ 2× idle, /health p99 ≤ 50 ms, RSS after ≤ 1.1× before. */
  targets: { tps: boolean; itl: boolean; health: boolean; rss: boolean };
}

/** The constraint caches' sizes and the fair-share count when the last run ended (for the notes). */
export const lastCaches = { schemaMb: Number.NaN, maskMb: Number.NaN, yielded: Number.NaN };

/** Issue 12's targets. */
export const TARGETS = { tpsRatio: 0.8, itlRatio: 2, healthP99Ms: 50, rssGrowth: 1.1 } as const;

function targetsOf(r: Omit<PhaseResult, "targets">): PhaseResult["targets"] {
  return {
    tps: r.tps_ratio >= TARGETS.tpsRatio,
    itl: r.itl_p99_ratio <= TARGETS.itlRatio,
    health: r.health_p99_ms <= TARGETS.healthP99Ms,
    rss: r.rss_after_mb <= r.rss_before_mb * TARGETS.rssGrowth,
  };
}

const mark = (ok: boolean): string => (ok ? "✓" : "✗");

function targetLine(t: PhaseResult["targets"]): string {
  return `tok/s ${mark(t.tps)} ITL ${mark(t.itl)} /health ${mark(t.health)} RSS ${mark(t.rss)}`;
}

export async function runAttacks(
  model: string,
  options: { tokens?: number; backend?: string; clientTimeoutS?: number } = {},
): Promise<PhaseResult[]> {
  const tokens = options.tokens ?? 64;
  const timeoutS = options.clientTimeoutS ?? 60;
  const started = performance.now();
  const caches = lastCaches;
  const serve = await startServe(model, options.backend ?? "wasm");
  const pid = serve.child.pid!;
  const results: PhaseResult[] = [];
  try {
    await goodClient(serve.url, 8); // warm-up
    const phase = async (name: string, attack: Attack | null): Promise<void> => {
      attack?.prepare?.();
      const rssBefore = rssMb(pid);
      const health = healthPoller(serve.url);
      await health.ready;
      const running = attack ? await attack.start(serve.url) : null;
      await sleep(attack ? 300 : 0);
      // Three answers in a row (the attack running throughout): the median rate, the p99 of all gaps.
      const runs: ClientRun[] = [];
      const gaps: number[] = [];
      for (let i = 0; i < 3; i++) {
        runs.push(await goodClient(serve.url, tokens, gaps, timeoutS));
        if (runs.at(-1)!.tps === 0) break; // cut: the phase has failed its target; don't wait twice more
      }
      const client: ClientRun = {
        tokens: runs.reduce((n, r) => n + r.tokens, 0),
        tps: percentile(
          runs.map((r) => r.tps),
          50,
        ),
        itl_p50_ms: round(percentile(gaps, 50)),
        itl_p99_ms: round(percentile(gaps, 99)),
        ttft_ms: percentile(
          runs.map((r) => r.ttft_ms),
          50,
        ),
      };
      const outcome = running ? await running.stop() : "";
      const lat = await health.stop();
      await sleep(1500); // let the server free what the attack held
      const idle = results[0]?.client ?? client;
      const measured: Omit<PhaseResult, "targets"> = {
        phase: name,
        client,
        tps_ratio: round(client.tps / idle.tps, 2),
        itl_p99_ratio: round(client.itl_p99_ms / idle.itl_p99_ms, 2),
        health_p50_ms: round(percentile(lat, 50)),
        health_p99_ms: round(percentile(lat, 99)),
        health_max_ms: round(Math.max(...lat)),
        rss_before_mb: rssBefore,
        rss_after_mb: rssMb(pid),
        attack: outcome,
      };
      const r: PhaseResult = { ...measured, targets: targetsOf(measured) };
      log(
        `${name}: ${client.tps} tok/s (${r.tps_ratio}x), ITL p99 ${client.itl_p99_ms} ms (${r.itl_p99_ratio}x), /health p99 ${r.health_p99_ms} ms, RSS ${r.rss_before_mb} → ${r.rss_after_mb} MB; ${outcome} [${targetLine(r.targets)}; ${round((performance.now() - started) / 1000, 0)} s so far]`,
      );
      results.push(r);
    };
    await phase("idle", null);
    for (const a of attacks) await phase(a.name, a);
    await phase("idle again", null);
    // What the process-wide caches hold by design (up to --schema-cache-bytes + --mask-cache-bytes) explains part of the RSS growth.
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1] ?? Number.NaN);
    caches.schemaMb = round(gauge("qwen2_schema_cache_bytes") / 2 ** 20);
    caches.maskMb = round(gauge("qwen2_mask_cache_bytes") / 2 ** 20);
    caches.yielded = gauge("qwen2_slots_yielded_total");
    log(`at the end: schema cache ${caches.schemaMb} MB, mask cache ${caches.maskMb} MB, slots yielded (fair share) ${caches.yielded}`);
  } finally {
    serve.child.kill("SIGTERM");
    await new Promise((r) => serve.child.once("exit", r));
  }
  return results;
}

export function attacksMarkdown(results: readonly PhaseResult[], header: string): string {
  // Against both idle runs (first and last): on shared cores the load drifts during the run.
  const last = results.at(-1)!.client;
  const vsLast = (r: PhaseResult): string => `${round(r.client.tps / last.tps, 2)}× / ${round(r.client.itl_p99_ms / last.itl_p99_ms, 2)}×`;
  const rows = results.map(
    (r) =>
      `| ${r.phase} | ${r.client.tps} (${r.tps_ratio}×) | ${r.client.itl_p99_ms} (${r.itl_p99_ratio}×) | ${vsLast(r)} | ${r.health_p50_ms} / ${r.health_p99_ms} (max ${r.health_max_ms}) | ${r.rss_before_mb} → ${r.rss_after_mb} | ${targetLine(r.targets)} | ${r.attack} |`,
  );
  const first = results[0]!;
  const end = results.at(-1)!;
  const rssBack = end.rss_after_mb <= first.rss_before_mb * TARGETS.rssGrowth;
  const attacked = results.slice(1, -1);
  const met = (k: keyof PhaseResult["targets"]): string => `${attacked.filter((r) => r.targets[k]).length}/${attacked.length}`;
  return [
    "## Under attack (`npm run bench:server`, adversarial section)",
    "",
    header,
    "",
    "Targets (issue 12): the good client keeps ≥ 0.8× its idle tokens/s and ≤ 2× its idle p99 inter-token latency; /health answers within 50 ms (p99); RSS comes back within 10% after an attack. ✓/✗ per phase against the first idle run.",
    "",
    "| phase | good client tok/s (vs first idle) | ITL p99 ms (vs first idle) | tok/s / ITL p99 vs last idle | /health p50 / p99 ms | server RSS MB before → after | targets | what the attack got |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Attacked phases meeting each target: tok/s ${met("tps")}, ITL p99 ${met("itl")}, /health p99 ${met("health")}, RSS ${met("rss")}. RSS at the end ${end.rss_after_mb} MB vs ${first.rss_before_mb} MB at the start: ${rssBack ? "back within 10% ✓" : "not back within 10% ✗"} (of which the compiled-schema cache holds ${lastCaches.schemaMb} MB and the token-mask cache ${lastCaches.maskMb} MB, kept by design up to --schema-cache-bytes and --mask-cache-bytes). Slots a many-choice request yielded to a waiting one (fair share): ${lastCaches.yielded}.`,
    "",
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const model = resolve(flag("model") ?? join(repo, ".models/bench-server/random-tiny"));
  if (flag("model") === undefined && !existsSync(join(model, "config.json"))) {
    log(`creating the random tiny model in ${model}`);
    const made = spawnSync(
      process.execPath,
      [join(repo, "bin/qwen2.js"), "create-random", "--preset", "tiny", "--out", model, "--seed", "1"],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    if (made.status !== 0) throw new Error("create-random failed");
  }
  const t0 = performance.now();
  const results = await runAttacks(model, {
    tokens: Number(flag("tokens") ?? 64),
    backend: flag("backend") ?? "wasm",
    clientTimeoutS: Number(flag("client-timeout") ?? 60),
  });
  const stem = flag("out") ?? "server_attacks";
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    mem_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg_1m: loadavg()[0] ?? 0,
    date: new Date().toISOString(),
  };
  const header = `Model: ${model.startsWith(repo) ? model.slice(repo.length + 1) : model} (qwen2 serve --ctx 2048 --parallel 4, other settings default). Machine: ${machine.cpus} × ${machine.cpu}, ${machine.mem_gb} GB, Node ${machine.node}, ${machine.date}, load average ${machine.loadavg_1m.toFixed(2)} at the start; the whole section took ${Math.round((performance.now() - t0) / 1000)} s.`;
  const resultsDir = join(repo, "bench/results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${stem}.json`), `${JSON.stringify({ machine, model, results }, null, 2)}\n`);
  const md = attacksMarkdown(results, header);
  writeFileSync(join(resultsDir, `${stem}.md`), `# Server under attack\n\n${md}`);
  process.stdout.write(md);
}
