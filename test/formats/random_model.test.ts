import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRandomModel, randomPresetConfig, randomTensorChunks, RANDOM_PRESETS } from "../../src/formats/random_model.js";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import { qwen2ExpectedTensors } from "../../src/formats/qwen2_tensors.js";
import { writeEmbeddedTokenizer } from "../../src/formats/tokenizer_files.js";
import { bf16ToF32, f16ToF32, toFloat32 } from "../../src/tensor/convert.js";
import { tokenizersDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
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
    sizes[p] = qwen2ExpectedTensors(c).filter((e) => e.required).reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  }
  // Qwen2-0.5B / Qwen2.5-0.5B: 494,032,768 parameters; Qwen2-1.5B: 1,543,714,304.
  assert.equal(sizes["qwen2-0.5b"], 494032768);
  assert.equal(sizes["qwen2.5-0.5b"], 494032768);
  assert.equal(sizes["qwen2-1.5b"], 1543714304);
});

test("tiny random model: HF layout, labelled, the tokenizer's full vocabulary, loads and validates", async () => {
  const dir = join(tmp, "tiny");
  const r = createRandomModel({ preset: "tiny", dtype: "f32", outDir: dir, seed: 5 });
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
  createRandomModel({ preset: "tiny", dtype: "f32", outDir: dir2, seed: 5 });
  assert.ok(readFileSync(join(dir, "model.safetensors")).equals(readFileSync(join(dir2, "model.safetensors"))), "same seed, same file");
});

test("embedded tokenizer export: packed (vocab.txt + merges.bin) and tokenizer.json layouts", { skip: needsShared("tokenizers") }, async () => {
  const slow = join(tokenizersDir, "qwen2-slow");
  const vocab = JSON.parse(readFileSync(join(slow, "vocab.json"), "utf8")) as Record<string, number>;
  const mergeLines = readFileSync(join(slow, "merges.txt"), "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#version"));
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  const triples = new Int32Array(mergeLines.length * 3);
  mergeLines.forEach((line, i) => {
    const [l, r] = line.split(" ");
    triples[3 * i] = vocab[l!]!;
    triples[3 * i + 1] = vocab[r!]!;
    triples[3 * i + 2] = vocab[l! + r!] ?? -1;
  });
  const assets = join(tmp, "assets");
  mkdirSync(join(assets, "qwen2"), { recursive: true });
  mkdirSync(join(assets, "qwen2.5"), { recursive: true });
  writeFileSync(join(assets, "qwen2/vocab.txt"), tokens.join("\n") + "\n");
  writeFileSync(join(assets, "qwen2/merges.bin"), new Uint8Array(triples.buffer));
  writeFileSync(join(assets, "qwen2/tokenizer_config.json"), readFileSync(join(slow, "tokenizer_config.json")));
  writeFileSync(join(assets, "qwen2.5/tokenizer_config.json"), readFileSync(join(tokenizersDir, "qwen2.5/tokenizer_config.json")));

  const out = join(tmp, "tok-out");
  mkdirSync(out);
  const size = writeEmbeddedTokenizer("qwen2.5", out, assets);
  assert.deepEqual(JSON.parse(readFileSync(join(out, "vocab.json"), "utf8")), vocab);
  assert.deepEqual(readFileSync(join(out, "merges.txt"), "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#version")), mergeLines);
  assert.equal(size, 151665);

  const fromJson = join(tmp, "tok-json");
  mkdirSync(fromJson);
  assert.equal(writeEmbeddedTokenizer("qwen2.5", fromJson, tokenizersDir), 151665);
  assert.ok(readFileSync(join(fromJson, "tokenizer.json")).byteLength > 1000);
});
