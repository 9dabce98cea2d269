/**
 * The server over a real (tiny, random-weight) Qwen2 folder made by `qwen2 create-random`:
 * the real tokenizer (151k vocabulary), chat template, Qwen2ForCausalLM on the reference
 * backend, batched decoding, constrained JSON over the full vocabulary, and embeddings from
 * the model's hidden states. Through the openai SDK, as a client would.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, it } from "node:test";
import OpenAI from "openai";
import { main } from "../../src/cli/main.js";
import type { CausalLM, ForwardItem } from "../../src/models/causal_lm.js";
import { fromPretrained } from "../../src/runtime/load.js";
import type { TextTokenizer } from "../../src/tokenizer/types.js";
import { createServer, type QwenServer } from "../../src/server/server.js";

let root = "";
interface Loaded {
  model: CausalLM;
  tokenizer: TextTokenizer;
  eosIds: readonly number[];
  hiddenSize: number;
  close(): void;
}
let loaded: Loaded | null = null;

async function load(dir: string): Promise<Loaded> {
  const m = await fromPretrained(dir);
  return { model: m.model, tokenizer: m.tokenizer, eosIds: m.eosIds, hiddenSize: m.config.hidden_size, close: () => m.close() };
}
let server: QwenServer | null = null;
let client: OpenAI;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "qwen2-serve-"));
  const dir = join(root, "tiny");
  const quiet = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  const code = await main(["create-random", "--preset", "tiny", "--out", dir, "--seed", "5"], quiet);
  // create-random is part of this package: its failure fails the file, never skips it.
  assert.equal(code, 0, `create-random failed: ${quiet.stderr.read()?.toString() ?? ""}`);
  loaded = await load(dir);
  server = createServer({
    model: loaded.model,
    tokenizer: loaded.tokenizer,
    eosIds: loaded.eosIds,
    modelId: "tiny",
    parallel: 4,
    contextLength: 512,
  });
  const url = await server.listen(0);
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 });
});

after(async () => {
  await server?.close();
  loaded?.close();
  rmSync(root, { recursive: true, force: true });
});

it("chat completions on a real tiny model: concurrent, seeded, streamed", async () => {
  const req = { model: "tiny", messages: [{ role: "user" as const, content: "Hello!" }], max_tokens: 5, temperature: 0.8, seed: 11 };
  const [a, b] = await Promise.all([client.chat.completions.create(req), client.chat.completions.create(req)]);
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content, "same seed, same answer, even batched together");
  assert.ok(a.usage!.prompt_tokens > 5);
  const s = await client.chat.completions.create({ ...req, stream: true });
  let text = "";
  for await (const c of s) text += c.choices[0]?.delta.content ?? "";
  assert.equal(text, a.choices[0]!.message.content);
});

it("json_schema over the full 151k vocabulary: with bounded fields, every answer completes and satisfies the schema", async () => {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 12 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      tags: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 3 },
      kind: { enum: ["cat", "dog", null] },
    },
    required: ["name", "age", "tags", "kind"],
    additionalProperties: false,
  };
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "JSON" }],
      max_tokens: 400,
      temperature: 0.7,
      seed,
      response_format: { type: "json_schema", json_schema: { name: "person", schema } },
    });
    const text = r.choices[0]!.message.content!;
    assert.equal(r.choices[0]!.finish_reason, "stop", `seed ${seed}: the object completes within the budget: ${JSON.stringify(text)}`);
    const v = JSON.parse(text) as { name: string; age: number; tags: string[]; kind: string | null };
    assert.deepEqual(Object.keys(v), ["name", "age", "tags", "kind"], text);
    assert.ok(typeof v.name === "string" && [...v.name].length <= 12, text);
    assert.ok(Number.isInteger(v.age) && v.age >= 0 && v.age <= 120, text);
    assert.ok(Array.isArray(v.tags) && v.tags.length <= 3 && v.tags.every((t) => typeof t === "string" && [...t].length <= 8), text);
    assert.ok(["cat", "dog", null].includes(v.kind), text);
  }
});

it("json_object over the full 151k vocabulary: the answer is a JSON object prefix", async () => {
  const r = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "JSON" }],
    max_tokens: 40,
    temperature: 0,
    response_format: { type: "json_object" },
  });
  const text = r.choices[0]!.message.content!;
  assert.ok(text.trimStart().startsWith("{"), JSON.stringify(text));
  if (r.choices[0]!.finish_reason === "stop") JSON.parse(text);
});

it("embeddings from the model's last-token hidden state", async () => {
  const r = await client.embeddings.create({ model: "tiny", input: ["one", "two words"] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0]!.embedding.length, loaded!.hiddenSize);
  for (const d of r.data) assert.ok(Math.abs(Math.hypot(...d.embedding) - 1) < 1e-4);
  assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
  // Each vector is the input's final-normed hidden state at its last token, L2-normalised,
  // computed here directly from the model.
  const model = loaded!.model as CausalLM & { hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]> };
  const d = loaded!.hiddenSize;
  for (const [i, text] of ["one", "two words"].entries()) {
    const ids = Int32Array.from(loaded!.tokenizer.encode(text));
    const cache = model.createCache(ids.length);
    const [states] = await model.hiddenStates([{ ids, cache }]);
    cache.dispose();
    const last = states!.subarray((ids.length - 1) * d, ids.length * d);
    const norm = Math.hypot(...last);
    const got = r.data[i]!.embedding;
    let worst = 0;
    last.forEach((v, k) => (worst = Math.max(worst, Math.abs(v / norm - got[k]!))));
    assert.ok(worst < 1e-6, `input ${i}: the embedding differs from the normalised hidden state by ${worst}`);
  }
});

it("echo logprobs of the prompt sum to its log-likelihood from the model's own token-by-token forward", async (t) => {
  if (!server) return t.skip("create-random is not in this build");
  const context = "Question: what is two plus two?\nAnswer:";
  const continuation = " four, of course";
  const prompt = context + continuation;
  const ids = loaded!.tokenizer.encode(prompt);
  // Directly: one token at a time on a fresh cache, the next token's log softmax each time.
  const m = loaded!.model;
  const cache = m.createCache(ids.length);
  let direct = 0;
  try {
    for (let i = 0; i + 1 < ids.length; i++) {
      const [row] = await m.forward([{ ids: Int32Array.of(ids[i]!), cache }]);
      let max = -Infinity;
      for (const x of row!) max = Math.max(max, x);
      let sum = 0;
      for (const x of row!) sum += Math.exp(x - max);
      direct += row![ids[i + 1]!]! - max - Math.log(sum);
    }
  } finally {
    cache.dispose();
  }
  // As lm-evaluation-harness asks (echo, one new token, logprobs 1), and score-only (max_tokens 0).
  for (const max_tokens of [1, 0]) {
    const r = await client.completions.create({ model: "tiny", prompt, echo: true, logprobs: 1, max_tokens, temperature: 0 });
    const lp = r.choices[0]!.logprobs!;
    const promptPart = lp.token_logprobs!.slice(0, ids.length);
    assert.equal(promptPart[0], null);
    const served = promptPart.slice(1).reduce<number>((s, x) => s + x!, 0);
    assert.ok(Math.abs(served - direct) < 1e-3 * ids.length, `max_tokens ${max_tokens}: ${served} vs ${direct}`);
    assert.equal(lp.tokens!.length, ids.length + max_tokens);
    assert.equal(r.usage!.prompt_tokens, ids.length);
  }
});

it("suffix uses Qwen2.5's fill-in-the-middle tokens", async (t) => {
  if (!server) return t.skip("create-random is not in this build");
  const prefix = "def add(a, b):\n    ";
  const suffix = "\n\nprint(add(1, 2))";
  const fim = await client.completions.create({ model: "tiny", prompt: prefix, suffix, max_tokens: 4, temperature: 0 });
  const spelled = await client.completions.create({
    model: "tiny",
    prompt: `<|fim_prefix|>${prefix}<|fim_suffix|>${suffix}<|fim_middle|>`,
    max_tokens: 4,
    temperature: 0,
  });
  assert.equal(fim.usage!.prompt_tokens, spelled.usage!.prompt_tokens);
  assert.equal(fim.usage!.prompt_tokens, loaded!.tokenizer.encode(prefix).length + loaded!.tokenizer.encode(suffix).length + 3);
  assert.equal(fim.choices[0]!.text, spelled.choices[0]!.text);
});
