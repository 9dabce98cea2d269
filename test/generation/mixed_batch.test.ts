/**
 * Continuous batching must not change any sequence's output: greedy decoding, seeded
 * sampling, penalties, logit_bias and a JSON-constrained request, batched together (and
 * joining the batch at different steps, so prefills and decodes share a forward call), each
 * give exactly the tokens they give alone, on the reference and the wasm backend, over a
 * sliding-window model small enough to be fast.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Backend } from "../../src/backends/ops.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import { SequenceGenerator, stepBatch, type GenerationOptions } from "../../src/generation/sequence_generator.js";
import type { CausalLM } from "../../src/models/causal_lm.js";
import { createTinyModel } from "../models/tiny_model.js";
import { ToyTokenizer } from "./toy.js";

const tok = new ToyTokenizer();

/** Five kinds of request, each with its own prompt, and the step at which it joins the batch. */
const REQUESTS: readonly { name: string; prompt: string; joinAt: number; options: GenerationOptions }[] = [
  { name: "greedy", prompt: "The quick brown fox", joinAt: 0, options: { temperature: 0 } },
  { name: "seeded sampling", prompt: "Once", joinAt: 0, options: { temperature: 0.9, topP: 0.9, topK: 40, seed: 11 } },
  {
    name: "penalties",
    prompt: "a b a b a b",
    joinAt: 2,
    options: { temperature: 0.7, seed: 5, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.4 },
  },
  { name: "logit_bias", prompt: "bias me", joinAt: 3, options: { temperature: 0.8, seed: 2, logitBias: { 97: 4, 32: -100 } } },
  { name: "JSON", prompt: "{json}", joinAt: 1, options: { temperature: 0.8, seed: 9, responseFormat: { type: "json_object" } } },
];

function generator(model: CausalLM, r: (typeof REQUESTS)[number]): SequenceGenerator {
  return new SequenceGenerator(model, tok, tok.encode(r.prompt), { ...r.options, maxNewTokens: 24, ignoreEos: r.name !== "JSON" });
}

async function alone(model: CausalLM, r: (typeof REQUESTS)[number]): Promise<number[]> {
  const g = generator(model, r);
  while (!g.done) await stepBatch(model, [g]);
  return g.result().ids;
}

/** Runs every request in one batch, each joining at its step; returns ids and the largest batch seen. */
async function batched(model: CausalLM): Promise<{ ids: number[][]; mixedSteps: number }> {
  const gens: (SequenceGenerator | null)[] = REQUESTS.map(() => null);
  let mixedSteps = 0;
  for (let step = 0; gens.some((g) => g === null || !g.done); step++) {
    REQUESTS.forEach((r, i) => {
      if (r.joinAt === step) gens[i] = generator(model, r);
    });
    const live = gens.filter((g): g is SequenceGenerator => g !== null);
    const inputs = live.filter((g) => !g.done).map((g) => g.nextInput()!.length);
    if (inputs.some((n) => n > 1) && inputs.some((n) => n === 1)) mixedSteps++;
    await stepBatch(model, live);
  }
  return { ids: gens.map((g) => g!.result().ids), mixedSteps };
}

const backends: { name: string; make: () => Promise<Backend> }[] = [
  { name: "reference", make: async () => new ReferenceBackend() },
  { name: "wasm", make: () => WasmBackend.create({ threads: 2 }) },
];

for (const b of backends) {
  test(`${b.name} backend: greedy, seeded, penalised, biased and JSON requests batched together each give what they give alone`, async () => {
    const backend = await b.make();
    const model = await createTinyModel({
      vocabSize: 259,
      seed: 4,
      backend,
      config: { use_sliding_window: true, sliding_window: 8, max_window_layers: 1 },
    });
    try {
      const want: number[][] = [];
      for (const r of REQUESTS) want.push(await alone(model, r));
      const got = await batched(model);
      assert.ok(got.mixedSteps > 0, "some step mixed a prefill with decodes");
      REQUESTS.forEach((r, i) => assert.deepEqual(got.ids[i], want[i], `${r.name}: batched tokens differ from the same request alone`));
      // The requests really differ, so a row swap inside the batch cannot pass.
      assert.equal(new Set(want.map((w) => w.join(","))).size, REQUESTS.length);
      const json = JSON.parse(tok.decode(want[4]!.filter((id) => id < 256)));
      assert.equal(typeof json, "object");
    } finally {
      model.dispose();
      backend.dispose();
    }
  });
}
