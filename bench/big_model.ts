/**
 * `npm run bench:big-model`: a model past 4 GiB, where one WebAssembly memory (32-bit
 * addresses) cannot hold the weights, runs through the sharded wasm backend and agrees with
 * the reference backend layer by layer. Too slow for the unit suite (two uploads of ~6 GB of
 * generated weights, a float32 TypeScript forward pass of a 3B model), so it is a script whose
 * result is committed.
 *
 * Model: random BF16 weights (generated tensor by tensor while uploading, never whole in
 * memory) of the real Qwen2.5-3B shape: hidden 2048, 36 layers, 16 heads / 2 KV heads,
 * intermediate 11008, vocabulary 151936, tied embeddings: 3.09 billion parameters, 6.2 GB.
 *
 * Checks, on an 8-token prompt: per layer, the checksum (sum and sum of squares) of the
 * residual stream after the layer, from the debug hook, within a relative 1e-4 of the
 * reference backend's; the last position's logits within 1e-3; the same greedy next token.
 *
 *   node dist/bench/big_model.js [--threads 2] [--tokens 8]
 *
 * Results: bench/results/big_model.{json,md}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Backend } from "../src/backends/ops.js";
import { ReferenceBackend } from "../src/backends/reference/index.js";
import { ShardedWasmBackend, createWasmBackend } from "../src/backends/wasm/sharded.js";
import { benchPromptIds } from "../src/cli/bench_prompts.js";
import { parseQwen2Config } from "../src/formats/config_parse.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { RandomQwen2Weights } from "../src/models/random_qwen2.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    tokens: { type: "string", default: "8" },
  },
});
const threads = Number(values.threads);
const tokens = Number(values.tokens);
const log = (m: string): void => void process.stderr.write(`[bench:big-model] ${m}\n`);

const config = parseQwen2Config(
  {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    hidden_size: 2048,
    intermediate_size: 11008,
    num_hidden_layers: 36,
    num_attention_heads: 16,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
  },
  "<Qwen2.5-3B shape, random weights>",
);
const weights = new RandomQwen2Weights(config, 3, "bf16");
const weightBytes = weights.names().reduce((sum, n) => sum + weights.info(n).byteLength, 0);
const ids = benchPromptIds(tokens, 1, config.vocab_size);

interface Run {
  backend: string;
  upload_s: number;
  forward_s: number;
  /** Per layer: [sum, sum of squares] of the residual stream after the layer, over every row. */
  layers: [number, number][];
  logits: Float32Array;
}

let usedShards = 0;

async function run(backend: Backend): Promise<Run> {
  const t0 = performance.now();
  const model = await Qwen2ForCausalLM.load({ config, weights }, backend);
  const upload = (performance.now() - t0) / 1000;
  if (backend instanceof ShardedWasmBackend) usedShards = backend.shardsUsed;
  log(`${backend.name}: uploaded ${(weightBytes / 1e9).toFixed(2)} GB in ${upload.toFixed(1)} s`);
  const layers: [number, number][] = [];
  model.setHook((name, layer, values) => {
    if (name !== "layer_out" || layer === null) return;
    let sum = 0;
    let sq = 0;
    for (const v of values) {
      sum += v;
      sq += v * v;
    }
    layers[layer] = [sum, sq];
  });
  const t1 = performance.now();
  const cache = model.createCache(tokens);
  const [logits] = await model.forward([{ ids, cache }]);
  const forward = (performance.now() - t1) / 1000;
  log(`${backend.name}: forward of ${tokens} tokens in ${forward.toFixed(1)} s`);
  cache.dispose();
  const name = backend.name;
  model.dispose();
  backend.dispose();
  return { backend: name, upload_s: upload, forward_s: forward, layers, logits: logits! };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

log(`weights: ${(weightBytes / 2 ** 30).toFixed(2)} GiB of BF16, past one 4 GiB WebAssembly memory`);
const wasmBackend = await createWasmBackend(weightBytes, { threads });
const wasm = await run(wasmBackend);
// Read after the upload: the shards that received weights.
const shards = wasmBackend instanceof ShardedWasmBackend ? usedShards : 1;
const reference = await run(new ReferenceBackend());

const layerRows = wasm.layers.map(([s, q], l) => {
  const [rs, rq] = reference.layers[l]!;
  const rel = Math.max(Math.abs(s - rs) / Math.max(1, Math.abs(rs)), Math.abs(q - rq) / Math.max(1, Math.abs(rq)));
  return { layer: l, wasm: [s, q], reference: [rs, rq], relative_difference: rel };
});
let logitsDiff = 0;
for (let i = 0; i < wasm.logits.length; i++) logitsDiff = Math.max(logitsDiff, Math.abs(wasm.logits[i]! - reference.logits[i]!));
const worstLayer = Math.max(...layerRows.map((r) => r.relative_difference));
const sameToken = argmax(wasm.logits) === argmax(reference.logits);
const pass = layerRows.length === config.num_hidden_layers && worstLayer <= 1e-4 && logitsDiff <= 1e-3 && sameToken;

const machine = {
  cpu: cpus()[0]?.model ?? "?",
  cores: cpus().length,
  memory_gib: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  load_average: loadavg().map((x) => Math.round(x * 100) / 100),
  date: new Date().toISOString(),
};
const result = {
  machine,
  model: "random BF16 weights of the Qwen2.5-3B shape",
  parameters: weights.names().reduce((sum, n) => sum + weights.info(n).shape.reduce((a, b) => a * b, 1), 0),
  weight_bytes: weightBytes,
  wasm_memories: shards,
  threads,
  tokens,
  wasm: { backend: wasm.backend, upload_s: wasm.upload_s, forward_s: wasm.forward_s },
  reference: { backend: reference.backend, upload_s: reference.upload_s, forward_s: reference.forward_s },
  worst_layer_relative_difference: worstLayer,
  last_logits_max_abs_difference: logitsDiff,
  same_greedy_token: sameToken,
  pass,
  layers: layerRows,
};
const md = [
  "# A model past 4 GiB on the sharded wasm backend (`npm run bench:big-model`)",
  "",
  `Random BF16 weights of the Qwen2.5-3B shape: ${(result.parameters / 1e9).toFixed(2)} B parameters, ${(weightBytes / 2 ** 30).toFixed(2)} GiB, over ${shards} WebAssembly memories; ${threads} threads; an ${tokens}-token prompt.`,
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Node ${machine.node}, ${machine.date}, load average ${machine.load_average.join(" / ")} (the times below include generating the random weights and say nothing about speed when other jobs share the cores).`,
  "",
  `Result: **${pass ? "pass" : "FAIL"}**. Worst per-layer checksum difference (relative, sum and sum of squares of the residual stream after each of the ${config.num_hidden_layers} layers) against the reference backend: ${worstLayer.toExponential(2)} (bound 1e-4); last logits: ${logitsDiff.toExponential(2)} (bound 1e-3); same greedy token: ${sameToken}.`,
  "",
  "| backend | upload s | forward s |",
  "|---|---|---|",
  `| ${wasm.backend} (${shards} memories) | ${wasm.upload_s.toFixed(1)} | ${wasm.forward_s.toFixed(1)} |`,
  `| ${reference.backend} | ${reference.upload_s.toFixed(1)} | ${reference.forward_s.toFixed(1)} |`,
];
const dir = join(repo, "bench/results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "big_model.json"), JSON.stringify(result, null, 2) + "\n");
writeFileSync(join(dir, "big_model.md"), md.join("\n") + "\n");
process.stdout.write(md.join("\n") + "\n");
if (!pass) process.exitCode = 1;
