/**
 * Qwen2ForCausalLM mechanics on tiny random models: chunked prefill, batching, KV-cache
 * decoding, sliding-window rings, prefix truncation, hidden states and pooling, quantised
 * weights, tied heads and load errors. (Numerical agreement with Hugging Face is proved by
 * fixtures.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { FormatError, InvalidArgumentError } from "../../src/errors.js";
import type { WeightSource } from "../../src/formats/weights.js";
import { Qwen2ForCausalLM, Qwen2Model } from "../../src/models/qwen2.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";
import { toFloat32 } from "../../src/tensor/convert.js";
import { lastTokenPool, leftPad, PaddedBatchRunner } from "../../src/runtime/padded_batch.js";
import { createTinyModel, tinyConfig } from "./tiny_model.js";
import { QuantizedSource } from "../support/quantized_source.js";

const VOCAB = 97;
const SLIDING = { use_sliding_window: true, sliding_window: 4, max_window_layers: 1 };

function ids(n: number, seed: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + 5) % VOCAB);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Logits of every token of `seq`, fed one chunk at a time of the given sizes. */
async function logitsInPieces(model: Qwen2ForCausalLM, seq: Int32Array, pieces: number[]): Promise<Float32Array> {
  const cache = model.createCache(seq.length);
  const out = new Float32Array(seq.length * model.vocabSize);
  let at = 0;
  for (const p of pieces) {
    const [l] = await model.forward([{ ids: seq.subarray(at, at + p), cache }], { allLogits: true });
    out.set(l!, at * model.vocabSize);
    at += p;
  }
  assert.equal(at, seq.length);
  cache.dispose();
  return out;
}

test("the sliding config really slides: layer 1 uses window 4, layer 0 full attention", async () => {
  const m = await createTinyModel({ vocabSize: VOCAB, config: SLIDING });
  assert.deepEqual(m.model.windows, [null, 4]);
  // A window that covers everything gives the same logits as none; window 4 does not.
  const seq = ids(12, 1);
  const wide = await createTinyModel({ vocabSize: VOCAB, config: { ...SLIDING, sliding_window: 64 } });
  const full = await createTinyModel({ vocabSize: VOCAB });
  const a = await logitsInPieces(m, seq, [12]);
  const b = await logitsInPieces(wide, seq, [12]);
  const c = await logitsInPieces(full, seq, [12]);
  assert.equal(maxAbsDiff(b, c), 0);
  assert.ok(maxAbsDiff(a, c) > 1e-3);
  // The first 4 tokens see the same keys either way.
  assert.ok(maxAbsDiff(a.subarray(0, 4 * VOCAB), c.subarray(0, 4 * VOCAB)) < 1e-6);
});

test("chunked prefill and token-by-token decoding equal one full forward, across ring wrap-around", async () => {
  const seq = ids(23, 2);
  const reference = await logitsInPieces(await createTinyModel({ vocabSize: VOCAB, config: SLIDING }), seq, [23]);
  const chunked = await createTinyModel({ vocabSize: VOCAB, config: SLIDING, chunkSize: 3 });
  assert.ok(maxAbsDiff(await logitsInPieces(chunked, seq, [23]), reference) < 1e-5, "prefill in steps of 3 rows");
  assert.ok(maxAbsDiff(await logitsInPieces(chunked, seq, new Array<number>(23).fill(1)), reference) < 1e-5, "one token at a time");
  assert.ok(maxAbsDiff(await logitsInPieces(chunked, seq, [5, 1, 7, 1, 1, 8]), reference) < 1e-5, "mixed pieces");
});

test("a batched forward equals each sequence run alone, prefill and decode", async () => {
  const model = await createTinyModel({ vocabSize: VOCAB, config: SLIDING, chunkSize: 8 });
  const seqs = [ids(11, 3), ids(1, 4), ids(6, 5)];
  const alone: Float32Array[][] = [];
  for (const s of seqs) {
    const cache = model.createCache(20);
    const [l] = await model.forward([{ ids: s, cache }]);
    const [d] = await model.forward([{ ids: Int32Array.of(7), cache }]);
    cache.dispose();
    alone.push([l!, d!]);
  }
  const caches = seqs.map(() => model.createCache(20));
  const batched = await model.forward(seqs.map((s, i) => ({ ids: s, cache: caches[i]! })));
  const decoded = await model.forward(seqs.map((_, i) => ({ ids: Int32Array.of(7), cache: caches[i]! })));
  seqs.forEach((_, i) => {
    assert.ok(maxAbsDiff(batched[i]!, alone[i]![0]!) < 1e-5, `sequence ${i} prefill`);
    assert.ok(maxAbsDiff(decoded[i]!, alone[i]![1]!) < 1e-5, `sequence ${i} decode`);
    assert.equal(caches[i]!.length, seqs[i]!.length + 1);
  });
});

test("forward({ into }) fills and returns the caller's arrays, and checks their size", async () => {
  const model = await createTinyModel({ vocabSize: VOCAB });
  const a = model.createCache(8);
  const b = model.createCache(8);
  const [plain] = await model.forward([{ ids: ids(3, 11), cache: a }]);
  const into = new Float32Array(VOCAB).fill(Number.NaN);
  const [filled] = await model.forward([{ ids: ids(3, 11), cache: b }], { into: [into] });
  assert.equal(filled, into);
  assert.deepEqual(into, plain);
  const all = new Float32Array(2 * VOCAB);
  const [full] = await model.forward([{ ids: ids(2, 12), cache: b }], { allLogits: true, into: [all] });
  assert.equal(full, all);
  await assert.rejects(
    () => model.forward([{ ids: ids(1, 13), cache: b }], { into: [new Float32Array(VOCAB - 1)] }),
    /item 0: the logits array has \d+ floats, expected \d+/,
  );
  a.dispose();
  b.dispose();
});

test("truncate reuses a prefix, and refuses when a sliding ring has lost needed tokens", async () => {
  const model = await createTinyModel({ vocabSize: VOCAB, config: SLIDING, chunkSize: 4 });
  const prefix = ids(6, 6);
  const tail = ids(4, 7);
  const cache = model.createCache(16);
  await model.forward([{ ids: prefix, cache }]);
  await model.forward([{ ids: ids(3, 8), cache }]); // a branch we abandon
  cache.truncate(6);
  assert.equal(cache.length, 6);
  const [reused] = await model.forward([{ ids: tail, cache }], { allLogits: true });
  const fresh = await logitsInPieces(model, Int32Array.from([...prefix, ...tail]), [10]);
  assert.ok(maxAbsDiff(reused!, fresh.subarray(6 * VOCAB)) < 1e-5);
  // Ring of window 4 + chunk 4 - 1 = 7 slots holds slots 3..9; truncating to 3 needs slot 0.
  assert.throws(
    () => cache.truncate(3),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /sliding layer 1 \(window 4\) keeps only slots 3\.\.9 and would need slot 0/.test((e as Error).message),
  );
  assert.throws(() => cache.truncate(11), InvalidArgumentError);
  cache.dispose();
});

test("padded rows (left or right padding) equal their unpadded sequences; last-token pooling", async () => {
  const model = await createTinyModel({ vocabSize: VOCAB, seed: 3 });
  const rows = [Array.from(ids(5, 9)), Array.from(ids(2, 10))];
  const left = leftPad(rows, 0);
  assert.deepEqual(left.attentionMask, [
    [1, 1, 1, 1, 1],
    [0, 0, 0, 1, 1],
  ]);
  const right = {
    inputIds: rows.map((r) => [...r, ...new Array<number>(5 - r.length).fill(0)]),
    attentionMask: rows.map((r) => [...r.map(() => 1), ...new Array<number>(5 - r.length).fill(0)]),
  };
  const runner = new PaddedBatchRunner(model, left, 8);
  const logits = await runner.prefill();
  runner.dispose();
  for (const [i, r] of rows.entries()) {
    const alone = await logitsInPieces(model, Int32Array.from(r), [r.length]);
    assert.ok(maxAbsDiff(logits[i]!, alone.subarray((r.length - 1) * VOCAB)) < 1e-5, `row ${i}`);
  }
  const pooledLeft = await lastTokenPool(model, left);
  const pooledRight = await lastTokenPool(model, right);
  for (const [i, r] of rows.entries()) {
    const cache = model.createCache(r.length);
    const [h] = await model.hiddenStates([{ ids: Int32Array.from(r), cache }]);
    cache.dispose();
    assert.deepEqual(pooledLeft[i], h!.slice((r.length - 1) * 32));
    assert.deepEqual(pooledRight[i], pooledLeft[i]);
  }
});

test("the LM head is the hidden state times lm_head (or the embedding table when tied)", async () => {
  for (const tied of [false, true]) {
    const config = tinyConfig(VOCAB, { tie_word_embeddings: tied });
    const weights = new RandomQwen2Weights(config, 4, "f32", 0.2);
    assert.equal(weights.has("lm_head.weight"), !tied);
    const model = await Qwen2ForCausalLM.load({ config, weights }, new ReferenceBackend());
    assert.equal(model.tied, tied);
    const seq = ids(3, 11);
    const cache = model.createCache(6);
    const [h] = await model.hiddenStates([{ ids: seq, cache }]);
    cache.truncate(0);
    const [l] = await model.forward([{ ids: seq, cache }]);
    const head = toFloat32("f32", (await weights.read(tied ? "model.embed_tokens.weight" : "lm_head.weight")).data);
    const last = h!.subarray(2 * 32);
    const want = Array.from({ length: VOCAB }, (_, v) => last.reduce((s, x, k) => s + x * head[v * 32 + k]!, 0));
    assert.ok(maxAbsDiff(l!, want) < 1e-5, `tied=${tied}`);
  }
});

test("Q8_0 and Q4_0 weights give the logits of their dequantised float32 values", async () => {
  const config = tinyConfig(96); // every matrix width a multiple of 32
  const base = new RandomQwen2Weights(config, 5, "f32", 0.2);
  const seq = Int32Array.from(ids(7, 12), (v) => v % 96);
  for (const dtype of ["q8_0", "q4_0"] as const) {
    const q = await Qwen2ForCausalLM.load({ config, weights: new QuantizedSource(base, dtype, false) }, new ReferenceBackend());
    const f = await Qwen2ForCausalLM.load({ config, weights: new QuantizedSource(base, dtype, true) }, new ReferenceBackend());
    const run = async (m: Qwen2ForCausalLM): Promise<Float32Array> => {
      const cache = m.createCache(7);
      const [l] = await m.forward([{ ids: seq, cache }], { allLogits: true });
      return l!;
    };
    assert.ok(maxAbsDiff(await run(q), await run(f)) < 1e-5, dtype);
  }
});

test("bad inputs and broken weights give named errors", async () => {
  const model = await createTinyModel({ vocabSize: VOCAB });
  const cache = model.createCache(4);
  await assert.rejects(() => model.forward([{ ids: Int32Array.of(1, VOCAB), cache }]), /item 0: token id 97 at position 1/);
  await assert.rejects(() => model.forward([{ ids: ids(5, 1), cache }]), /exceed the cache capacity 4/);
  await assert.rejects(() => model.forward([{ ids: new Int32Array(0), cache }]), /no new tokens/);
  const other = (await createTinyModel({ vocabSize: VOCAB })).createCache(4);
  await assert.rejects(() => model.forward([{ ids: ids(1, 1), cache: other }]), /not created by this model/);
  await assert.rejects(
    () =>
      model.forward([
        { ids: ids(1, 1), cache },
        { ids: ids(1, 2), cache },
      ]),
    /same cache/,
  );
  assert.equal(cache.length, 0, "a rejected call stores nothing");

  const config = tinyConfig(VOCAB);
  const good = new RandomQwen2Weights(config, 1);
  const missing: WeightSource = Object.assign(Object.create(good) as WeightSource, {
    has: (n: string) => n !== "model.layers.1.mlp.up_proj.weight" && good.has(n),
  });
  await assert.rejects(
    () => Qwen2Model.load({ config, weights: missing }, new ReferenceBackend()),
    (e: unknown) => e instanceof FormatError && /missing tensor model\.layers\.1\.mlp\.up_proj\.weight/.test((e as Error).message),
  );
  const wrong = tinyConfig(VOCAB, { intermediate_size: 48 });
  await assert.rejects(
    () => Qwen2Model.load({ config: wrong, weights: good }, new ReferenceBackend()),
    /model\.layers\.0\.mlp\.gate_proj\.weight has shape \[64, 32\], expected \[48, 32\]/,
  );
});

test("createTinyModel is deterministic per seed", async () => {
  const seq = ids(4, 13);
  const run = async (seed: number): Promise<Float32Array> => await logitsInPieces(await createTinyModel({ vocabSize: VOCAB, seed }), seq, [4]);
  assert.deepEqual(await run(1), await run(1));
  assert.ok(maxAbsDiff(await run(1), await run(2)) > 1e-3);
});
