import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { runBench } from "../../src/cli/commands/bench.js";
import { UsageError, type ModelLoader } from "../../src/cli/command.js";
import type { LoadedModel, LoadOptions } from "../../src/runtime/load.js";
import { hashModel, ToyTokenizer, type ToyModel, type ToyCache } from "../generation/toy.js";

/** What the runtime's loader returns, around a toy model; `engine` names the backend. */
function loaded(model: ToyModel, path: string, engine: string, close = () => {}): LoadedModel {
  return {
    model,
    tokenizer: new ToyTokenizer(),
    config: {} as LoadedModel["config"],
    generationConfig: null,
    eosIds: [],
    path,
    format: "hf-folder",
    backend: "reference",
    engine,
    randomWeights: false,
    close,
  };
}

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  return { io: { stdin: Readable.from([""]), stdout, stderr }, out: () => out };
}

test("qwen2 bench --json runs prefill and decode the way it says and prints one object", async () => {
  const model = hashModel();
  const asked: Array<{ path: string } & LoadOptions> = [];
  let closed = false;
  const load: ModelLoader = async (path, options) => {
    asked.push({ path, ...options });
    return loaded(model, path, `toy-${options.backend}`, () => void (closed = true));
  };
  const t = io();
  const code = await runBench(
    [
      "--model",
      "nowhere",
      "--backend",
      "reference",
      "--threads",
      "1",
      "--prompt-tokens",
      "20",
      "--gen-tokens",
      "5",
      "--context",
      "7",
      "--repeats",
      "3",
      "--json",
    ],
    { ...t.io, loadModel: load },
  );
  assert.equal(code, 0);
  assert.deepEqual(asked, [{ path: "nowhere", backend: "reference", threads: 1 }]);
  assert.ok(closed);
  const lines = t.out().trim().split("\n");
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]!) as Record<string, unknown>;
  for (const key of ["prefill_tps", "decode_tps", "load_ms", "peak_rss_mb", "ttft_ms"])
    assert.ok(typeof r[key] === "number" && (r[key] as number) > 0, key);
  // Medians with their [min, max] over the repeats.
  assert.equal(r.repeats, 3);
  for (const key of ["prefill_tps", "decode_tps", "ttft_ms"]) {
    const [lo, hi] = r[`${key}_range`] as [number, number];
    assert.ok(lo <= (r[key] as number) && (r[key] as number) <= hi, `${key} inside its range`);
  }
  assert.equal(r.backend, "toy-reference");
  assert.equal(r.threads, 1);
  assert.equal(typeof r.dtype, "string");
  // Calls: warm-up (8); then per repeat the prefill (20), the context (7, shorter than the
  // prompt, so the prompt's cache continues with one more token), then one untimed and 5
  // timed single-token steps.
  const repeat = [20, 1, 1, 1, 1, 1, 1, 1];
  assert.deepEqual(
    model.calls.map((c) => c[0]!.length),
    [8, ...repeat, ...repeat, ...repeat],
  );
  assert.ok(model.calls.flat(2).every((id) => id >= 0 && id < model.vocabSize));
  const decodeCache = model.caches[1] as ToyCache;
  assert.equal(decodeCache.ids.length, 27);
  assert.ok(model.caches.every((c) => (c as ToyCache).disposed));
});

test("qwen2 bench rejects a missing model and bad numbers", async () => {
  await assert.rejects(runBench([], io().io), UsageError);
  await assert.rejects(runBench(["--model", "m", "--gen-tokens", "0"], io().io), /--gen-tokens/);
  await assert.rejects(runBench(["--model", "m", "--backend", "gpu"], io().io), /--backend/);
});

test("qwen2 bench continues the prompt to a longer context, and decodes from a fresh cache without one", async () => {
  for (const [context, calls] of [
    ["10", [8, 4, 6, 1, 1, 1]],
    ["0", [8, 4, 1, 1, 1]],
  ] as const) {
    const model = hashModel();
    const load: ModelLoader = async (path) => loaded(model, path, "toy");
    await runBench(
      ["--model", "m", "--threads", "1", "--prompt-tokens", "4", "--gen-tokens", "2", "--context", context, "--repeats", "1", "--json"],
      {
        ...io().io,
        loadModel: load,
      },
    );
    assert.deepEqual(
      model.calls.map((c) => c[0]!.length),
      [...calls],
      `context ${context}`,
    );
    // The decode steps run on the cache that holds the context.
    assert.equal((model.caches.at(-1) as ToyCache).ids.length, context === "0" ? 3 : 13);
  }
});
