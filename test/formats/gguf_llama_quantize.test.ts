/**
 * Our presets against llama.cpp's own `llama-quantize` (llama_model_quantize in the libllama
 * that node-llama-cpp ships, called through koffi; bench/ggml.ts). From one small random
 * model written as an F32 GGUF by our writer:
 * - for every preset, the file llama.cpp writes loads and runs in our engine, and each of its
 *   tensors has the type and place our preset logic gives it;
 * - for several presets, our `qwen2 quantize` of the same F32 GGUF writes every tensor byte
 *   for byte as llama.cpp does;
 * - llama.cpp loads a file of ours and computes the logits we compute from it.
 * Two shapes: hidden 256 (K-quants used, separate head) and hidden 160 (every K-quant falls
 * back to a 32-weight type, tied head), both with 96-wide FFN rows. Skipped with one line
 * when the peer is absent.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ggmlSkipReason, llamaQuantizeFiles } from "../../bench/ggml.js";
import { type Llama, loadLlamaCpp } from "../../bench/llama_cpp.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { runQuantize } from "../../src/cli/commands/quantize.js";
import type { Qwen2Config } from "../../src/formats/config.js";
import { GGUFFile } from "../../src/formats/gguf.js";
import { LLAMA_FTYPE, presetModelOf, presetTensorType, QUANT_PRESETS, type QuantPreset } from "../../src/formats/gguf_quant_presets.js";
import { llamaQuantizeOrder } from "../../src/formats/gguf_qwen2_export.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { writeQwen2GGUF } from "../../src/node/gguf_writer.js";
import { fileSource } from "../../src/node/files.js";
import { openGGUF } from "../../src/formats/gguf_qwen2.js";
import { captureIO } from "../support/cli_io.js";
import { tokenizerFolderData } from "../support/tokenizer_folder.js";
import { randomQwen2Weights, TempDir, tinyConfig, writeTinyTokenizer } from "./gguf_test_support.js";

const skip = ggmlSkipReason() ?? false;
const dir = new TempDir();
after(() => dir.dispose());

const MERGES = 12;
const SHAPES: Record<string, Partial<Qwen2Config>> = {
  h256: { hidden_size: 256, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 64, num_hidden_layers: 4 },
  h160: { hidden_size: 160, num_attention_heads: 5, num_key_value_heads: 1, head_dim: 32, num_hidden_layers: 3, tie_word_embeddings: true },
};
const QUANTISED = QUANT_PRESETS.filter((p) => p !== "f32");
const f32Files = new Map<string, { path: string; config: Qwen2Config }>();

before(async () => {
  if (skip) return;
  const tokDir = join(dir.path, "tok");
  mkdirSync(tokDir);
  const { vocabSize } = writeTinyTokenizer(tokDir, MERGES);
  for (const [name, shape] of Object.entries(SHAPES)) {
    const config = tinyConfig({ vocab_size: vocabSize, intermediate_size: 96, ...shape });
    const path = join(dir.path, `${name}.f32.gguf`);
    await writeQwen2GGUF(path, { config, weights: randomQwen2Weights(config, 7), tokenizer: tokenizerFolderData(tokDir), type: "f32" });
    f32Files.set(name, { path, config });
  }
  // llama.cpp's files for every preset, written once (in a child process: llama.cpp logs every tensor).
  const jobs = [...f32Files].flatMap(([shape, { path }]) =>
    QUANTISED.map((preset) => ({ input: path, output: llamaFile(shape, preset), ftype: LLAMA_FTYPE[preset] })),
  );
  await llamaQuantizeFiles(jobs);
});

const llamaFile = (shape: string, preset: QuantPreset): string => join(dir.path, `${shape}.llama.${preset}.gguf`);

async function lastLogits(path: string, ids: number[]): Promise<Float32Array> {
  const g = await openGGUF(await fileSource(path));
  const model = await Qwen2ForCausalLM.load({ config: g.config, weights: g.weights }, new ReferenceBackend());
  try {
    const cache = model.createCache(ids.length);
    const [logits] = await model.forward([{ ids: Int32Array.from(ids), cache }]);
    cache.dispose();
    return logits!;
  } finally {
    model.dispose();
    g.close();
  }
}

async function tensorsOf(path: string): Promise<GGUFFile> {
  return GGUFFile.open(await fileSource(path));
}

test(`llama-quantize's file for every preset (${QUANTISED.join(", ")}) runs in our engine, each tensor in the type and place our preset logic gives it`, {
  skip,
}, async () => {
  for (const [shape, { config }] of f32Files) {
    const model = presetModelOf(config);
    for (const preset of QUANTISED) {
      const out = llamaFile(shape, preset);
      const file = await tensorsOf(out);
      try {
        const names = file.tensors.map((t) => t.name);
        assert.deepEqual(names, llamaQuantizeOrder(names), `${shape} ${preset}: tensor order`);
        for (const t of file.tensors) {
          const ours = presetTensorType(preset, t.name, [...t.shape], model);
          assert.equal(t.type.dtype, ours, `${shape} ${preset}: ${t.name} [${t.shape.join(", ")}] is ${t.type.name} in llama.cpp's file`);
        }
      } finally {
        file.close();
      }
      const logits = await lastLogits(out, [1, 2, 3]);
      assert.equal(logits.length, config.vocab_size);
      assert.ok(logits.every(Number.isFinite), `${shape} ${preset}: finite logits`);
    }
  }
});

/** Presets whose every tensor we write byte for byte as llama.cpp (the rest are checked by type above). */
const BYTE_EXACT: readonly QuantPreset[] = ["q4_k_m", "q3_k_m", "q2_k", "q5_k_s", "q6_k", "q4_1", "q5_0"];

test(`qwen2 quantize of an F32 GGUF writes each tensor byte for byte as llama-quantize (${BYTE_EXACT.join(", ")})`, { skip }, async () => {
  for (const [shape, { path }] of f32Files) {
    for (const preset of BYTE_EXACT) {
      const theirs = llamaFile(shape, preset);
      const ours = join(dir.path, `${shape}.ours.${preset}.gguf`);
      const io = captureIO();
      assert.equal(await runQuantize(["--model", path, "--type", preset, "--out", ours, "--quiet"], io.io), 0);
      const a = await tensorsOf(ours);
      const b = await tensorsOf(theirs);
      try {
        assert.deepEqual(
          a.tensors.map((t) => `${t.name} ${t.type.name}`),
          b.tensors.map((t) => `${t.name} ${t.type.name}`),
        );
        for (let i = 0; i < a.tensors.length; i++) {
          const [x, y] = [await a.readTensorData(a.tensors[i]!), await b.readTensorData(b.tensors[i]!)];
          if (!x.every((v, k) => v === y[k])) assert.fail(`${shape} ${preset}: ${a.tensors[i]!.name} (${a.tensors[i]!.type.name}) differs`);
        }
        assert.equal(a.number("general.file_type"), b.number("general.file_type"));
      } finally {
        a.close();
        b.close();
      }
    }
  }
});

let llama: Llama | null = null;
after(async () => llama?.dispose());

test("llama.cpp loads our Q4_K_M file and its next-token distribution is ours (KL ≤ 1e-3)", { skip }, async (t) => {
  const { path } = f32Files.get("h256")!;
  const ours = join(dir.path, "h256.ours.q4_k_m.gguf");
  assert.equal(await runQuantize(["--model", path, "--type", "q4_k_m", "--out", ours, "--quiet"], captureIO().io), 0);
  llama = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: ours, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 32, threads: 1, sequences: 1 });
  const ids = [1, 2, 3];
  const items = ids.map((id, i) =>
    i === ids.length - 1
      ? ([id, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const)
      : id,
  );
  const out = await context.getSequence().controlledEvaluate(items);
  await context.dispose();
  await model.dispose();
  const theirs = new Float64Array(272);
  for (const [id, p] of out[ids.length - 1]!.next.probabilities!) theirs[id as number] = p;
  const logits = await lastLogits(ours, ids);
  const max = Math.max(...logits);
  const e = Array.from(logits, (l) => Math.exp(l - max));
  const z = e.reduce((a, b) => a + b, 0);
  // Both read the same bits; llama.cpp quantises activations to 8 bits for its dot products.
  let kl = 0;
  for (let i = 0; i < e.length; i++) if (theirs[i]! > 0) kl += theirs[i]! * Math.log(theirs[i]! / (e[i]! / z));
  t.diagnostic(`KL(llama.cpp || ours) on our Q4_K_M file: ${kl.toExponential(2)}`); // 1.0e-4 when written
  assert.ok(kl < 1e-3, `KL(llama.cpp || ours) = ${kl}`);
});
