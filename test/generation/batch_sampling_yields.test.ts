/**
 * A batch step samples its sequences one after another on the caller's thread; with logprobs
 * over a real vocabulary each takes milliseconds, so a step of many sequences lets the event
 * loop run between them once it has sampled for SAMPLE_SLICE_MS (a server's /health and other
 * streams answer meanwhile). A logits processor that takes longer than the slice stands in for
 * slow sampling; the test counts event-loop turns during the step, not milliseconds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { LogitsProcessor } from "../../src/generation/logits_processors.js";
import { SAMPLE_SLICE_MS, SequenceGenerator, stepBatch } from "../../src/generation/sequence_generator.js";
import { EventLoopTurns } from "../support/event_loop_turns.js";
import { createTinyModel } from "../models/tiny_model.js";
import { ToyTokenizer } from "./toy.js";

/** Holds the thread a little longer than one sampling slice per token. */
const slow: LogitsProcessor = {
  process() {
    const until = performance.now() + SAMPLE_SLICE_MS + 1;
    while (performance.now() < until) {
      // busy: stands in for sampling with logprobs over a large vocabulary
    }
  },
};

/** Counts the event-loop turns while `step` runs. */
async function turnsDuring(step: Promise<unknown>): Promise<number> {
  const counter = new EventLoopTurns();
  await step;
  return counter.stop();
}

test("stepBatch lets the event loop run between sequences once sampling passes a slice, and keeps each sequence's tokens", async () => {
  const tok = new ToyTokenizer();
  const model = await createTinyModel({ vocabSize: 259, seed: 3 });
  const prompts = ["one", "two", "three", "four"];
  const make = (logitsProcessors: readonly LogitsProcessor[]) =>
    prompts.map((p) => new SequenceGenerator(model, tok, tok.encode(p), { temperature: 0, maxNewTokens: 3, ignoreEos: true, logitsProcessors }));
  const slowGens = make([slow]);
  const fastGens = make([]);
  // The prefill step first, then one decode step of four sequences, timed by event-loop turns.
  await stepBatch(model, slowGens);
  await stepBatch(model, fastGens);
  const slowTurns = await turnsDuring(stepBatch(model, slowGens));
  const fastTurns = await turnsDuring(stepBatch(model, fastGens));
  // The forward pass may take a turn or two itself; three yields between four slow samplings come on top.
  assert.ok(
    slowTurns >= fastTurns + 3,
    `the event loop ran ${slowTurns} times during a step of four slow samplings, ${fastTurns} during a fast one: expected at least 3 more`,
  );
  while (slowGens.some((g) => !g.done)) await stepBatch(model, slowGens);
  while (fastGens.some((g) => !g.done)) await stepBatch(model, fastGens);
  slowGens.forEach((g, i) => assert.deepEqual(g.result().ids, fastGens[i]!.result().ids, `sequence ${i}: yielding changed its tokens`));
});
