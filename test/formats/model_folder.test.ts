import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../src/errors.js";
import { openFolder, openSafetensorsPath } from "../support/files.js";
import { qwen2ExpectedTensors } from "../../src/formats/qwen2_tensors.js";
import type { TensorToWrite } from "../../src/formats/safetensors_writer.js";
import { writeSafetensors } from "../../src/node/safetensors_writer.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared, sharedMissing } from "../support/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "qwen2-folder-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

interface ManifestEntry {
  name: string;
  model: string;
  weights_dtype: string;
}
const manifest = sharedMissing("fixtures") ? [] : (JSON.parse(readFileSync(join(fixturesDir, "MANIFEST.json"), "utf8")) as ManifestEntry[]);

test("every fixture folder loads and its weights match the expected Qwen2 tensors", { skip: needsShared("fixtures") }, async () => {
  for (const entry of manifest) {
    const m = await openFolder(join(fixturesDir, entry.model));
    try {
      const expected = qwen2ExpectedTensors(m.config).filter((e) => m.weights.has(e.name));
      assert.equal(m.weights.names().length, expected.length, entry.name);
      for (const e of expected) {
        const info = m.weights.info(e.name);
        assert.deepEqual(info.shape, e.shape, `${entry.name} ${e.name}`);
        assert.equal(info.dtype, entry.weights_dtype, `${entry.name} ${e.name}`);
      }
      assert.equal(m.report.tiedHead, m.config.tie_word_embeddings, entry.name);
      assert.deepEqual(m.report.missing, []);
      assert.deepEqual(m.generationConfig.eos_token_id, m.config.eos_token_id);
    } finally {
      m.weights.close();
    }
  }
});

/** Copies fixture a_tiny_f32's config and rewrites its weights through `edit`. */
async function variant(name: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): Promise<string> {
  const src = join(fixturesDir, "models/a_tiny_f32");
  const d = join(tmp, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  copyFileSync(join(src, "config.json"), join(d, "config.json"));
  const st = await openSafetensorsPath(join(src, "model.safetensors"));
  const tensors: TensorToWrite[] = [];
  for (const n of st.names()) {
    const t = await st.read(n);
    tensors.push({ name: n, dtype: t.dtype, shape: t.shape, data: t.data });
  }
  st.close();
  await writeSafetensors(join(d, "model.safetensors"), edit(tensors));
  return d;
}

test("missing and mis-shaped tensors are reported by name; inv_freq is ignored; no generation_config is fine", {
  skip: needsShared("fixtures"),
}, async () => {
  const missing = await variant("missing", (ts) => ts.filter((t) => t.name !== "model.layers.1.mlp.up_proj.weight"));
  await assert.rejects(
    () => openFolder(missing),
    (e: unknown) => e instanceof FormatError && /missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight'/.test(e.detail),
  );

  const misshaped = await variant("misshaped", (ts) =>
    ts.map((t) => (t.name === "model.norm.weight" ? { ...t, shape: [32], data: new Uint8Array(128) } : t)),
  );
  await assert.rejects(
    () => openFolder(misshaped),
    (e: unknown) => e instanceof FormatError && /mis-shaped tensor model\.norm\.weight: expected \[64\], found \[32\]/.test(e.detail),
  );

  const extra = await variant("extra", (ts) => [
    ...ts,
    { name: "model.layers.0.self_attn.rotary_emb.inv_freq", dtype: "f32", shape: [8], data: new Uint8Array(32) },
    { name: "something.else", dtype: "f32", shape: [1], data: new Uint8Array(4) },
  ]);
  const m = await openFolder(extra);
  assert.deepEqual(m.report.ignored, ["model.layers.0.self_attn.rotary_emb.inv_freq"]);
  assert.deepEqual(m.report.unexpected, ["something.else"]);
  assert.match(m.warnings.join("\n"), /not used by Qwen2ForCausalLM.*something\.else/);
  assert.deepEqual(m.generationConfig, {});
  m.weights.close();

  const untiedNoHead = await variant("nohead", (ts) => ts.filter((t) => t.name !== "lm_head.weight"));
  await assert.rejects(() => openFolder(untiedNoHead), /missing tensor 'lm_head\.weight'/);
});

test("folders without safetensors weights give clear errors", { skip: needsShared("fixtures") }, async () => {
  const empty = join(tmp, "empty");
  mkdirSync(empty);
  copyFileSync(join(fixturesDir, "models/a_tiny_f32/config.json"), join(empty, "config.json"));
  await assert.rejects(
    () => openFolder(empty),
    (e: unknown) => e instanceof FormatError && /no model\.safetensors/.test(e.detail),
  );
  writeFileSync(join(empty, "pytorch_model.bin"), "x");
  await assert.rejects(() => openFolder(empty), UnsupportedError);
  await assert.rejects(
    () => openFolder(join(tmp, "nowhere")),
    (e: unknown) => e instanceof FormatError && e.file.endsWith("config.json") && /file not found/.test(e.detail),
  );
});
