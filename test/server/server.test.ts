/** The server end to end through the official `openai` SDK, on 127.0.0.1 with a random port. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { SCRIPTS, errorOf, postRaw, startServer, type Harness } from "./harness.js";
import { IM_END, ResponderModel } from "./toy.js";

const tools = [
  {
    type: "function" as const,
    function: {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

describe("chat completions", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("answers without streaming, with usage counted in tokens", async () => {
    const messages = [{ role: "user" as const, content: "Please say hello" }];
    const r = await h.client.chat.completions.create({ model: "toy", messages, temperature: 0 });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices[0]!.message.content, SCRIPTS.hello);
    assert.equal(r.choices[0]!.message.role, "assistant");
    assert.equal(r.choices[0]!.finish_reason, "stop");
    const prompt = h.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    assert.equal(r.usage!.prompt_tokens, h.tokenizer.encode(prompt).length);
    assert.equal(r.usage!.completion_tokens, h.tokenizer.encode(SCRIPTS.hello).length + 1); // + <|im_end|>
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });

  it("streams deltas as OpenAI does, with a usage chunk on request", async () => {
    const stream = await h.client.chat.completions.create({
      model: "toy",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "unicode please" },
      ],
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let roleSeen = false;
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let deltas = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta.role) roleSeen = true;
        if (c.delta.content) {
          text += c.delta.content;
          deltas++;
        }
        finishes.push(c.finish_reason);
      }
    }
    assert.ok(roleSeen);
    assert.equal(text, SCRIPTS.unicode);
    assert.ok(deltas > 3, "text arrives in several deltas");
    assert.equal(finishes.filter((f) => f !== null).length, 1);
    assert.equal(finishes.at(-1), "stop");
    assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0);
  });

  it("stops at stop sequences, streaming or not, without showing them", async () => {
    const base = { model: "toy", messages: [{ role: "user" as const, content: "stop test" }], temperature: 0, stop: ["STOP"] };
    const r = await h.client.chat.completions.create(base);
    assert.equal(r.choices[0]!.message.content, "one two ");
    assert.equal(r.choices[0]!.finish_reason, "stop");
    const s = await h.client.chat.completions.create({ ...base, stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.delta.content ?? "";
    assert.equal(text, "one two ");
  });

  it("finishes with length at max_tokens", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "say hello" }],
      temperature: 0,
      max_tokens: 3,
    });
    assert.equal(r.choices[0]!.finish_reason, "length");
    assert.equal(r.usage!.completion_tokens, 3);
    assert.equal(r.choices[0]!.message.content, h.tokenizer.decode(h.tokenizer.encode(SCRIPTS.hello).slice(0, 3)));
  });

  it("reproduces a sampled answer from its seed; other seeds and n choices differ", async () => {
    const req = {
      model: "toy",
      messages: [{ role: "user" as const, content: "babble" }],
      temperature: 1,
      top_p: 0.95,
      max_tokens: 20,
      seed: 42,
    };
    const a = await h.client.chat.completions.create(req);
    const b = await h.client.chat.completions.create(req);
    const c = await h.client.chat.completions.create({ ...req, seed: 43 });
    assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
    assert.notEqual(a.choices[0]!.message.content, c.choices[0]!.message.content);
    const n = await h.client.chat.completions.create({ ...req, n: 3 });
    assert.equal(n.choices.length, 3);
    assert.deepEqual(
      n.choices.map((x) => x.index),
      [0, 1, 2],
    );
    assert.equal(n.choices[0]!.message.content, a.choices[0]!.message.content);
    assert.notEqual(n.choices[1]!.message.content, n.choices[0]!.message.content);
    assert.equal(n.usage!.completion_tokens, 60);
  });

  it("applies presence/frequency penalties and logit_bias", async () => {
    const req = { model: "toy", messages: [{ role: "user" as const, content: "say hello" }], temperature: 0 };
    // A huge negative bias on the script's first token sends the model off script.
    const first = h.tokenizer.encode(SCRIPTS.hello)[0]!;
    const r = await h.client.chat.completions.create({ ...req, logit_bias: { [String(first)]: -100 }, max_tokens: 5 });
    assert.notEqual(r.choices[0]!.message.content, SCRIPTS.hello.slice(0, r.choices[0]!.message.content!.length));
    const p = await h.client.chat.completions.create({ ...req, presence_penalty: 2, frequency_penalty: 2 });
    assert.equal(p.choices[0]!.message.content, SCRIPTS.hello); // the script's bonus outweighs the penalties
  });

  it("returns logprobs and top_logprobs per token", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "say hello" }],
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const lp = r.choices[0]!.logprobs!.content!;
    assert.equal(lp.length, r.usage!.completion_tokens);
    for (const e of lp) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0]!.logprob, e.logprob); // greedy: the chosen token is the most likely
    }
    assert.equal(
      lp
        .slice(0, -1)
        .map((e) => e.token)
        .join(""),
      SCRIPTS.hello,
    );
  });
});

describe("tool calls", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("turns <tool_call> into tool_calls, then answers from the tool result (round trip)", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];
    const r = await h.client.chat.completions.create({ model: "toy", messages, tools, temperature: 0 });
    const choice = r.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls![0]!;
    assert.equal(call.type, "function");
    assert.ok(call.type === "function" && call.function.name === "get_weather");
    assert.ok(call.type === "function");
    assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });
    assert.ok(call.id.length > 0);

    messages.push(choice.message as OpenAI.ChatCompletionMessageParam);
    messages.push({ role: "tool", tool_call_id: call.id, content: '{"sky": "sunny"}' });
    const r2 = await h.client.chat.completions.create({ model: "toy", messages, tools, temperature: 0 });
    assert.equal(r2.choices[0]!.message.content, SCRIPTS.afterTool);
    assert.equal(r2.choices[0]!.finish_reason, "stop");
  });

  it("streams tool calls as deltas (id and name, then argument pieces), never as content", async () => {
    const stream = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "two calls please" }],
      tools,
      temperature: 0,
      stream: true,
    });
    let content = "";
    const calls: { id?: string; name?: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      content += c.delta.content ?? "";
      for (const tc of c.delta.tool_calls ?? []) {
        if (!calls[tc.index]) {
          assert.ok(tc.id && tc.function?.name, "the first delta of a call carries its id and name");
          calls[tc.index] = { id: tc.id, name: tc.function!.name!, args: "" };
        }
        calls[tc.index]!.args += tc.function?.arguments ?? "";
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.equal(content, "");
    assert.equal(finish, "tool_calls");
    assert.deepEqual(
      calls.map((c) => [c.name, JSON.parse(c.args)]),
      [
        ["a", {}],
        ["b", { x: 1 }],
      ],
    );
  });

  it("degrades a malformed call to content", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "broken call" }],
      tools,
      temperature: 0,
    });
    assert.equal(r.choices[0]!.message.content, SCRIPTS.broken);
    assert.equal(r.choices[0]!.message.tool_calls, undefined);
    assert.equal(r.choices[0]!.finish_reason, "stop");
  });

  it("tool_choice required / named forces one well-formed call, arguments following the schema", async () => {
    // Bounded arguments, so every forced call fits the token budget and must complete.
    const two = [
      {
        type: "function" as const,
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 } }, required: ["city"] },
        },
      },
      {
        type: "function" as const,
        function: {
          name: "add",
          parameters: {
            type: "object",
            properties: { a: { type: "integer", minimum: -999, maximum: 999 }, b: { type: "integer", minimum: -999, maximum: 999 } },
            required: ["a", "b"],
          },
        },
      },
    ];
    for (const seed of [1, 2, 3, 4, 5]) {
      // A babbling model (no script for this prompt) still produces a valid call.
      const r = await h.client.chat.completions.create({
        model: "toy",
        messages: [{ role: "user", content: "anything at all" }],
        tools: two,
        tool_choice: "required",
        temperature: 1,
        seed,
        max_tokens: 300,
      });
      const c = r.choices[0]!;
      assert.equal(c.finish_reason, "tool_calls", `seed ${seed}: the forced call completes`);
      const call = c.message.tool_calls![0]!;
      assert.ok(call.type === "function" && ["get_weather", "add"].includes(call.function.name));
      assert.ok(call.type === "function");
      const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
      if (call.function.name === "add") {
        for (const v of [args.a, args.b]) assert.ok(Number.isInteger(v) && Math.abs(v as number) <= 999, call.function.arguments);
      } else assert.ok(typeof args.city === "string" && args.city.length <= 20, call.function.arguments);
    }
    const named = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "weather in Paris" }],
      tools: two,
      tool_choice: { type: "function", function: { name: "get_weather" } },
      temperature: 0,
    });
    const call = named.choices[0]!.message.tool_calls![0]!;
    assert.ok(call.type === "function");
    assert.equal(call.function.name, "get_weather");
    assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" }, "on script, the forced call is the model's own");
  });

  it("tool_choice none leaves tools out of the prompt", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "weather?" }],
      tools,
      tool_choice: "none",
      temperature: 0,
      max_tokens: 5,
    });
    assert.equal(r.choices[0]!.message.tool_calls, undefined);
  });
});

describe("JSON output", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("json_object keeps the answer to one JSON object", async () => {
    const req = { model: "toy", messages: [{ role: "user" as const, content: "json please" }], temperature: 0 };
    const free = await h.client.chat.completions.create(req);
    assert.equal(free.choices[0]!.message.content, SCRIPTS.json);
    const r = await h.client.chat.completions.create({ ...req, response_format: { type: "json_object" } });
    assert.deepEqual(JSON.parse(r.choices[0]!.message.content!), { answer: 42 });
    assert.equal(r.choices[0]!.finish_reason, "stop");
  });

  it("json_schema enforces keys, required members and types", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "schema please" }],
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "place",
          schema: {
            type: "object",
            properties: { city: { type: "string" }, n: { type: "integer" } },
            required: ["city", "n"],
            additionalProperties: false,
          },
        },
      },
    });
    // The script's "extra" key is refused, so the model leaves the script after "n": 12 and
    // writes whatever the grammar allows: more digits or the end of the object.
    const v = JSON.parse(r.choices[0]!.message.content!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(v), ["city", "n"]);
    assert.equal(v.city, "Paris");
    assert.ok(Number.isInteger(v.n) && String(v.n).startsWith("12"), `n is an integer: ${String(v.n)}`);
  });

  it("a babbling model still writes valid JSON when it stops", async () => {
    let stopped = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = await h.client.chat.completions.create({
        model: "toy",
        messages: [{ role: "user", content: "anything" }],
        temperature: 1,
        seed,
        max_tokens: 40,
        response_format: { type: "json_object" },
      });
      const text = r.choices[0]!.message.content!;
      if (r.choices[0]!.finish_reason === "stop") {
        stopped++;
        const v: unknown = JSON.parse(text);
        assert.ok(typeof v === "object" && v !== null && !Array.isArray(v));
      } else {
        assert.ok(text.startsWith("{"), `a cut answer is still the start of an object: ${JSON.stringify(text)}`);
      }
    }
    assert.ok(stopped > 0, "some answers complete");
  });
});

describe("other endpoints", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("/v1/completions, streaming and not", async () => {
    const r = await h.client.completions.create({ model: "toy", prompt: "say hello", max_tokens: 5, temperature: 0 });
    assert.equal(r.choices[0]!.finish_reason, "length");
    assert.equal(r.choices[0]!.text, h.tokenizer.decode(h.tokenizer.encode(SCRIPTS.hello).slice(0, 5)));
    assert.equal(r.usage!.completion_tokens, 5);
    const s = await h.client.completions.create({ model: "toy", prompt: ["say hello"], max_tokens: 50, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const c of s) {
      text += c.choices[0]?.text ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, SCRIPTS.hello);
    assert.equal(finish, "stop");
  });

  it("/v1/models lists the served model", async () => {
    const list = await h.client.models.list();
    assert.deepEqual(
      list.data.map((m) => m.id),
      ["toy"],
    );
    const one = await h.client.models.retrieve("toy");
    assert.equal(one.id, "toy");
  });

  it("/v1/embeddings: normalised last-token vectors, base64 (SDK default) and float", async () => {
    const r = await h.client.embeddings.create({ model: "toy", input: ["first text", "second text", "first text"] });
    assert.equal(r.data.length, 3);
    for (const d of r.data) {
      assert.equal(d.embedding.length, 16);
      const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-5);
    }
    assert.deepEqual(r.data[0]!.embedding, r.data[2]!.embedding);
    assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
    const expected = ResponderModel.vector(h.tokenizer.encode("first text"), 16);
    const norm = Math.hypot(...expected);
    r.data[0]!.embedding.forEach((x, i) => assert.ok(Math.abs(x - expected[i]! / norm) < 1e-6));
    const f = await postRaw(h.url, "/v1/embeddings", JSON.stringify({ model: "toy", input: "first text", encoding_format: "float" }));
    const data = (f.json as { data: { embedding: number[] }[] }).data;
    data[0]!.embedding.forEach((x, i) => assert.ok(Math.abs(x - r.data[0]!.embedding[i]!) < 1e-6));
    assert.equal(r.usage.prompt_tokens, 3 * 0 + h.tokenizer.encode("first text").length * 2 + h.tokenizer.encode("second text").length);
  });

  it("/tokenize and /detokenize round trip; /health reports the scheduler", async () => {
    const t = await postRaw(h.url, "/tokenize", JSON.stringify({ content: "Hello the world" }));
    const ids = (t.json as { tokens: number[] }).tokens;
    assert.deepEqual(ids, h.tokenizer.encode("Hello the world"));
    const d = await postRaw(h.url, "/detokenize", JSON.stringify({ tokens: ids }));
    assert.equal((d.json as { content: string }).content, "Hello the world");
    const health = (await (await fetch(`${h.url}/health`)).json()) as { status: string; active: number };
    assert.equal(health.status, "ok");
    assert.equal(health.active, 0);
  });
});

describe("scheduling", () => {
  it("decodes concurrent requests in one batched forward and reuses a conversation's prefix", async () => {
    const h = await startServer({ parallel: 4 });
    try {
      await Promise.all(
        [1, 2, 3, 4].map((seed) =>
          h.client.chat.completions.create({
            model: "toy",
            messages: [{ role: "user", content: `babble ${seed}` }],
            seed,
            temperature: 1,
            max_tokens: 12,
          }),
        ),
      );
      assert.ok(h.model.maxBatch >= 2, `sequences were batched (max batch ${h.model.maxBatch})`);

      const turn1: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "say hello" }];
      const r1 = await h.client.chat.completions.create({ model: "toy", messages: turn1, temperature: 0 });
      const turn2: OpenAI.ChatCompletionMessageParam[] = [
        ...turn1,
        r1.choices[0]!.message as OpenAI.ChatCompletionMessageParam,
        { role: "user", content: "say hello again" },
      ];
      const before = h.model.computedTokens;
      const r2 = await h.client.chat.completions.create({ model: "toy", messages: turn2, temperature: 0 });
      const computed = h.model.computedTokens - before;
      assert.equal(r2.choices[0]!.message.content, SCRIPTS.hello);
      // Only the new turn is computed (plus the generated tokens), not the whole history.
      assert.ok(computed < r2.usage!.prompt_tokens, `computed ${computed} of ${r2.usage!.prompt_tokens} prompt tokens`);
    } finally {
      await h.close();
    }
  });

  it("prefills long prompts in chunks while other sequences keep decoding", async () => {
    const h = await startServer({ parallel: 4, prefillChunk: 16 });
    try {
      const long = {
        model: "toy",
        messages: [
          { role: "system" as const, content: "x ".repeat(60) },
          { role: "user" as const, content: "say hello" },
        ],
        temperature: 0,
      };
      const [a, b] = await Promise.all([
        h.client.chat.completions.create(long),
        h.client.chat.completions.create({ model: "toy", messages: [{ role: "user", content: "unicode please" }], temperature: 0 }),
      ]);
      assert.ok(a.usage!.prompt_tokens > 100);
      assert.equal(a.choices[0]!.message.content, SCRIPTS.hello);
      assert.equal(b.choices[0]!.message.content, SCRIPTS.unicode);
      assert.ok(h.model.maxItemTokens <= 16, `no forward carried more than a chunk (max ${h.model.maxItemTokens})`);
    } finally {
      await h.close();
    }
  });

  it("a client that disconnects cancels its generation and frees its cache", async () => {
    const h = await startServer({ parallel: 2, prefixCacheEntries: 0 });
    try {
      const controller = new AbortController();
      const stream = await h.client.chat.completions.create(
        { model: "toy", messages: [{ role: "user", content: "babble on" }], temperature: 1, max_tokens: 100000, stream: true },
        { signal: controller.signal },
      );
      let chunks = 0;
      try {
        for await (const _ of stream) {
          if (++chunks === 5) controller.abort();
        }
      } catch {
        // The SDK may end or throw on abort; either way the connection is closed.
      }
      assert.equal(chunks, 5);
      for (let i = 0; i < 100 && (h.server.stats().active > 0 || h.model.live.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.server.stats().active, 0);
      assert.equal(h.model.live.size, 0, "the cancelled sequence's cache is disposed");
    } finally {
      await h.close();
    }
  });
});

describe("errors", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ apiKey: "secret", bodyLimit: 4096, contextLength: 256, parallel: 1, maxQueue: 0 }, 256);
  });
  after(() => h.close());

  const good = { model: "toy", messages: [{ role: "user" as const, content: "say hello" }] };

  it("401 for a wrong or missing key", async () => {
    const bad = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create(good), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    const r = await postRaw(h.url, "/v1/chat/completions", JSON.stringify(good));
    assert.equal(r.status, 401);
    assert.equal(errorOf(r.json).code, "invalid_api_key");
    assert.equal((await fetch(`${h.url}/health`)).status, 200, "/health needs no key");
  });

  it("the only model answers a request without model, and its id with or without .gguf", async () => {
    const auth = { authorization: "Bearer secret" };
    const { model: _omitted, ...noModel } = good;
    assert.equal((await postRaw(h.url, "/v1/chat/completions", JSON.stringify(noModel), auth)).status, 200);
    assert.equal((await postRaw(h.url, "/v1/chat/completions", JSON.stringify({ ...good, model: "toy.gguf" }), auth)).status, 200);
  });

  it("404 for an unknown model or route", async () => {
    await assert.rejects(
      h.client.chat.completions.create({ ...good, model: "gpt-4" }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && (e.error as { param: string }).param === "model",
    );
    const r = await fetch(`${h.url}/v1/nothing`, { headers: { authorization: "Bearer secret" } });
    assert.equal(r.status, 404);
  });

  it("400 naming the field for invalid values", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, temperature: 5 }, "temperature"],
      [{ ...good, top_p: "x" }, "top_p"],
      [{ model: "toy" }, "messages"],
      [{ ...good, messages: [{ role: "wizard", content: "hi" }] }, "messages[0].role"],
      [{ ...good, messages: [{ role: "user", content: 3 }] }, "messages[0].content"],
      [{ ...good, max_tokens: 0 }, "max_tokens"],
      [{ ...good, n: 0 }, "n"],
      [{ ...good, stop: [""] }, "stop[0]"],
      [{ ...good, logit_bias: { abc: 1 } }, "logit_bias.abc"],
      [{ ...good, response_format: { type: "xml" } }, "response_format.type"],
      [{ ...good, tools: [{ type: "function", function: {} }] }, "tools[0].function.name"],
      [{ ...good, top_logprobs: 3 }, "top_logprobs"],
    ];
    for (const [body, param] of cases) {
      const r = await postRaw(h.url, "/v1/chat/completions", JSON.stringify(body), { authorization: "Bearer secret" });
      assert.equal(r.status, 400, `${param}: ${JSON.stringify(r.json)}`);
      assert.equal(errorOf(r.json).param, param);
      assert.equal(errorOf(r.json).type, "invalid_request_error");
    }
    await assert.rejects(
      h.client.chat.completions.create({ ...good, temperature: 7 }, { headers: { authorization: "Bearer secret" } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError,
    );
  });

  it("400 for malformed JSON, 413 for a body over the limit", async () => {
    const auth = { authorization: "Bearer secret" };
    const r = await postRaw(h.url, "/v1/chat/completions", "{not json", auth);
    assert.equal(r.status, 400);
    assert.equal(errorOf(r.json).code, "invalid_json");
    const big = await postRaw(
      h.url,
      "/v1/chat/completions",
      JSON.stringify({ ...good, messages: [{ role: "user", content: "x".repeat(10_000) }] }),
      auth,
    );
    assert.equal(big.status, 413);
  });

  it("400 context_length_exceeded when the prompt does not fit", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: "secret", maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create({ ...good, messages: [{ role: "user", content: "a b ".repeat(400) }] }),
      (e: unknown) => {
        return e instanceof OpenAI.BadRequestError && (e.error as { code: string }).code === "context_length_exceeded";
      },
    );
  });

  it("429 when the queue is full, and the server goes on", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: "secret", maxRetries: 0 });
    const controller = new AbortController();
    const long = await client.chat.completions.create(
      { model: "toy", messages: [{ role: "user", content: "babble" }], temperature: 1, max_tokens: 200, stream: true },
      { signal: controller.signal },
    );
    const it = long[Symbol.asyncIterator]();
    await it.next();
    await assert.rejects(client.chat.completions.create(good), (e: unknown) => e instanceof OpenAI.RateLimitError && e.status === 429);
    controller.abort();
    await it.next().catch(() => {});
    for (let i = 0; i < 100 && h.server.stats().active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const ok = await client.chat.completions.create({ ...good, temperature: 0 });
    assert.equal(ok.choices[0]!.message.content, SCRIPTS.hello);
  });

  it("uses <|im_end|> as EOS", () => {
    assert.equal(h.tokenizer.eosTokenId, IM_END);
  });
});
