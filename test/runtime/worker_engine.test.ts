/**
 * WorkerEngine in Node (a worker_threads worker through #platform): the model loads in the
 * worker with progress, generation there gives what generate() gives in this thread, aborts
 * (load and generation) reach the worker, errors arrive with their name and message, and a
 * disposed engine refuses further work.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { generate } from "../../src/generation/generate.js";
import { fromPretrained } from "../../src/runtime/load.js";
import { WorkerEngine, type EngineLoadProgress } from "../../src/runtime/worker_engine/engine.js";
import { captureIO } from "../support/cli_io.js";

let root = "";
let modelDir = "";
let engine: WorkerEngine | null = null;
const progress: EngineLoadProgress[] = [];

before(async () => {
  root = mkdtempSync(join(tmpdir(), "qwen2-worker-engine-"));
  modelDir = join(root, "tiny");
  const io = captureIO();
  assert.equal(await main(["create-random", "--preset", "tiny", "--out", modelDir, "--seed", "5"], io.io), 0, io.err());
  // Two compute threads where there are two cores: the wasm pool runs nested in the engine's worker.
  engine = await WorkerEngine.create({
    model: modelDir,
    threads: Math.min(2, availableParallelism()),
    onProgress: (p) => progress.push(p),
  });
});

after(() => {
  engine?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const chat = [{ role: "user" as const, content: "Hello there" }];
const sampling = { maxNewTokens: 8, temperature: 0.9, seed: 7, ignoreEos: true };

test("the model loads in the worker, with progress events, and reports its backend and configs", () => {
  const e = engine!;
  assert.match(e.info.backend, /^wasm-(simd|relaxed)$/);
  assert.equal(e.info.config.num_hidden_layers > 0, true);
  assert.ok(e.info.eosIds.length > 0);
  assert.ok(progress.length > 0, "progress events");
  assert.equal(progress.at(-1)!.phase, "ready");
});

test("streamed generation in the worker equals generate() in this thread", async () => {
  const local = await fromPretrained(modelDir, { threads: 1 });
  try {
    const want = await generate(local.model, local.tokenizer, chat, { ...sampling, eosIds: local.eosIds });
    const pieces: string[] = [];
    const it = engine!.stream(chat, sampling);
    let step = await it.next();
    while (!step.done) {
      pieces.push(step.value.text);
      step = await it.next();
    }
    const got = step.value;
    assert.deepEqual(got.ids, want.ids);
    assert.equal(got.text, want.text);
    assert.equal(pieces.join(""), got.text);
    assert.equal(got.finishReason, "length");
    assert.deepEqual(await engine!.encode("Hello there"), local.tokenizer.encode("Hello there"));
    assert.equal(await engine!.decode(want.ids), local.tokenizer.decode(want.ids));
    assert.equal(
      await engine!.applyChatTemplate(chat, { addGenerationPrompt: true }),
      local.tokenizer.applyChatTemplate(chat, { addGenerationPrompt: true }),
    );
  } finally {
    local.close();
  }
});

test("an abort signal reaches the worker: generation ends with finish reason abort", async () => {
  const controller = new AbortController();
  const it = engine!.stream(chat, { ...sampling, maxNewTokens: 200, signal: controller.signal });
  const first = await it.next();
  assert.equal(first.done, false);
  controller.abort();
  let step = await it.next();
  while (!step.done) step = await it.next();
  assert.equal(step.value.finishReason, "abort");
  assert.ok(step.value.ids.length < 200);
  // Already aborted before it starts: no token at all.
  const pre = new AbortController();
  pre.abort();
  const none = await engine!.generate(chat, { ...sampling, signal: pre.signal });
  assert.equal(none.finishReason, "abort");
});

test("breaking out of a stream aborts it in the worker; the engine keeps working", async () => {
  for await (const _ of engine!.stream(chat, { ...sampling, maxNewTokens: 200 })) break;
  const again = await engine!.generate(chat, sampling);
  assert.equal(again.ids.length, 8);
});

test("errors thrown in the worker arrive as Errors with their name and message", async () => {
  await assert.rejects(engine!.generate(chat, { ...sampling, temperature: -1 }), (err: Error) => {
    assert.ok(err instanceof Error);
    assert.equal(err.name, "InvalidArgumentError");
    assert.match(err.message, /temperature/);
    return true;
  });
  const missing = join(root, "no-such-model");
  await assert.rejects(WorkerEngine.create({ model: missing }), (err: Error) => {
    assert.equal(err.name, "FormatError");
    assert.ok(err.message.includes(missing), err.message);
    return true;
  });
});

test("aborting the load rejects create() with the signal's reason", async () => {
  const controller = new AbortController();
  const pending = WorkerEngine.create({ model: modelDir, threads: 1, signal: controller.signal });
  controller.abort();
  await assert.rejects(pending, { name: "AbortError" });
  const already = new AbortController();
  already.abort();
  await assert.rejects(WorkerEngine.create({ model: modelDir, signal: already.signal }), { name: "AbortError" });
});

test("a disposed engine rejects further work", async () => {
  const e = await WorkerEngine.create({ model: modelDir, threads: 1 });
  e.dispose();
  await assert.rejects(e.generate(chat, sampling), /WorkerEngine: disposed/);
  await assert.rejects(e.encode("x"), /WorkerEngine: disposed/);
});
