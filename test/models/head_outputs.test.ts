/**
 * Pipeline semantics over logits: the text-classification pipeline's score function by
 * problem_type and label count, and the question-answering pipeline's span decoding,
 * checked against a direct transcription of its matrix steps (outer product, triu, tril,
 * argsort over the whole matrix, then the context filter) on random logits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyScoreFunction, bestSpans, scoreFunction } from "../../src/models/head_outputs.js";
import { mulberry32 } from "../../src/tensor/random.js";

test("score function: regression raw, multi-label or one label sigmoid, else softmax", () => {
  assert.equal(scoreFunction("regression", 1), "none");
  assert.equal(scoreFunction(null, 1), "sigmoid");
  assert.equal(scoreFunction("multi_label_classification", 3), "sigmoid");
  assert.equal(scoreFunction("single_label_classification", 1), "sigmoid");
  assert.equal(scoreFunction(null, 3), "softmax");
  const soft = applyScoreFunction([1, 2, 3], "softmax");
  assert.ok(Math.abs(soft.reduce((a, b) => a + b) - 1) < 1e-15 && soft[2]! > soft[1]!);
  assert.ok(Math.abs(soft[0]! - Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) < 1e-15);
  assert.deepEqual(applyScoreFunction([0], "sigmoid"), [0.5]);
  assert.deepEqual(applyScoreFunction([-1.5], "none"), [-1.5]);
});

/** The pipeline's steps written out over the full matrix. */
function pipelineSpans(start: number[], end: number[], c0: number, c1: number, maxLen: number, topK: number) {
  const n = start.length;
  const soft = (x: number[]): number[] => {
    const m = x.map((v, i) => (i >= c0 && i < c1 ? v : -10000));
    const mx = Math.max(...m);
    const e = m.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, b) => a + b);
    return e.map((v) => v / s);
  };
  const ps = soft(start);
  const pe = soft(end);
  ps[0] = 0;
  pe[0] = 0;
  const flat: { s: number; e: number; v: number; i: number }[] = [];
  for (let s = 0; s < n; s++)
    for (let e = 0; e < n; e++) {
      const inBand = e >= s && e - s <= maxLen - 1;
      flat.push({ s, e, v: inBand ? ps[s]! * pe[e]! : 0, i: s * n + e });
    }
  flat.sort((a, b) => b.v - a.v || a.i - b.i);
  return flat
    .slice(0, topK)
    .filter((c) => c.s >= c0 && c.s < c1 && c.e >= c0 && c.e < c1)
    .map((c) => ({ start: c.s, end: c.e, score: c.v }));
}

test("best spans equal the pipeline's matrix steps on random logits", () => {
  const bits = mulberry32(7);
  const uniform = (): number => bits() / 2 ** 32;
  const rng = { next: uniform, normal: () => (uniform() + uniform() + uniform() - 1.5) * 2 };
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rng.next() * 30);
    const c0 = Math.floor(rng.next() * n);
    const c1 = c0 + 1 + Math.floor(rng.next() * (n - c0));
    const start = Array.from({ length: n }, () => rng.normal() * 3);
    const end = Array.from({ length: n }, () => rng.normal() * 3);
    const maxLen = 1 + Math.floor(rng.next() * 6);
    const topK = 1 + Math.floor(rng.next() * 4);
    const got = bestSpans(start, end, c0, c1, { maxAnswerLen: maxLen, topK });
    const want = pipelineSpans(start, end, c0, c1, maxLen, topK);
    assert.equal(got.length, want.length, `trial ${trial}`);
    got.forEach((g, i) => {
      assert.equal(g.start, want[i]!.start, `trial ${trial} span ${i}`);
      assert.equal(g.end, want[i]!.end);
      assert.ok(Math.abs(g.score - want[i]!.score) < 1e-15);
    });
  }
});

test("best span: inside the context, start <= end, at most maxAnswerLen tokens; no-answer when asked", () => {
  // The question (0..2) has the largest logits; the answer must still come from the context (3..7).
  const start = [9, 9, 9, 0, 5, 0, 0, 0];
  const end = [9, 9, 9, 0, 0, 0, 4, 0];
  assert.deepEqual(
    bestSpans(start, end, 3, 8).map((s) => [s.start, s.end]),
    [[4, 6]],
  );
  assert.deepEqual(
    // (4, 4) and (4, 5) tie (end logits 0 at 4 and 5): the first in row-major order wins, as np.argmax.
    bestSpans(start, end, 3, 8, { maxAnswerLen: 2 }).map((s) => [s.start, s.end]),
    [[4, 4]],
  );
  const noAnswer = bestSpans([5, -5, -5], [5, -5, -5], 0, 3, { handleImpossibleAnswer: true });
  assert.equal(noAnswer[0]!.start, -1);
  assert.throws(() => bestSpans([1], [1, 2], 0, 1), /start logits have 1 positions, end logits 2/);
  assert.throws(() => bestSpans([1, 2], [1, 2], 2, 2), /context \[2, 2\) is not a non-empty range/);
});
