import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomPresetConfig, RANDOM_PRESETS } from "../../src/formats/random_model.js";
import { createRandomModel } from "../../src/node/random_model.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";
import { randomNormalChunks as randomTensorChunks } from "../../src/tensor/random.js";
import { embeddedTokenizerFiles } from "../../src/tokenizer/embedded.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import { qwen2ExpectedTensors } from "../../src/formats/qwen2_tensors.js";
import { bf16ToF32, f16ToF32, toFloat32 } from "../../src/tensor/convert.js";
import { tokenizersDir } from "../support/paths.js";
import { openFolder, openSafetensorsPath } from "../support/files.js";

const tmp = mkdtempSync(join(tmpdir(), "qwen2-random-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function concat(chunks: Iterable<Uint8Array>): Uint8Array {
  const list = [...chunks];
  const out = new Uint8Array(list.reduce((a, c) => a + c.byteLength, 0));
  let o = 0;
  for (const c of list) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

test("random tensors: deterministic per name and seed, normal(mean, std), rounded to the dtype", async () => {
  const n = (1 << 20) + 3; // crosses a chunk boundary, odd length
  const a = toFloat32("f32", concat(randomTensorChunks("w", n, "f32", 7, 0, 0.02)));
  const again = toFloat32("f32", concat(randomTensorChunks("w", n, "f32", 7, 0, 0.02)));
  assert.deepEqual(a, again);
  const other = toFloat32("f32", concat(randomTensorChunks("w", n, "f32", 8, 0, 0.02)));
  assert.notDeepEqual(a.subarray(0, 16), other.subarray(0, 16));
  const otherName = toFloat32("f32", concat(randomTensorChunks("v", n, "f32", 7, 0, 0.02)));
  assert.notDeepEqual(a.subarray(0, 16), otherName.subarray(0, 16));
  let sum = 0;
  let sq = 0;
  for (const x of a) {
    sum += x;
    sq += x * x;
  }
  const mean = sum / n;
  assert.ok(Math.abs(mean) < 1e-3, `mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(sq / n - mean * mean) - 0.02) < 1e-3);

  const bf = concat(randomTensorChunks("w", n, "bf16", 7, 0, 0.02));
  const h = concat(randomTensorChunks("w", n, "f16", 7, 0, 0.02));
  const bfBits = new Uint16Array(bf.buffer);
  const hBits = new Uint16Array(h.buffer);
  for (let i = 0; i < 1000; i++) {
    assert.ok(Math.abs(bf16ToF32(bfBits[i]!) - a[i]!) <= Math.abs(a[i]!) * 2 ** -8);
    assert.ok(Math.abs(f16ToF32(hBits[i]!) - a[i]!) <= Math.max(Math.abs(a[i]!) * 2 ** -11, 2 ** -25));
  }
});

test("presets resolve to the published shapes", async () => {
  const sizes: Record<string, number> = {};
  for (const p of RANDOM_PRESETS) {
    const c = parseQwen2Config(randomPresetConfig(p, "bf16", 151665, 0));
    assert.equal(c.tie_word_embeddings, true);
    sizes[p] = qwen2ExpectedTensors(c)
      .filter((e) => e.required)
      .reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  }
  // Qwen2-0.5B / Qwen2.5-0.5B: 494,032,768 parameters; Qwen2-1.5B: 1,543,714,304.
  assert.equal(sizes["qwen2-0.5b"], 494032768);
  assert.equal(sizes["qwen2.5-0.5b"], 494032768);
  assert.equal(sizes["qwen2-1.5b"], 1543714304);
});

test("tiny random model: HF layout, labelled, the tokenizer's full vocabulary, loads and validates", async () => {
  const dir = join(tmp, "tiny");
  const r = await createRandomModel({ preset: "tiny", dtype: "f32", outDir: dir, seed: 5 });
  const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  assert.equal(raw["qwen2_ts_random_weights"], true);
  assert.equal(raw["torch_dtype"], "float32");
  const tokCfg = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as { added_tokens_decoder: Record<string, unknown> };
  const vocab = JSON.parse(readFileSync(join(dir, "vocab.json"), "utf8")) as Record<string, number>;
  let maxId = -1;
  for (const id of [...Object.values(vocab), ...Object.keys(tokCfg.added_tokens_decoder).map(Number)]) maxId = Math.max(maxId, id);
  assert.equal(r.config.vocab_size, maxId + 1);
  assert.ok(readFileSync(join(dir, "merges.txt"), "utf8").startsWith("#version"));

  const m = await openFolder(dir);
  try {
    assert.equal(m.config.qwen2_ts_random_weights, true);
    assert.equal(m.report.tiedHead, true);
    assert.ok(!m.weights.has("lm_head.weight"));
    assert.deepEqual(m.generationConfig.eos_token_id, [151643]);
    const norm = toFloat32("f32", (await m.weights.read("model.layers.1.input_layernorm.weight")).data);
    const meanNorm = norm.reduce((a, b) => a + b, 0) / norm.length;
    assert.ok(Math.abs(meanNorm - 1) < 0.01, `norm weights ~1, got mean ${meanNorm}`);
    const st = await openSafetensorsPath(join(dir, "model.safetensors"));
    assert.equal(st.metadata?.["qwen2_ts_random_weights"], "true");
    st.close();
  } finally {
    m.weights.close();
  }
  const dir2 = join(tmp, "tiny-again");
  await createRandomModel({ preset: "tiny", dtype: "f32", outDir: dir2, seed: 5 });
  assert.ok(readFileSync(join(dir, "model.safetensors")).equals(readFileSync(join(dir2, "model.safetensors"))), "same seed, same file");
});

test("one generator: a seed gives the same weights in memory (RandomQwen2Weights) and on disk (create-random)", async () => {
  for (const dtype of ["bf16", "f32"] as const) {
    const dir = join(tmp, `same-${dtype}`);
    const r = await createRandomModel({ preset: "tiny", dtype, outDir: dir, seed: 11 });
    const memory = new RandomQwen2Weights(r.config, 11, dtype);
    const disk = await openSafetensorsPath(join(dir, "model.safetensors"));
    try {
      assert.deepEqual(disk.names().sort(), memory.names().sort());
      for (const name of memory.names()) assert.deepEqual((await disk.read(name)).data, (await memory.read(name)).data, `${dtype} ${name}`);
    } finally {
      disk.close();
    }
    const other = new RandomQwen2Weights(r.config, 12, dtype);
    assert.notDeepEqual(
      (await other.read("model.norm.weight")).data,
      (await memory.read("model.norm.weight")).data,
      "another seed, other weights",
    );
  }
});

test("the embedded tokenizers as Hugging Face's slow layout: the shared qwen2-slow files, and the same ids", async () => {
  const q25 = await embeddedTokenizerFiles("qwen2.5");
  const q2 = await embeddedTokenizerFiles("qwen2");
  assert.equal(q25.vocabSize, 151665);
  assert.equal(q2.vocabSize, 151646);
  assert.equal(q25.files["vocab.json"], q2.files["vocab.json"], "one vocabulary");
  const text = "Hello, world! <tool_call>中文😀</tool_call><|im_end|>";
  const fromFiles = Tokenizer.fromTexts(q25.files);
  assert.deepEqual(fromFiles.encode(text), (await Tokenizer.embedded("qwen2.5")).encode(text));
  const slow = join(tokenizersDir, "qwen2-slow");
  if (!existsSync(slow)) return; // the shared folders are optional; the ids above are checked anyway
  assert.deepEqual(JSON.parse(q2.files["vocab.json"]!), JSON.parse(readFileSync(join(slow, "vocab.json"), "utf8")));
  const lines = (t: string) => t.split("\n").filter((l) => l !== "" && !l.startsWith("#version"));
  assert.deepEqual(lines(q2.files["merges.txt"]!), lines(readFileSync(join(slow, "merges.txt"), "utf8")));
});
