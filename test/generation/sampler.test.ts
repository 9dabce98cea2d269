import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/generation/rng.js";
import { applyPresenceFrequency, applyRepetitionPenalty, minP, topIndices, topK, topP } from "../../src/generation/logits_processors.js";
import { Sampler, isSampling } from "../../src/generation/sampler.js";
import { InvalidArgumentError } from "../../src/errors.js";

function randomLogits(rng: Rng, n: number, scale = 4): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rng.next() * 2 - 1) * scale;
  return x;
}

function softmax(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Hugging Face's TopPLogitsWarper, literally: ascending sort, cumsum, drop cumsum <= 1 - p, keep the last. */
function hfTopP(x: Float32Array, p: number): Set<number> {
  const order = Array.from(x.keys()).sort((a, b) => x[a]! - x[b]! || b - a);
  const probs = softmax(order.map((i) => x[i]!));
  const kept = new Set<number>();
  let cum = 0;
  order.forEach((id, r) => {
    cum += probs[r]!;
    if (!(cum <= 1 - p) || r === order.length - 1) kept.add(id);
  });
  return kept;
}

test("rng: same seed gives the same stream, different seeds differ, values in [0, 1)", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.next());
  const sb = Array.from({ length: 100 }, () => b.next());
  const sc = Array.from({ length: 100 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  for (const v of sa) assert.ok(v >= 0 && v < 1);
  assert.notDeepEqual(
    Array.from({ length: 4 }, () => new Rng(0).next()),
    [0, 0, 0, 0],
  );
  assert.notEqual(new Rng(2 ** 32).next(), new Rng(0).next(), "high seed bits matter");
  // A rough uniformity check on 20000 draws: each decile holds about a tenth.
  const r = new Rng(7);
  const bins = new Array<number>(10).fill(0);
  for (let i = 0; i < 20000; i++) bins[Math.floor(r.next() * 10)]!++;
  for (const n of bins) assert.ok(n > 1800 && n < 2200, `decile count ${n}`);
});

test("repetition penalty divides positive and multiplies negative logits, once per id", () => {
  const x = Float32Array.from([2, -2, 1, 0.5]);
  applyRepetitionPenalty(x, new Set([0, 1, 1]), 2);
  assert.deepEqual(Array.from(x), [1, -4, 1, 0.5]);
});

test("presence and frequency penalties follow OpenAI's formula", () => {
  const x = Float32Array.from([1, 1, 1]);
  applyPresenceFrequency(
    x,
    new Map([
      [0, 3],
      [2, 1],
    ]),
    0.5,
    0.25,
  );
  assert.deepEqual(Array.from(x), [1 - 0.75 - 0.5, 1, 1 - 0.25 - 0.5]);
});

test("topIndices returns the k largest in descending order, lower id first on ties", () => {
  const x = Float32Array.from([1, 5, 3, 5, -Infinity, 2]);
  assert.deepEqual(Array.from(topIndices(x, 3)), [1, 3, 2]);
  assert.deepEqual(Array.from(topIndices(x, 10)), [1, 3, 2, 5, 0], "-Infinity ids never appear");
});

test("top-k keeps ids tied with the k-th logit (Hugging Face semantics)", () => {
  const x = Float32Array.from([4, 3, 3, 3, 1]);
  assert.deepEqual(Array.from(topK(x, 2, null).ids).sort(), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(topK(x, 1, null).ids), [0]);
});

test("top-p keeps exactly Hugging Face's nucleus on random rows", () => {
  const rng = new Rng(1);
  for (let trial = 0; trial < 40; trial++) {
    const n = 1 + Math.floor(rng.next() * 700);
    const x = randomLogits(rng, n, trial % 2 ? 8 : 2);
    for (const p of [0.05, 0.3, 0.5, 0.8, 0.9, 0.95, 0.999]) {
      const ours = new Set(topP(x, p, null).ids);
      const theirs = hfTopP(x, p);
      assert.deepEqual(
        [...ours].sort((a, b) => a - b),
        [...theirs].sort((a, b) => a - b),
        `trial ${trial} n=${n} p=${p}`,
      );
    }
  }
});

test("top-p keeps at least the most likely id, also at p = 0", () => {
  const x = Float32Array.from([0.1, 3, 0.2]);
  assert.deepEqual(Array.from(topP(x, 0, null).ids), [1]);
});

test("min-p keeps ids at least minP times as likely as the best", () => {
  const rng = new Rng(3);
  const x = randomLogits(rng, 300);
  const probs = softmax(x);
  const best = Math.max(...probs);
  for (const mp of [0.01, 0.1, 0.5, 1]) {
    const ours = Array.from(minP(x, mp, null).ids).sort((a, b) => a - b);
    const expect = probs.flatMap((p, i) => (p >= mp * best * (1 - 1e-9) ? [i] : []));
    assert.deepEqual(ours, expect, `minP ${mp}`);
  }
});

test("greedy sampling takes the argmax after penalties and bias", () => {
  const s = new Sampler(4, { logitBias: { 2: 10 } });
  assert.equal(isSampling({}), false);
  assert.equal(s.sample(Float32Array.from([5, 1, 0, 1])).id, 2);
  const r = new Sampler(3, { repetitionPenalty: 10 });
  r.setPrompt([0]);
  assert.equal(r.sample(Float32Array.from([5, 1, 0])).id, 1, "the prompt id 0 is penalised to 0.5");
  const pres = new Sampler(2, { presencePenalty: 2 });
  assert.equal(pres.sample(Float32Array.from([1, 0])).id, 0);
  assert.equal(pres.sample(Float32Array.from([1, 0])).id, 1, "generated id 0 is penalised below id 1");
});

test("same seed gives the same samples; sampled frequencies follow softmax(logits / T)", () => {
  const logits = Float32Array.from([1, 2, 0, 1.5, -1]);
  const draw = (seed: number, n: number): number[] => {
    const s = new Sampler(5, { temperature: 0.7, seed });
    return Array.from({ length: n }, () => s.sample(logits).id);
  };
  assert.deepEqual(draw(5, 50), draw(5, 50));
  assert.notDeepEqual(draw(5, 50), draw(6, 50));
  const n = 20000;
  const counts = new Array<number>(5).fill(0);
  for (const id of draw(9, n)) counts[id]!++;
  const expect = softmax(Array.from(logits, (v) => v / 0.7));
  counts.forEach((c, i) => assert.ok(Math.abs(c / n - expect[i]!) < 0.015, `id ${i}: ${c / n} vs ${expect[i]}`));
});

test("warpers restrict what can be drawn; top_k = 1 is greedy", () => {
  const logits = Float32Array.from([1, 2, 0, 1.9, -1]);
  const s = new Sampler(5, { temperature: 5, topK: 2, seed: 1 });
  const seen = new Set(Array.from({ length: 300 }, () => s.sample(logits).id));
  assert.deepEqual([...seen].sort(), [1, 3]);
  const g = new Sampler(5, { temperature: 5, topK: 1, seed: 1 });
  for (let i = 0; i < 20; i++) assert.equal(g.sample(logits).id, 1);
});

test("logprobs are the log-softmax of the processed distribution", () => {
  const logits = Float32Array.from([1, 2, 0, 1.5]);
  const greedy = new Sampler(4, { logprobs: true, topLogprobs: 4 });
  const t = greedy.sample(logits);
  const p = softmax(logits);
  assert.equal(t.id, 1);
  assert.ok(Math.abs(t.logprob! - Math.log(p[1]!)) < 1e-6);
  assert.deepEqual(
    t.topLogprobs!.map((e) => e.id),
    [1, 3, 0, 2],
  );
  // With top_k = 2 at temperature 0.5 only two ids remain, renormalised.
  const warped = new Sampler(4, { temperature: 0.5, topK: 2, topLogprobs: 3, seed: 0 });
  const w = warped.sample(logits);
  assert.equal(w.topLogprobs!.length, 2);
  const total = w.topLogprobs!.reduce((a, e) => a + Math.exp(e.logprob), 0);
  assert.ok(Math.abs(total - 1) < 1e-6);
  const q = softmax([2 / 0.5, 1.5 / 0.5]);
  assert.ok(Math.abs(w.topLogprobs![0]!.logprob - Math.log(q[0]!)) < 1e-6);
});

test("bad sampling options are rejected with the option named", () => {
  assert.throws(
    () => new Sampler(4, { temperature: -1 }),
    (e: unknown) => e instanceof InvalidArgumentError && /temperature/.test(e.message),
  );
  assert.throws(() => new Sampler(4, { topP: 1.5 }), /topP/);
  assert.throws(() => new Sampler(4, { topK: 1.5 }), /topK/);
  assert.throws(() => new Sampler(4, { logitBias: { 9: 1 } }), /token id 9/);
});
