import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDemo, defaultDemoDir } from "../../src/cli/commands/demo.js";
import type { ModelLoader } from "../../src/cli/command.js";
import type { Qwen2Config } from "../../src/formats/config.js";
import { ToyTokenizer, scriptedModel, IM_END } from "../generation/toy.js";
import { captureIO as io } from "../support/cli_io.js";

const load: ModelLoader = async (path) => ({
  model: scriptedModel("noise noise"),
  tokenizer: new ToyTokenizer(),
  config: {
    num_hidden_layers: 2,
    hidden_size: 64,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 259,
    eos_token_id: [IM_END],
  } as unknown as Qwen2Config,
  generationConfig: null,
  eosIds: [IM_END],
  path,
  format: "hf-folder",
  backend: "reference",
  randomWeights: true,
  close: () => {},
});

test("demo makes the random model once, then reuses it, and says the weights are random", async () => {
  const root = mkdtempSync(join(tmpdir(), "qwen2-demo-"));
  const dir = join(root, "m");
  let made = 0;
  const make = async (d: string): Promise<void> => {
    made++;
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "config.json"), JSON.stringify({ model_type: "qwen2", qwen2_ts_random_weights: true }));
    writeFileSync(join(d, "model.safetensors"), "");
  };
  try {
    const first = io();
    assert.equal(await runDemo(["--dir", dir], { ...first.io, loadModel: load }, make), 0);
    assert.equal(made, 1);
    assert.match(first.out(), /RANDOM weights/);
    assert.match(first.out(), /<\|im_start\|>user\nHello!/);
    assert.match(first.out(), /assistant \(random weights\)> noise noise/);
    assert.match(first.out(), /npx qwen2 demo --model/);
    const second = io();
    await runDemo(["--dir", dir, "--prompt", "Hi there"], { ...second.io, loadModel: load }, make);
    assert.equal(made, 1, "an existing random model is reused");
    assert.match(second.out(), /user> Hi there/);
    await runDemo(["--dir", dir, "--fresh"], { ...io().io, loadModel: load }, make);
    assert.equal(made, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("demo --model runs a given folder without making a random one", async () => {
  let made = 0;
  const t = io();
  assert.equal(
    await runDemo(["--model", "/some/real/folder", "--prompt", "Hey"], { ...t.io, loadModel: load }, async () => void made++),
    0,
  );
  assert.equal(made, 0);
  assert.match(t.out(), /qwen2 demo — \/some\/real\/folder/);
  assert.match(t.out(), /user> Hey/);
  await assert.rejects(
    runDemo(["--model", "x", "--fresh"], { ...io().io, loadModel: load }, async () => {}),
    /--fresh/,
  );
});

test("the demo cache folder follows QWEN2_CACHE_DIR, then XDG_CACHE_HOME", () => {
  assert.equal(defaultDemoDir({ QWEN2_CACHE_DIR: "/c" }), join("/c", "demo-tiny-random"));
  assert.equal(defaultDemoDir({ XDG_CACHE_HOME: "/x" }), join("/x", "qwen2-ts", "demo-tiny-random"));
});
