/**
 * Constrained decoding cost on the real Qwen2 vocabulary (151,936 ids) for the schemas of
 * issue 12's attacks (a 20k- and a 100k-string enum, a 100k-property object) and a typical
 * nested schema. Run: `npm run build && node --expose-gc dist/bench/constraints.js`.
 *
 * Per schema: compile time (and the longest stretch the event loop waited meanwhile, with
 * the async compiler), the first mask (a cold trie walk), then a 200-token generation with
 * random logits sampled under the constraint: mean and worst time per token of the
 * constraint alone, trie walks made, heap and RSS added; then the same request again (every
 * mask cached: a server's steady state). Writes bench/results/constraints.json.
 *
 * QWEN2_BENCH_CONSTRAINTS=path/to/module.js measures another engine exposing compileSchema,
 * JsonConstraint and VocabIndex (e.g. an esbuild bundle of an older commit's constraints/),
 * synchronously; QWEN2_BENCH_TOKENS sets the tokens generated (default 200).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import type { TextTokenizer } from "../src/tokenizer/types.js";

interface Engine {
  compileSchema(schema: unknown, param: string): unknown;
  compileSchemaAsync?(schema: unknown, param: string, options?: { cache?: boolean }): Promise<unknown>;
  JsonConstraint: new (
    index: unknown,
    schema: never,
    eos: number[],
  ) => { process(l: Float32Array, c: { prompt: Int32Array; generated: number[] }): void };
  VocabIndex: new (vocabSize: number, tok: TextTokenizer) => { walks?: number };
}

const VOCAB = 151936;
const TOKENS = Number(process.env.QWEN2_BENCH_TOKENS ?? 200);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;

function schemas(): [string, unknown][] {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `option-${i.toString(36)}-${(i * 7919) % 1000}`);
  const props: Record<string, unknown> = {};
  for (let i = 0; i < 100_000; i++) props[`field_${i}`] = { type: "string" };
  return [
    [
      "nested (refs, nullable enum, bounds)",
      {
        type: "object",
        properties: {
          people: { type: "array", items: { $ref: "#/$defs/P" }, maxItems: 20 },
          status: { anyOf: [{ enum: ["open", "closed"] }, { type: "null" }] },
        },
        required: ["people", "status"],
        $defs: {
          P: {
            type: "object",
            properties: { name: { type: "string", maxLength: 20 }, age: { type: "integer", minimum: 0, maximum: 130 } },
            required: ["name", "age"],
          },
        },
      },
    ],
    ["enum of 20k strings", { enum: words(20_000) }],
    ["enum of 100k strings", { enum: words(100_000) }],
    ["object of 100k properties", { type: "object", properties: props }],
  ];
}

function rngOf(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const modulePath = process.env.QWEN2_BENCH_CONSTRAINTS;
  const engine = (await import(
    modulePath ? pathToFileURL(modulePath).href : "../src/generation/constraints/index.js"
  )) as unknown as Engine;
  const tokenizer = await Tokenizer.embedded();
  const eos = [tokenizer.eosTokenId ?? 151645];
  let t0 = performance.now();
  const index = new engine.VocabIndex(VOCAB, tokenizer);
  const indexMs = performance.now() - t0;
  console.log(`vocabulary index: ${indexMs.toFixed(0)} ms`);
  const rows: Record<string, unknown>[] = [];
  for (const [name, schema] of schemas()) {
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    // The longest the event loop waited while compiling (a timer firing every ms).
    let lastTick = performance.now();
    let maxLag = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - lastTick);
      lastTick = now;
    }, 1);
    t0 = performance.now();
    lastTick = t0;
    const compiled = engine.compileSchemaAsync
      ? await engine.compileSchemaAsync(schema, "schema", { cache: false })
      : engine.compileSchema(schema, "schema");
    const compileMs = performance.now() - t0;
    maxLag = Math.max(maxLag, performance.now() - lastTick);
    clearInterval(timer);
    const c = new engine.JsonConstraint(index, compiled as never, eos);
    // A model writes little layout whitespace: whitespace-only tokens get a lower logit.
    const penalty = new Float32Array(VOCAB);
    for (let id = 0; id < VOCAB; id++) {
      const b = tokenizer.idToBytes(id);
      if (b && b.length > 0 && b.every((x) => x === 0x20 || x === 0x0a || x === 0x09 || x === 0x0d)) penalty[id] = 6;
    }
    const rng = rngOf(1);
    const logits = new Float32Array(VOCAB);
    const generated: number[] = [];
    const times: number[] = [];
    const walks0 = index.walks ?? 0;
    for (let step = 0; step < TOKENS; step++) {
      for (let i = 0; i < VOCAB; i++) logits[i] = rng() * 8 - penalty[i]!;
      t0 = performance.now();
      c.process(logits, { prompt: new Int32Array(0), generated });
      times.push(performance.now() - t0);
      let best = -1;
      for (let i = 0; i < VOCAB; i++) if (logits[i]! > (best < 0 ? -Infinity : logits[best]!)) best = i;
      if (best < 0 || eos.includes(best)) break;
      generated.push(best);
    }
    const text = tokenizer.decode(generated);
    // The same request again: every state's mask is cached now (the steady state of a server).
    const again = new engine.JsonConstraint(index, compiled as never, eos);
    const warmTimes: number[] = [];
    for (let step = 0; step <= generated.length; step++) {
      logits.fill(0);
      t0 = performance.now();
      again.process(logits, { prompt: new Int32Array(0), generated: generated.slice(0, step) });
      warmTimes.push(performance.now() - t0);
    }
    gc();
    const row = {
      schema: name,
      compile_ms: Math.round(compileMs),
      compile_max_event_loop_wait_ms: engine.compileSchemaAsync ? Math.round(maxLag) : Math.round(compileMs),
      first_mask_ms: Math.round(times[0]! * 10) / 10,
      tokens: times.length,
      mean_ms_per_token: Math.round((times.reduce((a, b) => a + b, 0) / times.length) * 100) / 100,
      mean_ms_per_token_after_first: Math.round((times.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, times.length - 1)) * 100) / 100,
      worst_ms_per_token: Math.round(Math.max(...times) * 10) / 10,
      same_request_again_mean_ms_per_token: Math.round((warmTimes.reduce((a, b) => a + b, 0) / warmTimes.length) * 100) / 100,
      trie_walks: index.walks === undefined ? null : index.walks - walks0,
      heap_added_mb: mb(process.memoryUsage().heapUsed - heap0),
      rss_added_mb: mb(process.memoryUsage().rss - rss0),
      output_start: text.slice(0, 60),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (!modulePath) {
    mkdirSync("bench/results", { recursive: true });
    writeFileSync(
      "bench/results/constraints.json",
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpu: cpus()[0]?.model,
          cpus: cpus().length,
          load: loadavg()[0],
          vocab: VOCAB,
          vocab_index_ms: Math.round(indexMs),
          rows,
        },
        null,
        2,
      )}\n`,
    );
  }
}

await main();
