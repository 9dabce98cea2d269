/**
 * The class entries over the one loader: AutoModel picks the class config.json names (each
 * task-head fixture), the task methods give the pipelines' answers from the fixtures' logits,
 * fromPretrained (the causal LM loader) refuses a task-head folder, and a causal LM's
 * generate() applies generation_config.json and the EOS union itself (greedy tokens of the
 * shared Qwen2 fixture). Text inputs use a byte-level tokenizer of 256 ids (vocab.json +
 * merges.txt in memory beside the fixture's weights), so any ASCII text fits the fixtures'
 * 512-id vocabulary.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { memoryFiles } from "../../src/io/byte_source.js";
import { applyScoreFunction } from "../../src/models/head_outputs.js";
import { fromPretrained } from "../../src/runtime/load.js";
import {
  AutoModel,
  Qwen2ForCausalLM,
  Qwen2ForQuestionAnswering,
  Qwen2ForSequenceClassification,
  Qwen2ForTokenClassification,
  Qwen2Model,
} from "../../src/runtime/pretrained.js";
import { rerankPairIds } from "../../src/runtime/rerank_format.js";
import { headsFixturesDir, headsFixturesMissing, readHeadsJson, withByteTokenizer, type HeadExpected } from "../support/heads_fixtures.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";

const skip = headsFixturesMissing() ?? false;
const reference = { backend: "reference" } as const;
const dir = (name: string): string => join(headsFixturesDir, "models", name);

test("AutoModel loads each task-head fixture as the class its config.json names", { skip }, async () => {
  const want = {
    hj_seq_cls_3labels: Qwen2ForSequenceClassification,
    hk_seq_cls_reward_nopad_bf16: Qwen2ForSequenceClassification,
    hl_token_cls_5labels: Qwen2ForTokenClassification,
    hm_question_answering: Qwen2ForQuestionAnswering,
  };
  for (const [name, cls] of Object.entries(want)) {
    const m = await AutoModel.fromPretrained(dir(name), reference);
    try {
      assert.ok(m instanceof cls, `${name}: ${m.constructor.name}`);
      assert.equal(m.architecture, cls.name);
    } finally {
      m.close();
    }
  }
});

test("fixture hj_seq_cls_3labels: classify gives softmax over id2label, best first", { skip }, async () => {
  const clf = await Qwen2ForSequenceClassification.fromPretrained(withByteTokenizer("hj_seq_cls_3labels"), reference);
  try {
    const expected = readHeadsJson<HeadExpected>("expected/hj_seq_cls_3labels.json");
    const c = expected.cases.find((e) => e.name === "single7")!;
    const logits = c.rows[0]!.logits!.f64 as number[];
    const [ranked] = await clf.classify([{ ids: c.input_ids[0]! }]);
    const probs = applyScoreFunction(logits, "softmax");
    const best = probs.indexOf(Math.max(...probs));
    assert.equal(clf.scoreFunction, "softmax");
    assert.equal(ranked![0]!.label, ["negative", "neutral", "positive"][best]);
    assert.ok(Math.abs(ranked![0]!.score - probs[best]!) < 1e-4);
    assert.deepEqual(ranked!.map((r) => r.index).sort(), [0, 1, 2]);
    const top = await clf.classify("a fine film", { topK: 1 });
    assert.equal(top.length, 1);
    assert.ok(clf.labels.includes(top[0]!.label));
  } finally {
    clf.close();
  }
});

test("fixture hk_seq_cls_reward_nopad_bf16: rerank scores query+document pairs, best first, raw for regression", { skip }, async () => {
  const rm = await Qwen2ForSequenceClassification.fromPretrained(withByteTokenizer("hk_seq_cls_reward_nopad_bf16"), reference);
  try {
    assert.equal(rm.scoreFunction, "none");
    const docs = ["the cat sat", "quantum chromodynamics", "cats"];
    const results = await rm.rerank("cat", docs, { topN: 2 });
    assert.equal(results.length, 2);
    assert.ok(results[0]!.relevanceScore >= results[1]!.relevanceScore);
    const alone = await rm.forward(docs.map((d) => rerankPairIds(rm.tokenizer, "cat", d)));
    for (const r of results) {
      assert.equal(r.relevanceScore, alone[r.index]!.logits[0]);
      assert.equal(r.logit, r.relevanceScore);
    }
    const qwen = await rm.rerank("cat", docs, { template: "qwen" });
    assert.notEqual(qwen[0]!.logit, results[0]!.logit);
    await assert.rejects(rm.rerank("q", ["d"], { template: "no placeholders" }), /rerank template has no \{query\} placeholder/);
  } finally {
    rm.close();
  }
});

test("fixture hl_token_cls_5labels: classifyTokens labels each token by its argmax", { skip }, async () => {
  const tagger = await Qwen2ForTokenClassification.fromPretrained(withByteTokenizer("hl_token_cls_5labels"), reference);
  try {
    const expected = readHeadsJson<HeadExpected>("expected/hl_token_cls_5labels.json");
    const row = expected.cases.find((e) => e.name === "single7")!.rows[0]!;
    const ids = expected.cases.find((e) => e.name === "single7")!.input_ids[0]!;
    const tags = await tagger.classifyTokens({ ids }, { ignoreLabels: [] });
    assert.equal(tags.length, ids.length);
    (row.logits!.f64 as number[][]).forEach((l, t) => {
      assert.equal(tags[t]!.entity, `TAG_${l.indexOf(Math.max(...l))}`);
    });
    const kept = await tagger.classifyTokens({ ids }, { ignoreLabels: ["TAG_0", "TAG_1", "TAG_2", "TAG_3", "TAG_4"] });
    assert.deepEqual(kept, []);
  } finally {
    tagger.close();
  }
});

test("fixture hm_question_answering: answer() returns a span of the context, within maxAnswerLen", { skip }, async () => {
  const qa = await Qwen2ForQuestionAnswering.fromPretrained(withByteTokenizer("hm_question_answering"), reference);
  try {
    const context = "Paris is the capital of France.";
    const answers = await qa.answer("What is the capital?", context, { topK: 3, maxAnswerLen: 5 });
    assert.ok(answers.length >= 1);
    for (const a of answers) {
      assert.ok(a.startToken >= 0 && a.endToken >= a.startToken && a.endToken - a.startToken < 5);
      assert.equal(context.slice(a.start, a.end), a.answer);
    }
    assert.ok(answers[0]!.score >= answers.at(-1)!.score);
  } finally {
    qa.close();
  }
});

test("fromPretrained (the causal LM loader) refuses a task-head folder, naming AutoModel", { skip }, async () => {
  await assert.rejects(
    fromPretrained(dir("hj_seq_cls_3labels"), reference),
    /architectures names Qwen2ForSequenceClassification, a task head without an LM head: load it with AutoModel\.fromPretrained/,
  );
  await assert.rejects(Qwen2ForTokenClassification.fromPretrained(dir("hj_seq_cls_3labels"), reference), /missing tensor 'score\.bias'/);
});

test("Qwen2Model.fromPretrained reads a head folder's backbone (model., not transformer.); all layers on request", { skip }, async () => {
  await assert.rejects(
    Qwen2Model.fromPretrained(dir("hm_question_answering"), reference),
    /stored under 'transformer\.' but Qwen2Model keeps it under/,
  );
  const base = await Qwen2Model.fromPretrained(dir("hj_seq_cls_3labels"), reference);
  try {
    const ids = [5, 6, 7];
    const last = await base.hiddenStates({ ids });
    const all = await base.hiddenStates({ ids }, { layers: "all" });
    assert.equal(all.length, base.config.num_hidden_layers + 1);
    assert.deepEqual(all.at(-1), last);
    assert.equal(last.length, ids.length * base.config.hidden_size);
  } finally {
    base.close();
  }
});

const qwen2Skip = needsShared("fixtures");
test("Qwen2ForCausalLM.generate applies generation_config.json and the EOS union (fixture a_tiny_f32)", { skip: qwen2Skip }, async () => {
  const folder = join(fixturesDir, "models", "a_tiny_f32");
  const lm = await Qwen2ForCausalLM.fromPretrained(folder, reference);
  try {
    assert.ok(lm.eosIds.includes(511));
    const result = await lm.generate({ ids: [10, 216, 113, 104, 245] }, { maxNewTokens: 8 });
    assert.deepEqual(result.ids, [428, 135, 391, 327, 210, 103, 260, 181]);
  } finally {
    lm.close();
  }
  const files = memoryFiles({
    "config.json": readFileSync(join(folder, "config.json"), "utf8"),
    "model.safetensors": new Uint8Array(readFileSync(join(folder, "model.safetensors"))),
    "generation_config.json": JSON.stringify({ do_sample: true, temperature: 0.7, top_k: 20, eos_token_id: [7, 511] }),
  });
  const sampling = await Qwen2ForCausalLM.fromPretrained(files, reference);
  try {
    const o = sampling.generationOptions({});
    assert.equal(o.doSample, true);
    assert.equal(o.temperature, 0.7);
    assert.equal(o.topK, 20);
    assert.ok(o.eosIds!.includes(7) && o.eosIds!.includes(511));
    const greedy = sampling.generationOptions({ temperature: 0 });
    assert.equal(greedy.doSample, false);
    assert.deepEqual(sampling.generationOptions({ eosIds: [3] }).eosIds, [3]);
  } finally {
    sampling.close();
  }
});
