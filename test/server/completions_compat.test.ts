/**
 * /v1/completions as evaluation harnesses and code editors use it (through the openai SDK,
 * on the toy model): echoed prompt logprobs, score-only requests, logprobs in streamed
 * chunks, usage counted once per prompt, fill-in-the-middle; plus model names and aliases.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { createServer } from "../../src/server/server.js";
import { repoRoot } from "../support/paths.js";
import { startServe } from "../support/serve_process.js";
import { errorOf, postRaw, startServer, type Harness } from "./harness.js";
import { ResponderModel, ServerToyTokenizer } from "./toy.js";

/** log softmax of `row` at `id`, in float64. */
function logprobAt(row: Float32Array, id: number): number {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let s = 0;
  for (const x of row) s += Math.exp(x - m);
  return row[id]! - m - Math.log(s);
}

describe("completions: logprobs", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("echo with logprobs gives every prompt token its logprob (null first), then the generated ones", async () => {
    const prompt = "The capital of France is";
    const r = await h.client.completions.create({ model: "toy", prompt, echo: true, logprobs: 2, max_tokens: 3, temperature: 0 });
    const c = r.choices[0]!;
    const ids = h.tokenizer.encode(prompt);
    const lp = c.logprobs!;
    assert.equal(lp.tokens!.length, ids.length + 3);
    assert.equal(lp.token_logprobs![0], null);
    assert.equal(lp.top_logprobs![0], null);
    assert.deepEqual(
      lp.tokens!.slice(0, ids.length),
      ids.map((id) => h.tokenizer.decode([id])),
    );
    assert.ok(c.text.startsWith(prompt));
    // Offsets point into the text: each token's text starts where its offset says.
    lp.text_offset!.forEach((o, i) => {
      const t = lp.tokens![i]!;
      if (!t.startsWith("bytes:")) assert.equal(c.text.slice(o, o + t.length), t);
    });
    // The prompt part is what the model itself gives each token after the ones before it.
    const cache = h.model.createCache(ids.length);
    const [rows] = await h.model.forward([{ ids: Int32Array.from(ids), cache }], { allLogits: true });
    cache.dispose();
    const v = h.model.vocabSize;
    for (let t = 1; t < ids.length; t++) {
      const expected = logprobAt(rows!.subarray((t - 1) * v, t * v), ids[t]!);
      assert.ok(Math.abs(lp.token_logprobs![t]! - expected) < 1e-4, `token ${t}: ${lp.token_logprobs![t]} vs ${expected}`);
      const top = Object.values(lp.top_logprobs![t]!);
      assert.equal(top.length, 2);
      assert.ok(top[0]! >= lp.token_logprobs![t]! - 1e-6 || Object.keys(lp.top_logprobs![t]!).includes(lp.tokens![t]!));
    }
    // The generated part has logprobs too.
    assert.ok(lp.token_logprobs!.slice(ids.length).every((x) => typeof x === "number" && x <= 0));
  });

  it("max_tokens 0 with echo scores the prompt only; without echo it is a 400", async () => {
    const prompt = "score me";
    const r = await h.client.completions.create({ model: "toy", prompt, echo: true, logprobs: 0, max_tokens: 0 });
    const c = r.choices[0]!;
    assert.equal(c.text, prompt);
    assert.equal(c.finish_reason, "length");
    assert.equal(c.logprobs!.token_logprobs!.length, h.tokenizer.encode(prompt).length);
    assert.equal(r.usage!.completion_tokens, 0);
    const bad = await postRaw(h.url, "/v1/completions", JSON.stringify({ prompt, max_tokens: 0 }));
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad.json).param, "max_tokens");
    const tooMany = await postRaw(h.url, "/v1/completions", JSON.stringify({ prompt, logprobs: 21 }));
    assert.equal(errorOf(tooMany.json).param, "logprobs");
  });

  it("streamed chunks carry their tokens' logprobs, and their texts add up", async () => {
    const stream = await h.client.completions.create({
      model: "toy",
      prompt: "say hello",
      logprobs: 1,
      max_tokens: 6,
      stream: true,
      temperature: 0,
    });
    let text = "";
    const tokens: string[] = [];
    for await (const chunk of stream) {
      const c = chunk.choices[0]!;
      text += c.text;
      if (c.text.length > 0) assert.ok(c.logprobs && c.logprobs.tokens!.length > 0, "a chunk with text has logprobs");
      tokens.push(...(c.logprobs?.tokens ?? []));
    }
    assert.equal(tokens.length, 6);
    assert.equal(tokens.join(""), text);
  });

  it("usage counts each prompt once, however many choices it has", async () => {
    const prompt = "abcd";
    const r = await h.client.completions.create({ model: "toy", prompt, n: 2, max_tokens: 2, seed: 1 });
    assert.equal(r.choices.length, 2);
    assert.equal(r.usage!.prompt_tokens, h.tokenizer.encode(prompt).length);
    assert.equal(r.usage!.completion_tokens, 4);
  });

  it("suffix without fill-in-the-middle tokens is a 400 naming suffix", async () => {
    const r = await postRaw(h.url, "/v1/completions", JSON.stringify({ prompt: "def f(", suffix: ")" }));
    assert.equal(r.status, 400);
    assert.equal(errorOf(r.json).param, "suffix");
    assert.match(errorOf(r.json).message, /<\|fim_prefix\|>/);
  });
});

describe("completions: fill in the middle (a Coder-style toy tokenizer)", () => {
  const FIM = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"];
  const prefix = "def add(a, b):\n    ";
  const suffix = "\n\nprint(add(1, 2))";
  let h: Harness;
  before(async () => {
    const tokenizer = new ServerToyTokenizer(FIM);
    // Answers only the exact FIM layout, so the answer proves the prompt was built right.
    const model = new ResponderModel(tokenizer, (p) => (p === `${FIM[0]}${prefix}${FIM[1]}${suffix}${FIM[2]}` ? "return a + b" : null));
    const server = createServer({ model, tokenizer, modelId: "coder" });
    const url = await server.listen(0, "127.0.0.1");
    const { default: OpenAI } = await import("openai");
    h = {
      server,
      model,
      tokenizer,
      url,
      client: new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 }),
      close: () => server.close(),
    };
  });
  after(() => h.close());

  it("puts the prompt and suffix in <|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>", async () => {
    const r = await h.client.completions.create({ model: "coder", prompt: prefix, suffix, max_tokens: 20, temperature: 0 });
    assert.equal(r.choices[0]!.text, "return a + b");
    assert.equal(r.choices[0]!.finish_reason, "stop");
  });
});

describe("model names", () => {
  it("answers its id and aliases, lists them all, and 404s other names unless it accepts any", async () => {
    const h = await startServer({ modelAliases: ["gpt-3.5-turbo", "qwen"] });
    try {
      const ids = (await h.client.models.list()).data.map((m) => m.id);
      assert.deepEqual(ids, ["toy", "gpt-3.5-turbo", "qwen"]);
      const r = await h.client.completions.create({ model: "qwen", prompt: "x", max_tokens: 1 });
      assert.equal(r.model, "toy");
      const bad = await postRaw(h.url, "/v1/completions", JSON.stringify({ model: "other", prompt: "x" }));
      assert.equal(bad.status, 404);
    } finally {
      await h.close();
    }
    const any = await startServer({ acceptAnyModel: true });
    try {
      const r = await any.client.completions.create({ model: "whatever-1", prompt: "x", max_tokens: 1 });
      assert.equal(r.choices.length, 1);
    } finally {
      await any.close();
    }
  });
});

describe("qwen2 serve: model-name and reasoning flags", () => {
  it("--model-alias (repeated) and --accept-any-model reach the server", { timeout: 60_000 }, async () => {
    const serve = await startServe(
      ["--model", "dir/toy-model", "--model-alias", "gpt-3.5-turbo", "--model-alias", "qwen", "--accept-any-model"],
      {
        loader: "dist/test/server/toy_loader.js",
        env: { QWEN2_TOY_DELAY_MS: "0" },
      },
    );
    try {
      const models = (await (await fetch(`${serve.url}/v1/models`)).json()) as { data: { id: string }[] };
      assert.deepEqual(
        models.data.map((m) => m.id),
        ["toy-model", "gpt-3.5-turbo", "qwen"],
      );
      const r = await postRaw(serve.url, "/v1/completions", JSON.stringify({ model: "anything-at-all", prompt: "x", max_tokens: 1 }));
      assert.equal(r.status, 200);
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  });

  it("--reasoning-format takes deepseek or none, and says so otherwise before loading anything", () => {
    const r = spawnSync(process.execPath, [resolve(repoRoot, "bin/qwen2.js"), "serve", "--model", "x", "--reasoning-format", "raw"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--reasoning-format must be one of none, deepseek, got 'raw'/);
  });
});
