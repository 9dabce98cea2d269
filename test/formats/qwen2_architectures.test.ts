/**
 * Architecture-driven weight checks: each class's head tensors, the backbone prefixes
 * transformers accepts (`model.`, `transformer.` for question answering, bare), missing and
 * extra head tensors reported by name, and the label fields of config.json.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import { headLabels } from "../../src/formats/config.js";
import { backboneView, configArchitecture } from "../../src/formats/qwen2_architectures.js";
import { validateQwen2Weights } from "../../src/formats/qwen2_tensors.js";
import type { HostTensor, TensorInfo, WeightSource } from "../../src/formats/weights.js";
import { RandomQwen2Weights } from "../../src/models/random_qwen2.js";
import { tinyConfig } from "../models/tiny_model.js";

/** A source whose tensor names pass through `rename` (null drops the tensor), plus extras. */
class Renamed implements WeightSource {
  readonly location = "<renamed>";
  private readonly map = new Map<string, string>();
  constructor(
    private readonly inner: WeightSource,
    rename: (name: string) => string | null,
    extra: readonly string[] = [],
  ) {
    for (const n of inner.names()) {
      const to = rename(n);
      if (to !== null) this.map.set(to, n);
    }
    // Extras are copies of the final norm, under another name.
    for (const e of extra) this.map.set(e, "model.norm.weight");
  }
  names(): string[] {
    return [...this.map.keys()];
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  info(name: string): TensorInfo {
    return { ...this.inner.info(this.map.get(name)!), name };
  }
  async read(name: string): Promise<HostTensor> {
    return { ...(await this.inner.read(this.map.get(name)!)), name };
  }
  close(): void {}
}

const seqCls = tinyConfig(64, { architectures: ["Qwen2ForSequenceClassification"], id2label: { 0: "no", 1: "yes" }, pad_token_id: 0 });
const qa = tinyConfig(64, { architectures: ["Qwen2ForQuestionAnswering"] });

test("config.json: architectures, id2label (num_labels follows it), problem_type", () => {
  assert.equal(configArchitecture(seqCls), "Qwen2ForSequenceClassification");
  assert.deepEqual(headLabels(seqCls), ["no", "yes"]);
  const warnings: string[] = [];
  const c = parseQwen2Config({ id2label: { 1: "b", 0: "a", 2: "c" }, num_labels: 2, problem_type: "regression" }, "c.json", warnings);
  assert.deepEqual(c.id2label, ["a", "b", "c"]);
  assert.equal(c.problem_type, "regression");
  assert.match(warnings.join("\n"), /num_labels 2 differs from the 3 labels of id2label; id2label wins/);
  assert.deepEqual(parseQwen2Config({ num_labels: 3 }).id2label, ["LABEL_0", "LABEL_1", "LABEL_2"]);
  assert.deepEqual(parseQwen2Config({}).id2label, ["LABEL_0", "LABEL_1"]);
  assert.equal(configArchitecture(parseQwen2Config({ architectures: ["SomethingElse"] })), "Qwen2ForCausalLM");
  assert.throws(
    () => parseQwen2Config({ id2label: { 0: "a", 2: "c" } }, "c.json"),
    /c\.json: id2label: keys must be the indices 0\.\.1, found '2'/,
  );
  assert.throws(() => parseQwen2Config({ problem_type: "ranking" }, "c.json"), /c\.json: problem_type: 'ranking' is not one of regression/);
  assert.throws(() => parseQwen2Config({ architectures: "Qwen2Model" }, "c.json"), /architectures: expected a list/);
});

test("sequence classification: score.weight; backbone under model. or bare; lm_head reported as extra", () => {
  const stored = new RandomQwen2Weights(seqCls);
  assert.ok(stored.has("score.weight") && stored.has("model.norm.weight"));
  assert.deepEqual(validateQwen2Weights(seqCls, stored, { architecture: "Qwen2ForSequenceClassification" }).missing, []);
  const bare = new Renamed(stored, (n) => n.replace(/^model\./, ""), ["lm_head.weight"]);
  const warnings: string[] = [];
  const report = validateQwen2Weights(seqCls, bare, { architecture: "Qwen2ForSequenceClassification", warnings });
  assert.deepEqual(report.unexpected, ["lm_head.weight"]);
  assert.match(warnings.join(""), /not used by Qwen2ForSequenceClassification are ignored: lm_head\.weight/);
  const view = backboneView(bare, seqCls, "Qwen2ForSequenceClassification");
  assert.ok(view.has("model.layers.1.mlp.down_proj.weight") && view.has("score.weight") && !view.has("layers.0.input_layernorm.weight"));
  assert.equal(view.info("model.embed_tokens.weight").name, "model.embed_tokens.weight");
});

test("a missing head tensor is named, under the class's own names", () => {
  const noScore = new Renamed(new RandomQwen2Weights(seqCls), (n) => (n === "score.weight" ? null : n));
  assert.throws(
    () => validateQwen2Weights(seqCls, noScore, { architecture: "Qwen2ForSequenceClassification" }),
    /weights do not match config\.json for Qwen2ForSequenceClassification: missing tensor 'score\.weight'/,
  );
  // A causal LM checkpoint loaded as question answering: the backbone is not under transformer.
  const causal = new RandomQwen2Weights(tinyConfig(64));
  assert.throws(
    () => validateQwen2Weights(qa, causal, { architecture: "Qwen2ForQuestionAnswering" }),
    /stored under 'model\.' but Qwen2ForQuestionAnswering keeps it under 'transformer\.' or bare .*; missing tensor 'qa_outputs\.weight'; missing tensor 'qa_outputs\.bias'; missing tensor 'transformer\.embed_tokens\.weight'/,
  );
  const misshaped = new Renamed(new RandomQwen2Weights(qa), (n) => n, []);
  assert.deepEqual(validateQwen2Weights(qa, misshaped, { architecture: "Qwen2ForQuestionAnswering" }).missing, []);
});

test("question answering keeps its backbone under transformer.; Qwen2Model reads model., bare, not transformer.", () => {
  const stored = new RandomQwen2Weights(qa);
  assert.ok(stored.has("transformer.layers.0.self_attn.q_proj.bias") && stored.has("qa_outputs.bias"));
  const view = backboneView(stored, qa, "Qwen2ForQuestionAnswering");
  assert.ok(view.has("model.layers.0.self_attn.q_proj.bias"));
  assert.ok(!view.has("transformer.layers.0.self_attn.q_proj.bias"));
  assert.ok(view.names().includes("qa_outputs.weight") && view.names().includes("model.norm.weight"));
  const asBase = validateQwen2Weights(qa, new RandomQwen2Weights(seqCls), { architecture: "Qwen2Model" });
  assert.deepEqual(asBase.unexpected, ["score.weight"]);
  assert.throws(
    () => validateQwen2Weights(qa, stored, { architecture: "Qwen2Model" }),
    /stored under 'transformer\.' but Qwen2Model keeps it under '\(no prefix\)' or 'model\.'.*missing tensor 'embed_tokens\.weight'/,
  );
});
