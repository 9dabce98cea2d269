/**
 * A whole model with Q8_0 / Q4_0 matrices on the WebAssembly backend against the reference
 * backend on the same quantised weights. The reference multiplies float32 activations; this
 * backend quantises activations to 8 bits per 32-block (as llama.cpp does), which moves each
 * product by up to half a step (1/254 of the block's largest activation) per element, so
 * logits agree closely but not to float32 precision: the test bounds the difference relative
 * to the logits' range, and requires the same greedy choice wherever the reference's top-2
 * margin exceeds that bound.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { WasmBackend, relaxedSimdAvailable } from "../../src/backends/wasm/index.js";
import type { HostTensor, TensorInfo, WeightSource } from "../../src/formats/weights.js";
import { toFloat32 } from "../../src/tensor/convert.js";
import { dequantize, quantize, type WritableQuantDType } from "../../src/tensor/quant/index.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";
import { tinyConfig } from "../models/tiny_model.js";
import { QuantizedSource } from "../support/quantized_source.js";
import { RefWeight } from "../../src/backends/reference/index.js";
import type { Mat, Weight } from "../../src/backends/ops.js";
import { readWhole, type UploadSource } from "../../src/formats/weights.js";
import type { WeightQuantDType } from "../../src/tensor/dtype.js";
import { GgmlActivationRow } from "../../src/tensor/quant/ggml_activations.js";

test("Q8_0 and Q4_0 models on the wasm backend match the reference backend on the same weights", async () => {
  const wasm = await WasmBackend.create({ threads: 2 <= (await import("node:os")).availableParallelism() ? 2 : 1, relaxed: false });
  try {
    const config = tinyConfig(128);
    const base = new RandomQwen2Weights(config, 11, "f32", 0.2);
    const seq = Int32Array.from({ length: 9 }, (_, i) => (i * 37 + 5) % 128);
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const run = async (backend: Backend): Promise<Float32Array[]> => {
        const m = await Qwen2ForCausalLM.load({ config, weights: new QuantizedSource(base, dtype) }, backend);
        try {
          // Prefill 6 tokens, then decode 3 one by one (both kernel shapes).
          const cache = m.createCache(seq.length);
          const out = [(await m.forward([{ ids: seq.subarray(0, 6), cache }], { allLogits: true }))[0]!];
          for (let i = 6; i < seq.length; i++) out.push((await m.forward([{ ids: seq.subarray(i, i + 1), cache }]))[0]!);
          cache.dispose();
          return out;
        } finally {
          m.dispose();
        }
      };
      const want = await run(new ReferenceBackend());
      const got = await run(wasm);
      const vocab = 128;
      want.forEach((w, step) => {
        const g = got[step]!;
        for (let p = 0; p < w.length / vocab; p++) {
          const wr = w.subarray(p * vocab, (p + 1) * vocab);
          const gr = g.subarray(p * vocab, (p + 1) * vocab);
          const range = Math.max(...wr) - Math.min(...wr);
          let diff = 0;
          for (let v = 0; v < vocab; v++) diff = Math.max(diff, Math.abs(wr[v]! - gr[v]!));
          const bound = 0.03 * range;
          assert.ok(diff <= bound, `${dtype} step ${step} position ${p}: logits differ by ${diff} (bound ${bound}, range ${range})`);
          const sorted = [...wr].sort((a, b) => b - a);
          if (sorted[0]! - sorted[1]! > 2 * bound)
            assert.equal(gr.indexOf(Math.max(...gr)), wr.indexOf(sorted[0]!), `${dtype} step ${step}: greedy token`);
        }
      });
    }
  } finally {
    wasm.dispose();
  }
});

/**
 * A WeightSource that stores each matrix of another in the block type `pick` names for it,
 * or with `asFloat` as the float32 values those blocks decode to (the same weights for the
 * reference backend). Vectors stay float32.
 */
class MixtureSource implements WeightSource {
  constructor(
    private readonly inner: WeightSource,
    private readonly pick: (name: string) => WritableQuantDType,
    private readonly asFloat: boolean,
  ) {}
  get location(): string {
    return this.inner.location;
  }
  names(): string[] {
    return this.inner.names();
  }
  has(name: string): boolean {
    return this.inner.has(name);
  }
  info(name: string): TensorInfo {
    return this.inner.info(name);
  }
  async read(name: string): Promise<HostTensor> {
    const t = await this.inner.read(name);
    if (t.shape.length !== 2) return t;
    const dtype = this.pick(name);
    const values = toFloat32("f32", t.data);
    const q = quantize(dtype, values);
    if (this.asFloat) return { ...t, data: new Uint8Array(dequantize(dtype, q, values.length).buffer) };
    return { ...t, dtype, data: q };
  }
  close(): void {}
}

/**
 * Layer 0 as llama.cpp's Q4_K_M stores a layer (Q4_K, with V and down projections in Q6_K),
 * layer 1 one matrix of each other type we write, a Q4_K embedding and a Q6_K LM head.
 */
function kQuantMixture(name: string): WritableQuantDType {
  if (name === "model.embed_tokens.weight") return "q4_k";
  if (name === "lm_head.weight") return "q6_k";
  const layer1: Record<string, WritableQuantDType> = {
    q_proj: "q5_k",
    k_proj: "q3_k",
    v_proj: "q2_k",
    o_proj: "q5_0",
    gate_proj: "q4_1",
    up_proj: "q5_1",
    down_proj: "q4_k",
  };
  const proj = /\.(\w+_proj)\.weight$/.exec(name)?.[1] ?? "";
  if (name.startsWith("model.layers.1.")) return layer1[proj] ?? "q4_k";
  return proj === "v_proj" || proj === "down_proj" ? "q6_k" : "q4_k";
}

/**
 * Logits within 8% of their range everywhere and 2% on average: the activations' Q8_K
 * rounding (one scale per 256 values) moves this random model's logits more than per-32
 * rounding does (up to 5.5% of the range at one position here, against 2.4% for Q8_0 weights);
 * the arithmetic itself is exact (wasm_quant_types.test.ts).
 */
test("a K-quant mixture on the wasm backend matches the reference backend on the same (dequantised) weights", async () => {
  const threads = Math.min(2, availableParallelism());
  const config = tinyConfig(256, { hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2 });
  const base = new RandomQwen2Weights(config, 12, "f32", 0.2);
  const seq = Int32Array.from({ length: 9 }, (_, i) => (i * 53 + 7) % 256);
  const run = async (backend: Backend, asFloat: boolean): Promise<Float32Array[]> => {
    const m = await Qwen2ForCausalLM.load({ config, weights: new MixtureSource(base, kQuantMixture, asFloat) }, backend);
    try {
      const cache = m.createCache(seq.length);
      const out = [(await m.forward([{ ids: seq.subarray(0, 6), cache }], { allLogits: true }))[0]!];
      for (let i = 6; i < seq.length; i++) out.push((await m.forward([{ ids: seq.subarray(i, i + 1), cache }]))[0]!);
      cache.dispose();
      return out;
    } finally {
      m.dispose();
    }
  };
  const want = await run(new ReferenceBackend(), true);
  for (const relaxed of [false, ...(relaxedSimdAvailable() ? [true] : [])]) {
    const wasm = await WasmBackend.create({ threads, relaxed });
    try {
      const got = await run(wasm, false);
      want.forEach((w, step) => {
        const g = got[step]!;
        const vocab = 256;
        for (let p = 0; p < w.length / vocab; p++) {
          const wr = w.subarray(p * vocab, (p + 1) * vocab);
          const gr = g.subarray(p * vocab, (p + 1) * vocab);
          const range = Math.max(...wr) - Math.min(...wr);
          let diff = 0;
          let sum = 0;
          for (let v = 0; v < vocab; v++) {
            diff = Math.max(diff, Math.abs(wr[v]! - gr[v]!));
            sum += Math.abs(wr[v]! - gr[v]!);
          }
          assert.ok(
            diff <= 0.08 * range,
            `${wasm.name} step ${step} position ${p}: logits differ by up to ${diff} (bound ${0.08 * range})`,
          );
          assert.ok(
            sum / vocab <= 0.02 * range,
            `${wasm.name} step ${step} position ${p}: logits differ by ${sum / vocab} on average (bound ${0.02 * range})`,
          );
        }
      });
    } finally {
      wasm.dispose();
    }
  }
});

/**
 * Every quantised product of whole models on the wasm backend against the reference backend
 * with `activations: "ggml"` (ggml-cpu's activation quantisation, tensor/quant/ggml_activations.ts)
 * on the very activations the wasm model produced: a wrapper records each matmul's input and
 * output as the model runs. Comparing final logits instead would not be exact: float32
 * summation order moves an activation across a rounding boundary now and then (one seed in
 * eight of these tiny models), and one quant step then propagates to 2e-3 of the logits' range.
 * Bound per product: 1e-5 · max|w| · Σ|a| (derived in test/tensor/ggml_activations.test.ts), for
 * every type, Q4_1/Q5_1 too (their Q8_1 block sums are f16 in the kernels as in ggml).
 */
class ProductTrace {
  readonly products: Array<{ x: Float32Array; out: Float32Array; weight: RefWeight; bias: RefWeight | null; n: number }> = [];
  private readonly weights = new Map<Weight, RefWeight>();
  constructor(private readonly inner: Backend) {}
  backend(): Backend {
    const trace = this;
    const inner = this.inner;
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === "upload")
          return async (t: UploadSource): Promise<Weight> => {
            const host = await readWhole(t);
            const w = await inner.upload(host);
            trace.weights.set(w, new RefWeight(host));
            return w;
          };
        if (prop === "matmul")
          return (out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void => {
            inner.matmul(out, x, w, bias, n);
            const ref = trace.weights.get(w)!;
            if (ref.dtype === "f32" || ref.dtype === "f16" || ref.dtype === "bf16" || n === 0) return;
            // view() waits (blocking) for the ops recorded so far: these are the values now.
            const xs = (inner as WasmBackend).view(x, n).slice();
            const os = (inner as WasmBackend).view(out, n).slice();
            const b = bias === null ? null : trace.weights.get(bias)!;
            trace.products.push({ x: xs, out: os, weight: ref, bias: b, n });
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }
}

test("every quantised product of Q8_0, Q4_0 and K-quant mixture models on wasm equals ggml's integer arithmetic (reference backend, activations: \"ggml\")", async () => {
  const cases = [
    { label: "q8_0", config: tinyConfig(128), seed: 11, pick: (): WritableQuantDType => "q8_0" },
    { label: "q4_0", config: tinyConfig(128), seed: 11, pick: (): WritableQuantDType => "q4_0" },
    {
      label: "K-quant mixture",
      config: tinyConfig(256, { hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2 }),
      seed: 12,
      pick: kQuantMixture,
    },
  ];
  const ref = new ReferenceBackend({ activations: "ggml" });
  for (const { label, config, seed, pick } of cases) {
    const base = new RandomQwen2Weights(config, seed, "f32", 0.2);
    const seq = Int32Array.from({ length: 9 }, (_, i) => (i * 53 + 7) % config.vocab_size);
    const wasm = await WasmBackend.create({ threads: 1, relaxed: false });
    const trace = new ProductTrace(wasm);
    try {
      const m = await Qwen2ForCausalLM.load({ config, weights: new MixtureSource(base, pick, false) }, trace.backend());
      const cache = m.createCache(seq.length);
      await m.forward([{ ids: seq.subarray(0, 6), cache }], { allLogits: true });
      for (let i = 6; i < seq.length; i++) await m.forward([{ ids: seq.subarray(i, i + 1), cache }]);
      cache.dispose();
      m.dispose();
    } finally {
      wasm.dispose();
    }
    await new Promise((r) => setImmediate(r));
    const dtypes = new Set(trace.products.map((p) => p.weight.dtype));
    assert.ok(trace.products.length >= 7 * 2 * 4, `${label}: ${trace.products.length} products traced`);
    for (const [k, { x, out, weight, bias, n }] of trace.products.entries()) {
      const K = weight.cols;
      const N = weight.rows;
      const xm = ref.alloc(n, K);
      const om = ref.alloc(n, N);
      ref.write(xm, x);
      ref.matmul(om, xm, weight, bias, n);
      const want = await ref.read(om);
      const dtype = weight.dtype as WeightQuantDType;
      const row = new Float32Array(K);
      for (let r = 0; r < N; r++) {
        weight.decodeRow(r, row);
        let wmax = 0;
        for (let j = 0; j < K; j++) wmax = Math.max(wmax, Math.abs(row[j]!));
        for (let i = 0; i < n; i++) {
          const act = new GgmlActivationRow(dtype, x.subarray(i * K, (i + 1) * K));
          // Q4_1/Q5_1 included: the kernels keep Q8_1's block sums as f16, as ggml does.
          const bound = 1e-5 * wmax * act.absSum;
          const d = Math.abs(out[i * N + r]! - want[i * N + r]!);
          assert.ok(d <= bound, `${label} product ${k} (${dtype} [${N}, ${K}], n=${n}) token ${i} row ${r}: wasm ${out[i * N + r]} vs ggml emulation ${want[i * N + r]} (bound ${bound})`);
        }
      }
    }
    if (label === "K-quant mixture") assert.ok(dtypes.size >= 8, `${label}: ${[...dtypes].join(", ")}`);
  }
});
