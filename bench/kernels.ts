/**
 * Kernel benchmark of the WebAssembly backend on the real Qwen2-0.5B shapes (hidden 896,
 * intermediate 4864, 14/2 heads of 64, 24 layers, vocabulary 151936, tied head):
 * - decode: one matrix-vector pass over every weight matrix of a token (24 layers + LM head),
 *   GB/s of weights streamed and the tokens/s that pass alone allows;
 * - prefill: the matrix products of 128 tokens through every layer (GFLOP/s and tokens/s,
 *   LM head on the last token only).
 * For each weight dtype, kernel build (baseline SIMD; relaxed SIMD through a child Node with
 * the flag when this Node hides it) and thread count. Weights are random (speed does not
 * depend on values). Writes bench/results/kernels.json.
 *
 *   node dist/bench/kernels.js [--dtypes bf16,q8_0,q4_0] [--threads 1,2] [--rounds 5]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WasmBackend, relaxedSimdAvailable, RELAXED_SIMD_NODE_FLAG } from "../src/backends/wasm/index.js";
import type { Weight } from "../src/backends/ops.js";
import type { HostTensor } from "../src/formats/weights.js";
import { byteSize, type WeightDType } from "../src/tensor/dtype.js";
import { f32ToBf16, f32ToF16 } from "../src/tensor/convert.js";

const { values } = parseArgs({
  options: {
    dtypes: { type: "string", default: "bf16,q8_0,q4_0" },
    threads: { type: "string", default: [...new Set([1, Math.min(2, availableParallelism())])].join(",") },
    rounds: { type: "string", default: "5" },
    build: { type: "string" }, // internal: the child's build
    "prefill-tokens": { type: "string", default: "128" },
  },
});

const HIDDEN = 896,
  INTER = 4864,
  KV = 128,
  LAYERS = 24,
  VOCAB = 151936;
const LAYER_SHAPES: [string, number, number][] = [
  ["q", HIDDEN, HIDDEN],
  ["k", KV, HIDDEN],
  ["v", KV, HIDDEN],
  ["o", HIDDEN, HIDDEN],
  ["gate", INTER, HIDDEN],
  ["up", INTER, HIDDEN],
  ["down", HIDDEN, INTER],
];

interface Row {
  dtype: string;
  build: string;
  threads: number;
  decodeMs: number;
  decodeGBs: number;
  decodeTps: number;
  prefillGflops: number;
  prefillTps: number;
  /** From CPU time (process CPU / threads) instead of wall time: what the run would take with the cores to itself. */
  decodeTpsCpu: number;
  prefillTpsCpu: number;
}

/** Runs f, returning [wall ms, CPU ms per thread]. */
function timed(f: () => void, threads: number): [number, number] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / 1000 / threads];
}

const tensorCache = new Map<string, HostTensor>();

/** Random weights of a shape; cached, so that every build and thread count reuses them. */
function randomTensor(name: string, dtype: WeightDType, rows: number, cols: number): HostTensor {
  const key = `${name}/${dtype}`;
  const hit = tensorCache.get(key);
  if (hit) return hit;
  const t = makeRandomTensor(name, dtype, rows, cols);
  tensorCache.set(key, t);
  return t;
}

function makeRandomTensor(name: string, dtype: WeightDType, rows: number, cols: number): HostTensor {
  const bytes = byteSize(dtype, [rows, cols]);
  const data = new Uint8Array(bytes);
  let s = 0x9e3779b9;
  const next = (): number => {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  if (dtype === "f32") new Float32Array(data.buffer).forEach((_, i, a) => (a[i] = next()));
  else if (dtype === "bf16" || dtype === "f16") {
    const h = new Uint16Array(data.buffer);
    for (let i = 0; i < h.length; i++) h[i] = dtype === "bf16" ? f32ToBf16(next()) : f32ToF16(next());
  } else {
    const bb = dtype === "q8_0" ? 34 : 18;
    for (let i = 0; i < data.length; i++) data[i] = (next() * 256) & 0xff;
    const scale = f32ToF16(0.01);
    for (let b = 0; b < data.length; b += bb) {
      data[b] = scale & 0xff;
      data[b + 1] = scale >> 8;
    }
  }
  return { name, dtype, shape: [rows, cols], data };
}

async function measure(
  dtype: WeightDType,
  build: "simd" | "relaxed",
  threads: number,
  rounds: number,
  prefillTokens: number,
): Promise<Row> {
  const be = await WasmBackend.create({ threads, relaxed: build === "relaxed" });
  try {
    const protos = new Map(LAYER_SHAPES.map(([n, r, c]) => [n, randomTensor(n, dtype, r, c)]));
    const layers: Weight[][] = [];
    for (let l = 0; l < LAYERS; l++) {
      const layer: Weight[] = [];
      for (const [n] of LAYER_SHAPES) layer.push(await be.upload(protos.get(n)!));
      layers.push(layer);
    }
    const head = await be.upload(randomTensor("embed", dtype, VOCAB, HIDDEN));
    let weightBytes = byteSize(dtype, [VOCAB, HIDDEN]);
    for (const [, r, c] of LAYER_SHAPES) weightBytes += LAYERS * byteSize(dtype, [r, c]);

    const P = prefillTokens;
    const xH = be.alloc(P, HIDDEN),
      xI = be.alloc(P, INTER);
    const outs = new Map([HIDDEN, KV, INTER].map((n) => [n, be.alloc(P, n)]));
    const logits = be.alloc(1, VOCAB);
    be.write(
      xH,
      new Float32Array(P * HIDDEN).map((_, i) => Math.sin(i)),
    );
    be.write(
      xI,
      new Float32Array(P * INTER).map((_, i) => Math.cos(i)),
    );
    const pass = (n: number): void => {
      for (const ws of layers) {
        for (let j = 0; j < ws.length; j++) be.matmul(outs.get(LAYER_SHAPES[j]![1])!, j === 6 ? xI : xH, ws[j]!, null, n);
      }
      be.matmul(logits, xH, head, null, 1);
    };
    pass(1);
    let best = Infinity,
      bestCpu = Infinity;
    for (let r = 0; r < rounds; r++) {
      const [w, c] = timed(() => pass(1), threads);
      best = Math.min(best, w);
      bestCpu = Math.min(bestCpu, c);
    }
    // Prefill: fewer rounds, it is long.
    let bestP = Infinity,
      bestPCpu = Infinity;
    for (let r = 0; r < Math.max(1, Math.min(2, rounds)); r++) {
      const [w, c] = timed(() => pass(P), threads);
      bestP = Math.min(bestP, w);
      bestPCpu = Math.min(bestPCpu, c);
    }
    let layerFlops = 0;
    for (const [, r, c] of LAYER_SHAPES) layerFlops += 2 * r * c;
    const prefillFlops = P * LAYERS * layerFlops + 2 * VOCAB * HIDDEN;
    return {
      dtype,
      build,
      threads,
      decodeMs: +best.toFixed(2),
      decodeGBs: +(weightBytes / best / 1e6).toFixed(2),
      decodeTps: +(1000 / best).toFixed(1),
      prefillGflops: +(prefillFlops / bestP / 1e6).toFixed(1),
      prefillTps: +((P * 1000) / bestP).toFixed(1),
      decodeTpsCpu: +(1000 / bestCpu).toFixed(1),
      prefillTpsCpu: +((P * 1000) / bestPCpu).toFixed(1),
    };
  } finally {
    be.dispose();
  }
}

const dtypes = values.dtypes!.split(",") as WeightDType[];
const threadList = values.threads!.split(",").map(Number);
const rounds = Number(values.rounds);
const P = Number(values["prefill-tokens"]);

async function runBuild(build: "simd" | "relaxed"): Promise<Row[]> {
  const rows: Row[] = [];
  for (const dtype of dtypes) for (const t of threadList) rows.push(await measure(dtype, build, t, rounds, P));
  return rows;
}

if (values.build) {
  // Child: measure one build, print JSON.
  process.stdout.write(JSON.stringify(await runBuild(values.build as "simd" | "relaxed")) + "\n");
} else {
  const rows = await runBuild("simd");
  if (relaxedSimdAvailable()) rows.push(...(await runBuild("relaxed")));
  else {
    // Node 20 offers relaxed SIMD behind a flag: measure that build in a child Node with it.
    const extra = [RELAXED_SIMD_NODE_FLAG];
    {
      const self = fileURLToPath(import.meta.url);
      const child = spawnSync(
        process.execPath,
        [
          ...extra,
          self,
          "--build",
          "relaxed",
          "--dtypes",
          values.dtypes!,
          "--threads",
          values.threads!,
          "--rounds",
          values.rounds!,
          "--prefill-tokens",
          String(P),
        ],
        { encoding: "utf8", maxBuffer: 1 << 24 },
      );
      if (child.status !== 0) throw new Error(`relaxed child failed: ${child.stderr}`);
      rows.push(...(JSON.parse(child.stdout.trim().split("\n").pop()!) as Row[]));
    }
  }
  rows.sort((a, b) => a.dtype.localeCompare(b.dtype) || a.threads - b.threads || a.build.localeCompare(b.build));
  console.log(`Qwen2-0.5B shapes; decode = matvec pass over all ${LAYERS} layers + LM head; prefill = ${P} tokens`);
  console.log("wall-clock figures, and in brackets the same from CPU time per thread (the machine's other load excluded)");
  console.log(
    "| dtype | build | threads | decode ms | GB/s | decode tok/s (matvec only) | prefill GFLOP/s | prefill tok/s (matmul only) |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.dtype} | ${r.build} | ${r.threads} | ${r.decodeMs} | ${r.decodeGBs} | ${r.decodeTps} (${r.decodeTpsCpu}) | ${r.prefillGflops} | ${r.prefillTps} (${r.prefillTpsCpu}) |`,
    );
  const out = resolve(dirname(fileURLToPath(import.meta.url)), "../../bench/results/kernels.json");
  mkdirSync(dirname(out), { recursive: true });
  const machine = {
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    node: process.version,
    date: new Date().toISOString(),
    note: "2-core shared machine; other jobs may run concurrently: figures are noisy",
  };
  writeFileSync(out, JSON.stringify({ machine, rows }, null, 2) + "\n");
  console.log(`written ${out}`);
}
