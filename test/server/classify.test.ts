/**
 * /v1/classify and /v1/rerank over the task-head fixtures (loopback only): vLLM's classify
 * shape with the pipeline's probabilities of the fixture's logits, the llama.cpp/Jina/Cohere
 * rerank shape with results best first, refusals naming what the server runs instead, and
 * requests waiting together going through one batched forward call on the scheduler's queue.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyScoreFunction } from "../../src/models/head_outputs.js";
import { Qwen2ForSequenceClassification } from "../../src/runtime/pretrained.js";
import { rerankPairIds } from "../../src/runtime/rerank_format.js";
import { ClassifierService, noLanguageModel } from "../../src/server/classifier.js";
import { Scheduler } from "../../src/server/scheduler.js";
import { createServer, type QwenServer } from "../../src/server/server.js";
import { join } from "node:path";
import { headsFixturesDir, headsFixturesMissing, readHeadsJson, withByteTokenizer, type HeadExpected } from "../support/heads_fixtures.js";
import { startServe } from "../support/serve_process.js";
import { startServer } from "./harness.js";

const skip = headsFixturesMissing() ?? false;

async function serve(
  name: string,
): Promise<{ server: QwenServer; url: string; clf: Qwen2ForSequenceClassification; close(): Promise<void> }> {
  const clf = await Qwen2ForSequenceClassification.fromPretrained(withByteTokenizer(name), { backend: "reference" });
  const server = createServer({
    model: noLanguageModel(clf.config),
    tokenizer: clf.tokenizer,
    classifier: clf,
    modelId: name,
    webui: false,
  });
  const url = await server.listen(0, "127.0.0.1");
  return {
    server,
    url,
    clf,
    close: async () => {
      await server.close();
      clf.close();
    },
  };
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("fixture hj_seq_cls_3labels: /v1/classify answers vLLM's shape with the pipeline's softmax", { skip }, async () => {
  const s = await serve("hj_seq_cls_3labels");
  try {
    const expected = readHeadsJson<HeadExpected>("expected/hj_seq_cls_3labels.json");
    const c = expected.cases.find((e) => e.name === "single7")!;
    const want = applyScoreFunction(c.rows[0]!.logits!.f64 as number[], "softmax");
    const r = await post(s.url, "/v1/classify", { model: "hj_seq_cls_3labels", input: c.input_ids[0] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const [d] = r.json.data as { index: number; label: string; probs: number[]; num_classes: number }[];
    assert.equal(d!.num_classes, 3);
    d!.probs.forEach((p, i) => assert.ok(Math.abs(p - want[i]!) < 1e-4, `probs[${i}] ${p} vs ${want[i]}`));
    assert.equal(d!.label, ["negative", "neutral", "positive"][want.indexOf(Math.max(...want))]);
    assert.deepEqual(r.json.usage, { prompt_tokens: 7, total_tokens: 7, completion_tokens: 0, prompt_tokens_details: null });

    const two = await post(s.url, "/classify", { input: ["good", "bad"] });
    assert.equal(two.status, 200);
    assert.deepEqual(
      (two.json.data as { index: number }[]).map((x) => x.index),
      [0, 1],
    );

    const chat = await post(s.url, "/v1/chat/completions", { messages: [{ role: "user", content: "hi" }] });
    assert.equal(chat.status, 400);
    assert.match(JSON.stringify(chat.json), /does not generate text: use \/v1\/classify or \/v1\/rerank/);
    const rerank = await post(s.url, "/v1/rerank", { query: "q", documents: ["d"] });
    assert.equal(rerank.status, 400);
    assert.match(JSON.stringify(rerank.json), /needs a reranker .*this model has 3 labels/);
    const outside = await post(s.url, "/v1/classify", { input: [[1, 600]] });
    assert.equal(outside.status, 400);
    assert.match(JSON.stringify(outside.json), /input\[1\]|\[0, 512\)/);
  } finally {
    await s.close();
  }
});

test("fixture hk_seq_cls_reward_nopad_bf16: /v1/rerank ranks the documents, best first, top_n and return_documents", { skip }, async () => {
  const s = await serve("hk_seq_cls_reward_nopad_bf16");
  try {
    const docs = ["the cat sat", "stock prices", "cats purr", "a dog"];
    const r = await post(s.url, "/v1/rerank", {
      query: "cat",
      documents: [docs[0], { text: docs[1] }, docs[2], docs[3]],
      top_n: 3,
      return_documents: true,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const results = r.json.results as { index: number; relevance_score: number; document: { text: string } }[];
    assert.equal(results.length, 3);
    const alone = await s.clf.forward(docs.map((d) => rerankPairIds(s.clf.tokenizer, "cat", d)));
    const order = alone
      .map((o, i) => ({ i, v: o.logits[0]! }))
      .sort((a, b) => b.v - a.v)
      .slice(0, 3);
    assert.deepEqual(
      results.map((x) => x.index),
      order.map((o) => o.i),
    );
    for (const x of results) {
      assert.ok(Math.abs(x.relevance_score - alone[x.index]!.logits[0]!) < 1e-6, "regression: the raw logit");
      assert.equal(x.document.text, docs[x.index]);
    }
    const bad = await post(s.url, "/rerank", { query: "q", documents: ["ok", 5] });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /documents\[1\]/);
    const missing = await post(s.url, "/v1/rerank", { documents: ["a"] });
    assert.equal(missing.status, 400);
    assert.match(JSON.stringify(missing.json), /query/);
  } finally {
    await s.close();
  }
});

test("a causal LM server answers /v1/classify and /v1/rerank with a 400 naming what they need", async () => {
  const h = await startServer({ webui: false });
  try {
    for (const path of ["/v1/classify", "/v1/rerank"]) {
      const r = await post(h.url, path, { input: "x", query: "q", documents: ["d"] });
      assert.equal(r.status, 400);
      assert.match(JSON.stringify(r.json), /needs a sequence classification model/);
    }
  } finally {
    await h.close();
  }
});

test("requests waiting together share one forward call on the scheduler's queue", async () => {
  const config = { vocab_size: 16, max_position_embeddings: 64, id2label: ["a", "b"], problem_type: null } as never;
  const calls: number[][][] = [];
  const classifier = {
    config,
    async forward(rows: readonly ArrayLike<number>[]) {
      calls.push(rows.map((r) => Array.from(r)));
      return rows.map((r) => ({ logits: Float32Array.of(r.length, 0), pooledPosition: r.length - 1 }));
    },
  };
  const tokenizer = { encode: () => [], decode: () => "" } as never;
  const scheduler = new Scheduler(noLanguageModel(config), tokenizer, { parallel: 1, maxQueue: 4, contextLength: 64 });
  const service = new ClassifierService(classifier, scheduler);
  const results = await Promise.all([service.score([[1]]), service.score([[1, 2], [3]]), service.score([[4, 5, 6]])]);
  assert.equal(calls.length, 1, "one forward call for the three requests");
  assert.deepEqual(calls[0], [[1], [1, 2], [3], [4, 5, 6]]);
  assert.deepEqual(
    results.map((r) => r.map((x) => x.logits[0])),
    [[1], [2, 1], [3]],
  );
  scheduler.close();
  await assert.rejects(service.score([[1]]), /shutting down/);
});

test("qwen2 serve on a folder naming Qwen2ForSequenceClassification serves /v1/classify (fixture hj_seq_cls_3labels)", {
  skip,
  timeout: 60_000,
}, async () => {
  const serve = await startServe([
    "--model",
    join(headsFixturesDir, "models", "hj_seq_cls_3labels"),
    "--backend",
    "reference",
    "--no-webui",
  ]);
  try {
    const r = await post(serve.url, "/v1/classify", { input: [[5, 6, 7]] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json.data as { num_classes: number }[])[0]!.num_classes, 3);
    const chat = await post(serve.url, "/v1/completions", { prompt: [1, 2] });
    assert.equal(chat.status, 400);
    assert.match(JSON.stringify(chat.json), /model_not_generative/);
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});
