/**
 * Prefill kernel throughput of the quantised matrix products, one thread: GFLOP/s of x [n, K]
 * by w [N, K]^T for the weight types of llama.cpp's K-quant presets (and the legacy 32-weight
 * types), on the matrix shapes of one Qwen2 layer (Qwen2-1.5B by default: hidden 1536, so
 * K-quant super-blocks are really used). Both kernel builds in one process (relaxed SIMD
 * through a child Node where this Node hides it), interleaved round by round so that the
 * machine's other load hits every type alike. Speed does not depend on the weights' values:
 * a few rows are quantised and repeated.
 *
 *   node dist/bench/prefill_kernels.js [--dtypes q4_k,q5_k,q6_k,q5_0] [--shape qwen2-1.5b|qwen2-0.5b]
 *                                      [--tokens 128] [--rounds 3] [--build simd|relaxed]
 *
 * On qwen2-0.5b a K-quant type stands for llama.cpp's file of that preset: products whose K
 * (hidden 896) is no multiple of 256 get the type llama.cpp falls back to (Q6_K: Q8_0).
 *
 * --tokens 1 (up to 3) times the decode kernels: each sample then repeats the layer's products
 * 32 / tokens times.
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WasmBackend, relaxedSimdAvailable, RELAXED_SIMD_NODE_FLAG } from "../src/backends/wasm/index.js";
import type { Weight } from "../src/backends/ops.js";
import type { HostTensor } from "../src/formats/weights.js";
import type { WeightQuantDType } from "../src/tensor/dtype.js";
import { quantize, type WritableQuantDType } from "../src/tensor/quant/index.js";

const { values } = parseArgs({
  options: {
    dtypes: { type: "string", default: "q4_k,q5_k,q6_k,q5_0,q4_0,q8_0" },
    shape: { type: "string", default: "qwen2-1.5b" },
    tokens: { type: "string", default: "128" },
    rounds: { type: "string", default: "3" },
    build: { type: "string" },
  },
});

const SHAPES: Record<string, { hidden: number; inter: number; kv: number }> = {
  "qwen2-0.5b": { hidden: 896, inter: 4864, kv: 128 },
  "qwen2-1.5b": { hidden: 1536, inter: 8960, kv: 256 },
};
const shape = SHAPES[values.shape!];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}, got ${values.shape}`);
const { hidden: H, inter: I, kv: KV } = shape;
/** [N, K] of one layer's products (q, k, v, o, gate, up, down). */
const LAYER: [number, number][] = [
  [H, H],
  [KV, H],
  [KV, H],
  [H, H],
  [I, H],
  [I, H],
  [H, I],
];
/**
 * The type llama.cpp's quantiser writes instead of a K-quant when a matrix's rows are not
 * whole 256-weight super-blocks (llama-quant.cpp's fallback): on the 0.5B shape (hidden 896)
 * that is every product but the down projection, so its Q6_K file is mostly Q8_0.
 */
const FALLBACK: Partial<Record<WritableQuantDType, WritableQuantDType>> = {
  q2_k: "iq4_nl",
  q3_k: "iq4_nl",
  q4_k: "q5_0",
  q5_k: "q5_1",
  q6_k: "q8_0",
};
/** The type of an [N, K] product's weights for `dtype`: the fallback where K is no multiple of 256. */
function typeFor(dtype: WritableQuantDType, K: number): WritableQuantDType {
  return K % 256 !== 0 ? (FALLBACK[dtype] ?? dtype) : dtype;
}
const n = Number(values.tokens);
/** Layer passes per timed sample: a few tokens' products (decode) are too short to time once. */
const reps = Math.max(1, Math.floor(32 / n));
const rounds = Number(values.rounds);
const dtypes = values.dtypes!.split(",") as WritableQuantDType[];

/** GGUF bytes of an [N, K] matrix: 8 random rows quantised, repeated. */
function tensor(dtype: WritableQuantDType, N: number, K: number): HostTensor {
  let s = 0x2545f491;
  const x = new Float32Array(8 * K).map(() => {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  const block = quantize(dtype, x);
  const data = new Uint8Array((block.length / 8) * N);
  for (let r = 0; r < N; r += 8) data.set(block.subarray(0, (Math.min(8, N - r) * block.length) / 8), (r * block.length) / 8);
  return { name: `w${N}x${K}`, dtype: dtype as WeightQuantDType, shape: [N, K], data };
}

interface Row {
  dtype: string;
  build: string;
  gflops: number[];
}

async function runBuild(build: "simd" | "relaxed"): Promise<Row[]> {
  const be = await WasmBackend.create({ threads: 1, relaxed: build === "relaxed" });
  try {
    const ws = new Map<string, Weight[]>();
    for (const d of dtypes) ws.set(d, await Promise.all(LAYER.map(([N, K]) => be.upload(tensor(typeFor(d, K), N, K)))));
    const xH = be.alloc(n, H),
      xI = be.alloc(n, I);
    be.write(
      xH,
      new Float32Array(n * H).map((_, i) => Math.sin(i)),
    );
    be.write(
      xI,
      new Float32Array(n * I).map((_, i) => Math.cos(i)),
    );
    const outs = new Map([H, KV, I].map((c) => [c, be.alloc(n, c)]));
    let flops = 0;
    for (const [N, K] of LAYER) flops += 2 * n * N * K * reps;
    const rows = dtypes.map((dtype) => ({ dtype, build, gflops: [] as number[] }));
    for (let r = 0; r <= rounds; r++) {
      for (const row of rows) {
        const w = ws.get(row.dtype)!;
        // CPU time, not wall time: on a shared machine it leaves out the time other jobs hold the core.
        // The backend records the products and runs them at the read (on its driver worker,
        // whose CPU time process.cpuUsage counts with the rest of the process).
        const c0 = process.cpuUsage();
        for (let k = 0; k < reps; k++) LAYER.forEach(([N, K], j) => be.matmul(outs.get(N)!, K === H ? xH : xI, w[j]!, null, n));
        await be.read(outs.get(H)!, 0, 1);
        const c = process.cpuUsage(c0);
        const ms = (c.user + c.system) / 1000;
        if (r > 0) row.gflops.push(flops / ms / 1e6); // round 0 warms up
      }
    }
    return rows;
  } finally {
    be.dispose();
  }
}

if (values.build) {
  process.stdout.write(JSON.stringify(await runBuild(values.build as "simd" | "relaxed")) + "\n");
} else {
  const load0 = loadavg()[0]!;
  const rows = await runBuild("simd");
  if (relaxedSimdAvailable()) rows.push(...(await runBuild("relaxed")));
  else {
    const self = fileURLToPath(import.meta.url);
    const args = [RELAXED_SIMD_NODE_FLAG, self, "--build", "relaxed", "--dtypes", values.dtypes!, "--shape", values.shape!];
    const child = spawnSync(process.execPath, [...args, "--tokens", String(n), "--rounds", String(rounds)], { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`relaxed child failed: ${child.stderr}`);
    rows.push(...(JSON.parse(child.stdout.trim().split("\n").pop()!) as Row[]));
  }
  console.log(`${values.shape} layer products, ${n} tokens (x${reps}), 1 thread, GFLOP/s from CPU time; load average ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`);
  const mixed = dtypes.filter((d) => LAYER.some(([, K]) => typeFor(d, K) !== d));
  for (const d of mixed) console.log(`${d}: ${typeFor(d, H)} where K = ${H} (llama.cpp's fallback), ${d} where K = ${I}`);
  console.log("| dtype | build | GFLOP/s best | GFLOP/s median |");
  console.log("|---|---|---|---|");
  for (const r of rows) {
    const g = [...r.gflops].sort((a, b) => a - b);
    console.log(`| ${r.dtype} | ${r.build} | ${g.at(-1)!.toFixed(1)} | ${g[g.length >> 1]!.toFixed(1)} |`);
  }
}
