import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { runBench } from "../../src/cli/commands/bench.js";
import { UsageError } from "../../src/cli/command.js";
import type { Qwen2Config } from "../../src/formats/config.js";
import type { LoadedModel, LoadOptions } from "../../src/runtime/load.js";
import { hashModel, ToyTokenizer, type ToyCache } from "../generation/toy.js";

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  return { io: { stdin: Readable.from([""]), stdout, stderr }, out: () => out };
}

test("qwen2 bench --json runs prefill and decode the way it says and prints one object", async () => {
  const model = hashModel();
  const asked: LoadOptions[] = [];
  let closed = false;
  const load = async (path: string, options: LoadOptions): Promise<LoadedModel> => {
    asked.push(options);
    return {
      model,
      tokenizer: new ToyTokenizer(),
      config: {} as Qwen2Config,
      generationConfig: null,
      eosIds: [],
      path,
      format: "hf-folder",
      backend: options.backend ?? "reference",
      randomWeights: true,
      close: () => void (closed = true),
    };
  };
  const t = io();
  const code = await runBench(["--model", "nowhere", "--backend", "reference", "--threads", "1", "--prompt-tokens", "20", "--gen-tokens", "5", "--context", "7", "--json"], t.io, load);
  assert.equal(code, 0);
  assert.deepEqual(asked, [{ backend: "reference", threads: 1 }]);
  assert.ok(closed);
  const lines = t.out().trim().split("\n");
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]!) as Record<string, unknown>;
  for (const key of ["prefill_tps", "decode_tps", "load_ms", "peak_rss_mb", "ttft_ms"]) assert.ok(typeof r[key] === "number" && (r[key] as number) > 0, key);
  assert.equal(r.backend, "reference");
  assert.equal(r.threads, 1);
  assert.equal(typeof r.dtype, "string");
  // Calls: warm-up (8), prefill (20), context fill (7), then 5 single-token steps; ids inside the vocabulary.
  assert.deepEqual(model.calls.map((c) => c[0]!.length), [8, 20, 7, 1, 1, 1, 1, 1]);
  assert.ok(model.calls.flat(2).every((id) => id >= 0 && id < model.vocabSize));
  // Decode feeds back the greedy token: each step's id is the argmax of the previous logits.
  const decodeCache = model.caches[2] as ToyCache;
  assert.equal(decodeCache.ids.length, 12);
  assert.ok(model.caches.every((c) => (c as ToyCache).disposed));
});

test("qwen2 bench rejects a missing model and bad numbers", async () => {
  await assert.rejects(runBench([], io().io), UsageError);
  await assert.rejects(runBench(["--model", "m", "--gen-tokens", "0"], io().io), /--gen-tokens/);
  await assert.rejects(runBench(["--model", "m", "--backend", "gpu"], io().io), /--backend/);
});
