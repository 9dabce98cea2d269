/**
 * A model split by layers across several WebAssembly memories gives exactly what one memory
 * gives: small per-shard weight budgets force real fixtures over several shards (untied and
 * tied heads, sliding-window rings), then prefill and decode are compared bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { ShardedWasmBackend, WasmBackend } from "../../src/backends/wasm/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { openFolder } from "../support/files.js";

async function run(dir: string, backend: Backend): Promise<Float32Array[]> {
  const folder = await openFolder(dir);
  const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend);
  folder.weights.close();
  try {
    const vocab = model.vocabSize;
    const ids = Int32Array.from({ length: 11 }, (_, i) => (i * 97 + 3) % vocab);
    const cache = model.createCache(16);
    const out = [(await model.forward([{ ids, cache }], { allLogits: true }))[0]!];
    for (let step = 0; step < 4; step++) {
      const last = out[out.length - 1]!;
      const row = last.subarray(last.length - vocab);
      let best = 0;
      for (let v = 1; v < vocab; v++) if (row[v]! > row[best]!) best = v;
      out.push((await model.forward([{ ids: Int32Array.of(best), cache }]))[0]!);
    }
    cache.dispose();
    return out;
  } finally {
    model.dispose();
  }
}

for (const name of ["a_tiny_f32", "b_tiny_bf16_tied_gqa4", "c_sliding_window"]) {
  test(`sharded wasm backend: ${name} over several memories equals one memory`, { skip: needsShared("fixtures") }, async () => {
    const dir = join(fixturesDir, "models", name);
    const single = await WasmBackend.create({ threads: 1, relaxed: false });
    const want = await run(dir, single);
    single.dispose();
    const sharded = await ShardedWasmBackend.create(12, { threads: 1, relaxed: false, maxMemoryMiB: 16, shardWeightBytes: 150_000 });
    try {
      const got = await run(dir, sharded);
      assert.ok(sharded.shardsUsed >= 2, `only ${sharded.shardsUsed} shard used`);
      assert.equal(got.length, want.length);
      got.forEach((g, i) => assert.deepEqual(g, want[i], `step ${i}`));
    } finally {
      sharded.dispose();
    }
  });
}

test("sharded backend sized by forWeights on 2 threads (each shard prefaults its part) equals one memory", {
  skip: needsShared("fixtures"),
}, async () => {
  const dir = join(fixturesDir, "models", "b_tiny_bf16_tied_gqa4");
  const threads = Math.min(2, availableParallelism());
  const folder = await openFolder(dir);
  const total = folder.weights.names().reduce((sum, n) => sum + folder.weights.info(n).byteLength, 0);
  folder.weights.close();
  const single = await WasmBackend.create({ threads, relaxed: false });
  const want = await run(dir, single);
  single.dispose();
  const sharded = await ShardedWasmBackend.forWeights(total, { threads, relaxed: false, maxMemoryMiB: 16, shardWeightBytes: 150_000 });
  try {
    const got = await run(dir, sharded);
    assert.ok(sharded.shardsUsed >= 2, `only ${sharded.shardsUsed} shard used`);
    got.forEach((g, i) => assert.deepEqual(g, want[i], `step ${i}`));
  } finally {
    sharded.dispose();
  }
});

test("createWasmBackend picks one memory or shards by weight size", async () => {
  const { createWasmBackend } = await import("../../src/backends/wasm/index.js");
  const one = await createWasmBackend(1000, { threads: 1, relaxed: false, maxMemoryMiB: 16 });
  assert.ok(one instanceof WasmBackend);
  one.dispose();
  const many = await createWasmBackend(30 * 2 ** 20, { threads: 1, relaxed: false, maxMemoryMiB: 16 });
  assert.ok(many instanceof ShardedWasmBackend);
  many.dispose();
});
