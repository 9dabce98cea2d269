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
import { WasmBackend } from "../../src/backends/wasm/index.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";
import { tinyConfig } from "../models/tiny_model.js";
import { QuantizedSource } from "../support/quantized_source.js";

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
