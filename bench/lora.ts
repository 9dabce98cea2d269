/**
 * What unmerged LoRA adapters cost on the wasm backend, on the Qwen2.5-0.5B shape (hidden 896,
 * 24 layers, intermediate 4864) with random Q8_0 weights built in memory and random adapters
 * of rank `--rank` on every linear layer (q, k, v, o, gate, up, down), measured in one run:
 *
 * - prefill of `--prompt` tokens and single-sequence decode, base vs one adapter;
 * - a batch of 4 sequences decoding together: all base, all one adapter, two adapters (2 + 2),
 *   and one adapter + base (2 + 2): a step with several adapters gathers each group's rows.
 *
 *   node dist/bench/lora.js [--rank 16] [--prompt 128] [--decode 16] [--rounds 5] [--threads N]
 *
 * Every scenario runs once per round; figures are medians over rounds, and each ratio to the
 * base is taken within a round (the base run of the same batch size moments before), which
 * a machine shared with other jobs disturbs least (the load average is recorded).
 * Results: bench/results/lora.{json,md}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WasmBackend } from "../src/backends/wasm/index.js";
import { parseQwen2Config } from "../src/formats/config_parse.js";
import { randomPresetConfig } from "../src/formats/random_model.js";
import { openPeftAdapter } from "../src/formats/peft_adapter.js";
import { safetensorsChunks } from "../src/formats/safetensors_writer.js";
import type { HostTensor, TensorInfo, WeightSource } from "../src/formats/weights.js";
import { memoryFiles } from "../src/io/byte_source.js";
import { LoraAdapter, type AdapterChoice } from "../src/models/lora.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { RandomQwen2Weights } from "../src/models/random_qwen2.js";
import { quantize } from "../src/tensor/quant/index.js";
import { randomWeightBytes } from "../src/tensor/random.js";
import { benchPromptIds } from "../src/cli/bench_prompts.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    rank: { type: "string", default: "16" },
    prompt: { type: "string", default: "128" },
    decode: { type: "string", default: "16" },
    threads: { type: "string" },
    rounds: { type: "string", default: "5" },
  },
});
const rank = Number(values.rank);
const promptLen = Number(values.prompt);
const decodeSteps = Number(values.decode);
const rounds = Number(values.rounds);

const config = parseQwen2Config(randomPresetConfig("qwen2.5-0.5b", "bf16", 151936, 0), "<qwen2.5-0.5b preset>");

/** Random weights with every matrix as Q8_0 blocks (vectors stay float). */
class Q8Weights implements WeightSource {
  private readonly inner = new RandomQwen2Weights(config, 0, "f32");
  readonly location = "<random qwen2.5-0.5b, q8_0>";
  names = () => this.inner.names();
  has = (n: string) => this.inner.has(n);
  info = (n: string): TensorInfo => this.inner.info(n);
  async read(name: string): Promise<HostTensor> {
    const t = await this.inner.read(name);
    if (t.shape.length !== 2) return t;
    const values = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
    return { ...t, dtype: "q8_0", data: quantize("q8_0", values) };
  }
  close(): void {}
}

async function randomAdapter(seed: number): Promise<ReturnType<typeof openPeftAdapter>> {
  const h = config.hidden_size;
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const ff = config.intermediate_size;
  const dims: [string, number, number][] = [
    ["self_attn.q_proj", h, q],
    ["self_attn.k_proj", h, kv],
    ["self_attn.v_proj", h, kv],
    ["self_attn.o_proj", q, h],
    ["mlp.gate_proj", h, ff],
    ["mlp.up_proj", h, ff],
    ["mlp.down_proj", ff, h],
  ];
  const tensors = [];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    for (const [m, inF, outF] of dims) {
      const key = `base_model.model.model.layers.${l}.${m}`;
      tensors.push({
        name: `${key}.lora_A.weight`,
        dtype: "f32" as const,
        shape: [rank, inF],
        data: randomWeightBytes(key + "A", rank * inF, "f32", seed, 0.02),
      });
      tensors.push({
        name: `${key}.lora_B.weight`,
        dtype: "f32" as const,
        shape: [outF, rank],
        data: randomWeightBytes(key + "B", outF * rank, "f32", seed, 0.02),
      });
    }
  }
  const chunks: Uint8Array[] = [];
  for await (const c of safetensorsChunks(tensors)) chunks.push(c);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const files = memoryFiles({
    "adapter_config.json": JSON.stringify({ peft_type: "LORA", r: rank, lora_alpha: 2 * rank, target_modules: "all-linear" }),
    "adapter_model.safetensors": bytes,
  });
  return openPeftAdapter(files, config);
}

const backend = await WasmBackend.create(values.threads ? { threads: Number(values.threads) } : {});
const t0 = performance.now();
const model = await Qwen2ForCausalLM.load({ config, weights: new Q8Weights() }, backend);
const adapters: LoraAdapter[] = [];
for (const seed of [1, 2]) {
  const peft = await randomAdapter(seed);
  adapters.push(await LoraAdapter.load(peft, config, backend, { name: `random-${seed}` }));
  peft.close();
}
console.log(`loaded the q8_0 model and two rank-${rank} adapters in ${((performance.now() - t0) / 1000).toFixed(1)} s (${backend.name})`);
const [A, B] = adapters.map((adapter) => [{ adapter }] as AdapterChoice[]) as [AdapterChoice[], AdapterChoice[]];

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Prefill tok/s and decode tok/s (tokens of all sequences per second) for one choice per sequence. */
async function measure(choices: readonly (readonly AdapterChoice[])[]): Promise<{ prefill: number; decode: number }> {
  const caches = choices.map(() => model.createCache(promptLen + decodeSteps + 1));
  try {
    const t1 = performance.now();
    const first = await model.forward(
      choices.map((adapters, i) => ({ ids: benchPromptIds(promptLen, 1 + i, config.vocab_size), cache: caches[i]!, adapters })),
    );
    const prefillS = (performance.now() - t1) / 1000;
    let next = first.map(argmax);
    const t2 = performance.now();
    for (let s = 0; s < decodeSteps; s++) {
      const out = await model.forward(choices.map((adapters, i) => ({ ids: Int32Array.of(next[i]!), cache: caches[i]!, adapters })));
      next = out.map(argmax);
    }
    const decodeS = (performance.now() - t2) / 1000;
    return { prefill: (choices.length * promptLen) / prefillS, decode: (choices.length * decodeSteps) / decodeS };
  } finally {
    for (const c of caches) c.dispose();
  }
}

await measure([[]]); // warm-up
const scenarios: [string, (readonly AdapterChoice[])[]][] = [
  ["1 sequence, base", [[]]],
  ["1 sequence, adapter", [A]],
  ["4 sequences, base", [[], [], [], []]],
  ["4 sequences, one adapter", [A, A, A, A]],
  ["4 sequences, two adapters (2 + 2)", [A, A, B, B]],
  ["4 sequences, adapter + base (interleaved)", [A, [], A, []]],
];
/** Per scenario, each round's figures; a scenario's base is the base run of the same batch size in the same round. */
const runs = scenarios.map(() => [] as { prefill: number; decode: number }[]);
const baseOf = (i: number) => (scenarios[i]![1].length === 1 ? 0 : 2);
for (let round = 0; round < rounds; round++) {
  for (const [i, [scenario, choices]] of scenarios.entries()) {
    const r = await measure(choices);
    runs[i]!.push(r);
    console.log(
      `round ${round + 1}: ${scenario.padEnd(42)} prefill ${r.prefill.toFixed(1).padStart(7)} tok/s   decode ${r.decode.toFixed(2).padStart(6)} tok/s`,
    );
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rows = scenarios.map(([scenario], i) => ({
  scenario,
  prefill: median(runs[i]!.map((r) => r.prefill)),
  decode: median(runs[i]!.map((r) => r.decode)),
  prefillVsBase: median(runs[i]!.map((r, k) => r.prefill / runs[baseOf(i)]![k]!.prefill)),
  decodeVsBase: median(runs[i]!.map((r, k) => r.decode / runs[baseOf(i)]![k]!.decode)),
}));
for (const a of adapters) a.dispose();
model.dispose();
backend.dispose();

const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  engine: backend.name,
  model: "random Qwen2.5-0.5B shape, q8_0 matrices",
  rank,
  promptLen,
  decodeSteps,
  rounds,
};
const out = join(repo, "bench/results");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "lora.json"), JSON.stringify({ meta, rows, runs }, null, 2) + "\n");
const md = [
  "# LoRA adapters, unmerged, on the wasm backend",
  "",
  `${meta.model}; two random rank-${rank} adapters on every linear layer (7 per layer, 24 layers); ` +
    `prefill ${promptLen} tokens per sequence, then ${decodeSteps} decode steps; medians of ${rounds} interleaved rounds, "vs base" the median of each round's ratio to the base run of the same batch size in that round. ${meta.date}, Node ${meta.node}, ${meta.cpu}, ` +
    `${meta.cores} cores, load average ${meta.loadavg.join(" / ")} (the machine was shared with other jobs: figures are noisy). ` +
    "`node dist/bench/lora.js` (bench/lora.ts).",
  "",
  "| scenario (tok/s count every sequence's tokens) | prefill tok/s | vs base | decode tok/s | vs base |",
  "|---|---:|---:|---:|---:|",
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.prefill.toFixed(1)} | ${r.prefillVsBase.toFixed(2)}x | ${r.decode.toFixed(2)} | ${r.decodeVsBase.toFixed(2)}x |`,
  ),
  "",
].join("\n");
writeFileSync(join(out, "lora.md"), md);
console.log(`wrote bench/results/lora.{json,md}`);
