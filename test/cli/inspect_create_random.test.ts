import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../../src/node/safetensors_writer.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { runCli as cli } from "../support/cli_io.js";
import { openSafetensorsPath } from "../support/files.js";

const tmp = mkdtempSync(join(tmpdir(), "qwen2-cli-formats-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

test("create-random tiny, then inspect it (text and JSON)", async () => {
  const dir = join(tmp, "tiny");
  const made = await cli(["create-random", "--preset", "tiny", "--dtype", "bf16", "--out", dir, "--seed", "2"]);
  assert.equal(made.code, 0, made.err);
  assert.match(made.out, /preset tiny, bf16/);
  assert.match(made.err, /RANDOM/);

  const text = await cli(["inspect", "--model", dir]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /RANDOM WEIGHTS/);
  assert.match(text.out, /layers\s+0-1 full/);
  assert.match(text.out, /tied to embed_tokens \(no lm_head\.weight stored\)/);
  assert.match(text.out, /model\.layers\.1\.mlp\.down_proj\.weight\s+BF16\s+\[64, 128\]/);

  const json = await cli(["inspect", "--model", dir, "--json"]);
  assert.equal(json.code, 0);
  const info = JSON.parse(json.out) as {
    random_weights: boolean;
    parameters: number;
    weight_bytes: number;
    tensors: { shape: number[] }[];
    kv_bytes_per_token_f32: number;
  };
  assert.equal(info.random_weights, true);
  const counted = info.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(info.parameters, counted);
  assert.equal(info.weight_bytes, counted * 2);
  // 2 layers x (K and V) x 2 kv heads x head_dim 16 x 4 bytes
  assert.equal(info.kv_bytes_per_token_f32, 2 * 2 * 2 * 16 * 4);

  const again = await cli(["create-random", "--preset", "tiny", "--out", dir]);
  assert.equal(again.code, 2);
  assert.match(again.err, /not empty/);
});

test("create-random rejects bad options with usage errors", async () => {
  for (const args of [
    ["create-random", "--out", join(tmp, "x")],
    ["create-random", "--preset", "huge", "--out", join(tmp, "x")],
    ["create-random", "--preset", "tiny", "--dtype", "q4_0", "--out", join(tmp, "x")],
    ["create-random", "--preset", "tiny", "--seed", "-1", "--out", join(tmp, "x")],
    ["create-random", "--preset", "tiny"],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, /qwen2 create-random: /);
  }
});

test("inspect shows sliding layers and shards of the fixtures", { skip: needsShared("fixtures") }, async () => {
  const c = await cli(["inspect", "--model", join(fixturesDir, "models/c_sliding_window")]);
  assert.equal(c.code, 0);
  assert.match(c.out, /layers\s+0-1 full, 2-3 sliding\(8\)/);
  const f = await cli(["inspect", "--model", join(fixturesDir, "models/f_sharded")]);
  assert.match(f.out, /lm_head\.weight\s+F32\s+\[512, 64\]\s+model-00002-of-00002\.safetensors/);
  assert.match(f.out, /parameters\s+176,960/); // the index's metadata.total_parameters
  const d = await cli(["inspect", "--model", join(fixturesDir, "models/d_yarn"), "--json"]);
  const info = JSON.parse(d.out) as { config: { rope_scaling: { rope_type: string; factor: number } } };
  assert.deepEqual([info.config.rope_scaling.rope_type, info.config.rope_scaling.factor], ["yarn", 4]);
});

test("inspect names missing tensors and exits 1; missing --model is a usage error", { skip: needsShared("fixtures") }, async () => {
  const src = join(fixturesDir, "models/a_tiny_f32");
  const dir = join(tmp, "broken");
  mkdirSync(dir);
  copyFileSync(join(src, "config.json"), join(dir, "config.json"));
  const st = await openSafetensorsPath(join(src, "model.safetensors"));
  const kept = st.names().filter((n) => n !== "model.layers.0.self_attn.k_proj.bias");
  const tensors = [];
  for (const n of kept) tensors.push({ ...st.info(n), data: (await st.read(n)).data });
  await writeSafetensors(join(dir, "model.safetensors"), tensors);
  st.close();
  const r = await cli(["inspect", "--model", dir]);
  assert.equal(r.code, 1);
  assert.match(r.out, /ERROR missing tensor model\.layers\.0\.self_attn\.k_proj\.bias/);
  assert.equal((await cli(["inspect"])).code, 2);

  writeFileSync(join(dir, "config.json"), readFileSync(join(src, "config.json"), "utf8").replace('"qwen2"', '"llama"'));
  await assert.rejects(cli(["inspect", "--model", dir]), /config\.json: model_type: 'llama' is not a Qwen2 model/);
});
