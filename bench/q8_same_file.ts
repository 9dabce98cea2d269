/**
 * `node dist/bench/q8_same_file.js`: why our engine and llama.cpp differ on the SAME Q8_0 file
 * of a real shape (bench:quality's "same file" column), measured against the noise floor.
 *
 * On the tiny fixture (test/formats/gguf_llama_cpp.test.ts) the ggml-emulating reference and
 * llama.cpp with an F32 cache agree to float32 rounding (1e-6). On 24 layers of hidden 896,
 * float32 rounding differences (summation order, float64 vs float32 sums) move some
 * activations across the midpoint between two Q8_0 steps, and each such flip moves the output
 * by a quant step. This script compares, position by position on one prompt:
 * - llama.cpp (F32 K/V cache, no flash attention) against our wasm backend and against
 *   `ReferenceBackend({ activations: "ggml" })`;
 * - the wasm backend against that reference (two implementations exact to float32 rounding);
 * - that reference against itself with every matmul input jittered by about one float32 ulp:
 *   the noise floor that float32 rounding alone produces through Q8_0 activations.
 * If llama.cpp's distance to us is of the noise floor's size, the gap is rounding, not a bug.
 *
 * Options: --model FILE.gguf (default .models/bench/qwen2-0.5b-random.q8_0.gguf, written by
 * bench:model), --tokens N (default 4). Results: bench/results/q8_same_file.{json,md}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Backend, Mat, Weight } from "../src/backends/ops.js";
import { type RefMat, ReferenceBackend } from "../src/backends/reference/index.js";
import { WasmBackend } from "../src/backends/wasm/backend.js";
import { openGGUF } from "../src/formats/gguf_qwen2.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { fileSource } from "../src/node/files.js";
import { mulberry32 } from "../src/tensor/random.js";
import { type GenerateNext, loadLlamaCpp } from "./llama_cpp.js";
import { peerVersion } from "./peers.js";
import { benchPromptIds } from "./prompt_ids.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: join(repo, ".models/bench/qwen2-0.5b-random.q8_0.gguf") },
    tokens: { type: "string", default: "4" },
  },
});
const path = resolve(values.model!);
const n = Number(values.tokens);
if (!Number.isInteger(n) || n < 1) throw new Error(`q8_same_file: --tokens takes a positive integer, got ${values.tokens}`);
const ids = benchPromptIds(n, 100);
const log = (m: string): void => void process.stderr.write(`[q8_same_file] ${m}\n`);

function logSoftmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]!);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
}

/** KL(p ‖ q) in nats from log-probabilities. */
function kl(lp: Float64Array, lq: Float64Array): number {
  let s = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]!);
    if (p > 0) s += p * (lp[i]! - lq[i]!);
  }
  return s;
}

/** The ggml-emulating reference with each matmul input multiplied by 1 + u, |u| ≤ 1.2e-7 (about one float32 ulp). */
class JitteredReference extends ReferenceBackend {
  private readonly next = mulberry32(12345);
  constructor() {
    super({ activations: "ggml" });
  }
  override matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, rows: number): void {
    const data = (x as RefMat).data;
    const saved = data.slice();
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * (1 + (this.next() / 4294967296 - 0.5) * 2.4e-7);
    super.matmul(out, x, w, bias, rows);
    data.set(saved);
  }
}

async function ours(backend: Backend): Promise<Float64Array[]> {
  const g = await openGGUF(await fileSource(path));
  const m = await Qwen2ForCausalLM.load({ config: g.config, weights: g.weights }, backend);
  try {
    const cache = m.createCache(n);
    const [all] = await m.forward([{ ids: Int32Array.from(ids), cache }], { allLogits: true });
    cache.dispose();
    const vocab = all!.length / n;
    return ids.map((_, p) => logSoftmax(all!.subarray(p * vocab, (p + 1) * vocab)));
  } finally {
    m.dispose();
    g.close();
  }
}

async function llamaCpp(vocab: number): Promise<Float64Array[]> {
  const llama = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    const context = await model.createContext({
      contextSize: 64,
      threads: 2,
      sequences: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    const full: GenerateNext = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } };
    const res = await context.getSequence().controlledEvaluate(ids.map((id) => [id, full] as const));
    await context.dispose();
    return ids.map((_, p) => {
      const lp = new Float64Array(vocab).fill(Math.log(1e-45));
      for (const [id, pr] of res[p]!.next.probabilities!) lp[id] = Math.log(Math.max(pr, 1e-45));
      return lp;
    });
  } finally {
    await model.dispose();
    await llama.dispose();
  }
}

const t0 = performance.now();
const wasmBackend = await WasmBackend.create({ threads: 2 });
const wasm = await ours(wasmBackend);
wasmBackend.dispose();
log(`${wasmBackend.name} done`);
const emulated = await ours(new ReferenceBackend({ activations: "ggml" }));
log("reference (activations: ggml) done");
const jittered = await ours(new JitteredReference());
log("jittered reference done");
const llama = await llamaCpp(wasm[0]!.length);
log(`llama.cpp done (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);

const pairs: Array<[string, Float64Array[], Float64Array[]]> = [
  ["KL(llama.cpp ‖ ours, wasm)", llama, wasm],
  ["KL(llama.cpp ‖ reference, activations: ggml)", llama, emulated],
  ["KL(reference ‖ wasm): two float32-exact implementations", emulated, wasm],
  ["KL(reference ‖ reference with inputs jittered 1 ulp): the noise floor", emulated, jittered],
];
const rows = pairs.map(([what, p, q]) => ({ what, per_position: p.map((lp, i) => kl(lp, q[i]!)) }));
const machine = {
  cpu: cpus()[0]?.model ?? "?",
  cores: cpus().length,
  node: process.version,
  node_llama_cpp: peerVersion("node-llama-cpp") ?? "not installed",
  wasm_build: wasmBackend.name,
  load_average: loadavg().map((x) => Math.round(x * 100) / 100),
  date: new Date().toISOString(),
};
const md = [
  "# Ours and llama.cpp on the same Q8_0 file: the gap against the float32 noise floor",
  "",
  `Model: \`${path.replace(`${repo}/`, "")}\`; ${n} pseudo-random prompt tokens (bench/prompt_ids.ts, seed 100); llama.cpp (node-llama-cpp ${machine.node_llama_cpp}) with an F32 K/V cache and no flash attention; ours on ${machine.wasm_build} (2 threads) and on the reference backend with ggml's activation quantisation.`,
  `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}, load average ${machine.load_average.join(" / ")} (timing plays no part here).`,
  "",
  `| KL in nats, per position | ${ids.map((_, i) => i).join(" | ")} |`,
  `|---|${ids.map(() => "---").join("|")}|`,
  ...rows.map((r) => `| ${r.what} | ${r.per_position.map((x) => x.toExponential(2)).join(" | ")} |`),
  "",
  "The last row is the size of what float32 rounding alone does through Q8_0 activations on this model: where llama.cpp's distance to us is of that size, the two compute the same arithmetic up to rounding-boundary flips.",
];
const dir = join(repo, "bench/results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "q8_same_file.json"), `${JSON.stringify({ machine, model: path, tokens: ids, rows }, null, 2)}\n`);
writeFileSync(join(dir, "q8_same_file.md"), `${md.join("\n")}\n`);
process.stdout.write(`${md.join("\n")}\n`);
