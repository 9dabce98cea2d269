/**
 * End to end through the `qwen2` entry point: `create-random --preset tiny` writes a Hugging
 * Face folder, then `generate` loads it (safetensors, config, reference backend, the real
 * tokenizer and chat template) and writes text. Seeds must reproduce.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { fromPretrained } from "../../src/runtime/load.js";
import { SequenceGenerator, stepBatch } from "../../src/generation/sequence_generator.js";
import { generate } from "../../src/generation/generate.js";
import { writeQwen2GGUF } from "../../src/node/gguf_writer.js";
import { tokenizerFolderData } from "../support/tokenizer_folder.js";
import { captureIO as io } from "../support/cli_io.js";
import { openFolder } from "../support/files.js";

let root = "";
let modelDir = "";

before(async () => {
  root = mkdtempSync(join(tmpdir(), "qwen2-e2e-"));
  modelDir = join(root, "tiny");
  const t = io();
  const code = await main(["create-random", "--preset", "tiny", "--out", modelDir, "--seed", "3"], t.io);
  // create-random is part of this package: its failure fails the file, never skips it.
  assert.equal(code, 0, `create-random failed: ${t.err().trim()}`);
});

after(() => rmSync(root, { recursive: true, force: true }));

test("create-random tiny, then qwen2 generate --chat with the real tokenizer and template", async () => {
  const run = async (args: string[]) => {
    const c = io();
    const code = await main(["generate", "--model", modelDir, "--json", ...args], c.io);
    assert.equal(code, 0, c.err());
    return {
      obj: JSON.parse(c.out()) as {
        text: string;
        ids: number[];
        finish_reason: string;
        usage: { prompt_tokens: number; completion_tokens: number };
        random_weights: boolean;
        seed: number;
      },
      err: c.err(),
    };
  };
  const args = (seed: number) => ["--chat", "--max-new-tokens", "6", "--temperature", "1.5", "--seed", String(seed), "Hello there"];
  const a = await run(args(11));
  const b = await run(args(11));
  const c = await run(args(12));
  assert.equal(a.obj.random_weights, true);
  assert.match(a.err, /RANDOM weights/);
  assert.deepEqual(a.obj.ids, b.obj.ids, "same seed, same ids");
  assert.equal(a.obj.text, b.obj.text);
  assert.notDeepEqual(a.obj.ids, c.obj.ids, "another seed, other ids");
  assert.ok(a.obj.ids.length >= 1 && a.obj.ids.length <= 6);
  // The chat template wraps "Hello there" in Qwen2's system/user/assistant turns.
  assert.ok(a.obj.usage.prompt_tokens > 15, `prompt tokens ${a.obj.usage.prompt_tokens}`);
});

test("qwen2 generate streams plain-prompt text to stdout through main()", async () => {
  const c = io();
  assert.equal(await main(["generate", "--model", modelDir, "--max-new-tokens", "3", "--temperature", "0", "Hello there"], c.io), 0);
  assert.ok(c.out().endsWith("\n"));
  // "Hello there" is 2 tokens; no chat template without --chat.
  assert.match(c.err(), /finish: (stop|length) \| prompt 2 tokens/);
});

test("loadModel on the random folder: EOS union, label, and batched steps equal solo runs", async () => {
  const m = await fromPretrained(modelDir);
  try {
    assert.equal(m.randomWeights, true);
    const imEnd = m.tokenizer.tokenToId("<|im_end|>")!;
    const eot = m.tokenizer.tokenToId("<|endoftext|>")!;
    assert.ok(m.eosIds.includes(imEnd) && m.eosIds.includes(eot), `eosIds ${m.eosIds.join(",")}`);
    const prompts = ["The quick brown fox", "Hi", "1 2 3 4 5 6 7 8 9"].map((p) => m.tokenizer.encode(p));
    const opts = (i: number) => ({ maxNewTokens: 4, temperature: 1.2, seed: 100 + i, ignoreEos: true });
    const solo: number[][] = [];
    for (const [i, ids] of prompts.entries()) {
      const g = new SequenceGenerator(m.model, m.tokenizer, ids, opts(i));
      while (!g.done) await stepBatch(m.model, [g]);
      solo.push(g.result().ids);
    }
    const gens = prompts.map((ids, i) => new SequenceGenerator(m.model, m.tokenizer, ids, opts(i)));
    while (gens.some((g) => !g.done)) await stepBatch(m.model, gens);
    assert.deepEqual(
      gens.map((g) => g.result().ids),
      solo,
    );
    // A cache that already holds the prompt's first tokens gives the same continuation.
    const cache = m.model.createCache(64);
    const prefix = new SequenceGenerator(m.model, m.tokenizer, prompts[0]!.slice(0, 2), { cache, maxNewTokens: 1, temperature: 0 });
    while (!prefix.done) await stepBatch(m.model, [prefix]);
    cache.truncate(2);
    const reuse = new SequenceGenerator(m.model, m.tokenizer, prompts[0]!, { ...opts(0), cache });
    assert.equal(reuse.nextInput()!.length, prompts[0]!.length - 2);
    while (!reuse.done) await stepBatch(m.model, [reuse]);
    assert.deepEqual(reuse.result().ids, solo[0]);
    cache.dispose();
  } finally {
    m.close();
  }
});

test("loadModel --backend wasm runs the same folder to the same greedy tokens as the reference backend, and releases its workers on close", async () => {
  const greedyIds = async (backend: "wasm" | "reference"): Promise<number[]> => {
    const m = await fromPretrained(modelDir, { backend, threads: 1 });
    try {
      assert.equal(m.backend, backend);
      const g = new SequenceGenerator(m.model, m.tokenizer, m.tokenizer.encode("Hello, tiny model"), {
        maxNewTokens: 8,
        temperature: 0,
        ignoreEos: true,
      });
      while (!g.done) await stepBatch(m.model, [g]);
      return g.result().ids;
    } finally {
      m.close();
    }
  };
  const wasm = await greedyIds("wasm");
  assert.equal(wasm.length, 8);
  assert.deepEqual(wasm, await greedyIds("reference"));
});

test("loadModel on a .gguf written from the folder: same tokenizer, same tokens", async () => {
  const folder = await openFolder(modelDir);
  const gguf = join(root, "tiny.gguf");
  try {
    await writeQwen2GGUF(gguf, { config: folder.config, weights: folder.weights, tokenizer: tokenizerFolderData(modelDir), type: "bf16" });
  } finally {
    folder.weights.close();
  }
  const a = await fromPretrained(modelDir);
  const b = await fromPretrained(gguf);
  try {
    assert.equal(b.format, "gguf");
    assert.equal(b.randomWeights, true, "the random-weights label survives the GGUF export");
    const messages = [{ role: "user", content: "Hello there, 你好" }];
    const opts = { maxNewTokens: 5, temperature: 1, seed: 3, ignoreEos: true };
    const ra = await generate(a.model, a.tokenizer, messages, opts);
    const rb = await generate(b.model, b.tokenizer, messages, opts);
    assert.equal(ra.usage.promptTokens, rb.usage.promptTokens, "the GGUF's tokenizer and chat template give the same prompt");
    assert.deepEqual(rb.ids, ra.ids);
    assert.equal(rb.text, ra.text);
    assert.ok(b.eosIds.includes(b.tokenizer.tokenToId("<|im_end|>")!));
  } finally {
    a.close();
    b.close();
  }
});
