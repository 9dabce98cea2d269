/** The one policy where generation_config.json meets a caller's fields (generation/defaults.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HF_DEFAULT_TOP_K, optionsFromGenerationConfig, resolveGenerationOptions } from "../../src/generation/defaults.js";
import { isSampling } from "../../src/generation/sampler.js";

test("generation_config.json is read as transformers reads it", () => {
  assert.deepEqual(optionsFromGenerationConfig(null), {});
  // do_sample absent: greedy, whatever temperature says (transformers warns and decodes greedily).
  assert.deepEqual(optionsFromGenerationConfig({ temperature: 0.7, max_new_tokens: 2048 }), { doSample: false, maxNewTokens: 2048 });
  // Qwen2.5-Instruct's file.
  assert.deepEqual(optionsFromGenerationConfig({ do_sample: true, temperature: 0.7, top_p: 0.8, top_k: 20, repetition_penalty: 1.05 }), {
    doSample: true,
    temperature: 0.7,
    topP: 0.8,
    topK: 20,
    repetitionPenalty: 1.05,
  });
  assert.equal(optionsFromGenerationConfig({ do_sample: true }).topK, HF_DEFAULT_TOP_K);
  assert.equal(optionsFromGenerationConfig({ do_sample: true, min_p: 0.05 }).minP, 0.05);
  assert.equal(optionsFromGenerationConfig({ repetition_penalty: 1 }).repetitionPenalty, undefined, "1 is no penalty");
});

test("caller fields override defaults one by one; a sampling field turns sampling on; temperature 0 is greedy", () => {
  const instructConfig = { do_sample: true, temperature: 0.7, top_p: 0.8, top_k: 20, repetition_penalty: 1.05 };
  const instruct = optionsFromGenerationConfig(instructConfig);
  assert.deepEqual(resolveGenerationOptions(instructConfig), instruct);
  assert.deepEqual(resolveGenerationOptions(instructConfig, { temperature: 1.2, maxNewTokens: 5 }), {
    ...instruct,
    temperature: 1.2,
    maxNewTokens: 5,
  });
  assert.deepEqual(resolveGenerationOptions(instructConfig, { temperature: 0 }), { doSample: false, repetitionPenalty: 1.05 });

  const base = { do_sample: false, max_new_tokens: 2048 };
  assert.equal(isSampling(resolveGenerationOptions(base)), false);
  assert.deepEqual(resolveGenerationOptions(base, { topP: 0.9 }), { doSample: true, topP: 0.9, maxNewTokens: 2048 });
  // Nothing anywhere: greedy, as model.generate() is (not OpenAI's temperature 1).
  assert.equal(isSampling(resolveGenerationOptions(null)), false);
  assert.equal(isSampling(resolveGenerationOptions(null, { temperature: 1 })), true);
});
