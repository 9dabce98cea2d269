/**
 * /v1/responses through the openai SDK's `client.responses` (toy model): answers, the
 * streamed event sequence, function tools and their outputs, JSON schema output, stored
 * responses; and the reasoning split (`<think>`) and Qwen2.5-Coder tool forms on both
 * chat-style endpoints.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { createServer } from "../../src/server/server.js";
import { repoRoot } from "../support/paths.js";
import { SCRIPTS, errorOf, postRaw, startServer, type Harness } from "./harness.js";
import { ResponderModel, ServerToyTokenizer, type Responder } from "./toy.js";

const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true,
};

describe("responses", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("answers a string input with one message item and usage in tokens", async () => {
    const r = await h.client.responses.create({ model: "toy", input: "Please say hello", temperature: 0 });
    assert.equal(r.object, "response");
    assert.equal(r.status, "completed");
    assert.equal(r.output_text, SCRIPTS.hello);
    assert.equal(r.output.length, 1);
    const msg = r.output[0]!;
    assert.equal(msg.type, "message");
    assert.ok(msg.type === "message" && msg.role === "assistant" && msg.content[0]!.type === "output_text");
    const prompt = h.tokenizer.applyChatTemplate([{ role: "user", content: "Please say hello" }], { addGenerationPrompt: true });
    assert.equal(r.usage!.input_tokens, h.tokenizer.encode(prompt).length);
    assert.equal(r.usage!.output_tokens, h.tokenizer.encode(SCRIPTS.hello).length + 1);
  });

  it("streams OpenAI's event sequence, numbered, with the text in deltas", async () => {
    const stream = await h.client.responses.create({
      model: "toy",
      instructions: "Be brief.",
      input: [{ role: "user", content: [{ type: "input_text", text: "unicode please" }] }],
      temperature: 0,
      stream: true,
    });
    const types: string[] = [];
    let text = "";
    let seq = -1;
    let completed: OpenAI.Responses.Response | null = null;
    for await (const e of stream) {
      assert.equal(e.sequence_number, seq + 1);
      seq = e.sequence_number;
      if (types.at(-1) !== e.type || e.type !== "response.output_text.delta") types.push(e.type);
      if (e.type === "response.output_text.delta") text += e.delta;
      if (e.type === "response.completed") completed = e.response;
    }
    assert.deepEqual(types, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    assert.equal(text, SCRIPTS.unicode);
    const msg = completed!.output[0]!;
    assert.ok(msg.type === "message" && msg.content[0]!.type === "output_text" && msg.content[0]!.text === SCRIPTS.unicode);
    assert.equal(completed!.instructions, "Be brief.");
  });

  it("calls function tools, then answers from function_call_output items", async () => {
    const input: OpenAI.Responses.ResponseInputItem[] = [{ role: "user", content: "What is the weather in Paris?" }];
    const r = await h.client.responses.create({ model: "toy", input, tools: [weatherTool], temperature: 0 });
    const call = r.output.find((o) => o.type === "function_call");
    assert.ok(call && call.type === "function_call");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    assert.ok(!r.output.some((o) => o.type === "message"), "no text item around the call");
    const next = await h.client.responses.create({
      model: "toy",
      input: [...input, call, { type: "function_call_output", call_id: call.call_id, output: '{"sky": "sunny"}' }],
      tools: [weatherTool],
      temperature: 0,
      store: false,
    });
    assert.equal(next.output_text, SCRIPTS.afterTool);
    assert.equal((next as { store?: boolean }).store, false);
  });

  it("streams a function call as added, argument deltas, done", async () => {
    const stream = await h.client.responses.create({
      model: "toy",
      input: "weather in Paris?",
      tools: [weatherTool],
      tool_choice: "required",
      stream: true,
    });
    let args = "";
    let done: OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent | null = null;
    for await (const e of stream) {
      if (e.type === "response.function_call_arguments.delta") args += e.delta;
      if (e.type === "response.function_call_arguments.done") done = e;
    }
    assert.ok(done);
    assert.equal(done.arguments, args);
    assert.equal(typeof JSON.parse(args).city, "string");
  });

  it("text.format json_schema constrains the answer; a bad schema is a 400 naming text.format", async () => {
    const r = await h.client.responses.create({
      model: "toy",
      input: "schema please",
      text: {
        format: {
          type: "json_schema",
          name: "place",
          schema: { type: "object", properties: { city: { type: "string" }, n: { type: "integer" } }, required: ["city", "n"] },
        },
      },
      temperature: 0,
    });
    const v = JSON.parse(r.output_text) as { city: unknown; n: unknown };
    assert.equal(typeof v.city, "string");
    assert.ok(Number.isInteger(v.n));
    const bad = await postRaw(
      h.url,
      "/v1/responses",
      JSON.stringify({ input: "x", text: { format: { type: "json_schema", name: "x", schema: { type: "nonsense" } } } }),
    );
    assert.equal(bad.status, 400);
    assert.match(errorOf(bad.json).param ?? "", /^text\.format/);
  });

  it("stores responses: previous_response_id, item_reference and GET continue or fetch them; unknown ids are refused", async () => {
    const first = await h.client.responses.create({ model: "toy", input: "Please say hello", temperature: 0 });
    const follow = await h.client.responses.create({
      model: "toy",
      previous_response_id: first.id,
      input: "unicode please",
      temperature: 0,
    });
    assert.equal(follow.output_text, SCRIPTS.unicode);
    assert.equal(follow.previous_response_id, first.id);
    // The previous answer is in the prompt: the conversation has grown by it.
    assert.ok(follow.usage!.input_tokens > first.usage!.input_tokens + first.usage!.output_tokens);
    const byRef = await h.client.responses.create({
      model: "toy",
      input: [
        { role: "user", content: "Please say hello" },
        { type: "item_reference", id: first.output[0]!.id! },
        { role: "user", content: "unicode please" },
      ],
      temperature: 0,
    });
    assert.equal(byRef.usage!.input_tokens, follow.usage!.input_tokens);
    const again = await h.client.responses.retrieve(first.id);
    assert.deepEqual(again.output, first.output);
    const missing = await postRaw(h.url, "/v1/responses", JSON.stringify({ input: "x", previous_response_id: "resp_nope" }));
    assert.equal(missing.status, 400);
    assert.equal(errorOf(missing.json).param, "previous_response_id");
    const unstored = await h.client.responses.create({ model: "toy", input: "Please say hello", store: false });
    const gone = await postRaw(h.url, "/v1/responses", JSON.stringify({ input: "x", previous_response_id: unstored.id }));
    assert.equal(gone.status, 400);
    assert.equal((await fetch(`${h.url}/v1/responses/${unstored.id}`)).status, 404);
  });

  it("DELETE /v1/responses/ID forgets a stored response and its items (the SDK's responses.delete); a second delete is a 404", async () => {
    const kept = await h.client.responses.create({ model: "toy", input: "Please say hello", temperature: 0 });
    const raw = await fetch(`${h.url}/v1/responses/${kept.id}`, { method: "DELETE" });
    assert.equal(raw.status, 200);
    assert.deepEqual(await raw.json(), { id: kept.id, object: "response.deleted", deleted: true });
    assert.equal((await fetch(`${h.url}/v1/responses/${kept.id}`)).status, 404);
    const continued = await postRaw(h.url, "/v1/responses", JSON.stringify({ input: "x", previous_response_id: kept.id }));
    assert.equal(continued.status, 400, "a deleted response cannot be continued");
    const byRef = await postRaw(h.url, "/v1/responses", JSON.stringify({ input: [{ type: "item_reference", id: kept.output[0]!.id! }] }));
    assert.equal(byRef.status, 400, "nor its items referenced");
    const again = await fetch(`${h.url}/v1/responses/${kept.id}`, { method: "DELETE" });
    assert.equal(again.status, 404);
    assert.equal(errorOf(await again.json()).code, "response_not_found");
    const other = await h.client.responses.create({ model: "toy", input: "Please say hello", temperature: 0 });
    await h.client.responses.delete(other.id);
    assert.equal((await fetch(`${h.url}/v1/responses/${other.id}`)).status, 404);
    const pre = await fetch(`${h.url}/v1/responses/${other.id}`, { method: "OPTIONS" });
    assert.equal(pre.status, 204);
  });

  it("include message.output_text.logprobs gives each token's logprob and top_logprobs, streamed with the deltas", async () => {
    const body = {
      model: "toy",
      input: "Please say hello",
      temperature: 0,
      top_logprobs: 2,
      include: ["message.output_text.logprobs" as const],
    };
    const r = await h.client.responses.create(body);
    const part = (r.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
    const lp = part.logprobs!;
    assert.equal(lp.map((t) => t.token).join(""), SCRIPTS.hello);
    assert.ok(lp.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2));
    let streamed = 0;
    for await (const e of await h.client.responses.create({ ...body, stream: true }))
      if (e.type === "response.output_text.delta") streamed += e.logprobs.length;
    assert.equal(streamed, lp.length);
    const plain = await h.client.responses.create({ model: "toy", input: "Please say hello", temperature: 0 });
    assert.deepEqual(
      (plain.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0]!.type === "output_text" &&
        (plain.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0]!,
      { type: "output_text", text: SCRIPTS.hello, annotations: [], logprobs: [] },
    );
  });

  it("max_output_tokens cuts the answer: status incomplete, reason max_output_tokens", async () => {
    const r = await h.client.responses.create({ model: "toy", input: "count slowly", max_output_tokens: 5, temperature: 0 });
    assert.equal(r.status, "incomplete");
    assert.equal(r.incomplete_details?.reason, "max_output_tokens");
    assert.equal(r.usage!.output_tokens, 5);
  });
});

/** The Qwen2.5 template with the generation prompt opening `<think>`, as QwQ's and R1-Distill's do. */
function thinkingTemplate(): string {
  const cfg = JSON.parse(readFileSync(resolve(repoRoot, "assets/tokenizers/qwen2.5/tokenizer_config.json"), "utf8")) as {
    chat_template: string;
  };
  const opened = cfg.chat_template.replace(
    "'<|im_start|>assistant\\n' }}\n{%- endif %}",
    "'<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}",
  );
  assert.notEqual(opened, cfg.chat_template);
  return opened;
}

describe("reasoning models: <think> opened by the template", () => {
  const THOUGHT = "The user wants a greeting. Keep it short.";
  const ANSWER = "Hello!";
  let client: OpenAI;
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    const tokenizer = new ServerToyTokenizer([], thinkingTemplate());
    const respond: Responder = (p) => (p.includes("greet me") ? `${THOUGHT}\n</think>\n\n${ANSWER}` : null);
    const server = createServer({ model: new ResponderModel(tokenizer, respond), tokenizer, modelId: "thinker" });
    url = await server.listen(0, "127.0.0.1");
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 });
    close = () => server.close();
  });
  after(() => close());
  const messages = [{ role: "user" as const, content: "greet me" }];

  it("chat: the thinking is reasoning_content, the answer is content", async () => {
    const r = await client.chat.completions.create({ model: "thinker", messages, temperature: 0 });
    const m = r.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    assert.equal(m.content, ANSWER);
    assert.equal(m.reasoning_content?.trim(), THOUGHT);
  });

  it("chat streaming: reasoning_content deltas first, then content deltas", async () => {
    const stream = await client.chat.completions.create({ model: "thinker", messages, temperature: 0, stream: true });
    let reasoning = "";
    let content = "";
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      if (d?.reasoning_content) {
        assert.equal(content, "", "no reasoning after the answer started");
        reasoning += d.reasoning_content;
      }
      if (d?.content) content += d.content;
    }
    assert.equal(reasoning.trim(), THOUGHT);
    assert.equal(content, ANSWER);
  });

  it("reasoning_format none keeps the thinking inline, <think> included", async () => {
    const r = await postRaw(url, "/v1/chat/completions", JSON.stringify({ messages, temperature: 0, reasoning_format: "none" }));
    const m = (r.json as { choices: { message: { content: string; reasoning_content?: string } }[] }).choices[0]!.message;
    assert.equal(m.content, `<think>\n${THOUGHT}\n</think>\n\n${ANSWER}`);
    assert.equal(m.reasoning_content, undefined);
  });

  it("responses: a reasoning item, then the message; streamed as reasoning_text deltas", async () => {
    const r = await client.responses.create({ model: "thinker", input: "greet me", temperature: 0 });
    assert.deepEqual(
      r.output.map((o) => o.type),
      ["reasoning", "message"],
    );
    const reasoning = r.output[0] as OpenAI.Responses.ResponseReasoningItem;
    assert.equal(reasoning.content![0]!.text.trim(), THOUGHT);
    assert.equal(r.output_text, ANSWER);
    const stream = await client.responses.create({ model: "thinker", input: "greet me", temperature: 0, stream: true });
    let thought = "";
    for await (const e of stream) if (e.type === "response.reasoning_text.delta") thought += e.delta;
    assert.equal(thought.trim(), THOUGHT);
  });
});

describe("tool calls: Qwen2.5-Coder's forms and truncation", () => {
  const chatTool = {
    type: "function" as const,
    function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
  };
  const SCRIPT: Record<string, string> = {
    fenced: '```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```',
    tools: '<tools>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tools>',
    bare: '{"name": "get_weather", "arguments": {"city": "Lima"}}',
    other: '```json\n{"name": "not_a_tool", "arguments": {}}\n```',
    long: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Llanfairpwllgwyngyll"}}\n</tool_call>',
  };
  let h: Harness;
  before(async () => {
    h = await startServer();
    const respond = h.model.respond;
    (h.model as { respond: Responder }).respond = (p) => {
      const m = /form (\w+)/.exec(p.slice(p.lastIndexOf("<|im_start|>user")));
      return m ? (SCRIPT[m[1]!] ?? null) : respond(p);
    };
  });
  after(() => h.close());

  for (const [form, city] of [
    ["fenced", "Oslo"],
    ["tools", "Rome"],
    ["bare", "Lima"],
  ] as const) {
    it(`reads a ${form} call as tool_calls`, async () => {
      for (const stream of [false, true]) {
        const body = { model: "toy", messages: [{ role: "user" as const, content: `form ${form}` }], tools: [chatTool], temperature: 0 };
        if (!stream) {
          const r = await h.client.chat.completions.create(body);
          const c = r.choices[0]!;
          assert.equal(c.finish_reason, "tool_calls");
          assert.equal(c.message.content, null);
          const call = c.message.tool_calls![0]!;
          assert.ok(call.type === "function");
          assert.deepEqual(JSON.parse(call.function.arguments), { city });
        } else {
          const s = await h.client.chat.completions.create({ ...body, stream: true });
          let content = "";
          let args = "";
          for await (const chunk of s) {
            content += chunk.choices[0]?.delta.content ?? "";
            args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? "";
          }
          assert.equal(content, "");
          assert.deepEqual(JSON.parse(args), { city });
        }
      }
    });
  }

  it("a fenced call naming an undeclared tool stays content", async () => {
    const r = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "form other" }],
      tools: [chatTool],
      temperature: 0,
    });
    assert.equal(r.choices[0]!.message.content, SCRIPT.other);
    assert.equal(r.choices[0]!.message.tool_calls, undefined);
  });

  it("a call cut by max_tokens finishes with length: no tool_calls and no raw tag in content", async () => {
    for (const stream of [false, true]) {
      const body = {
        model: "toy",
        messages: [{ role: "user" as const, content: "form long" }],
        tools: [chatTool],
        temperature: 0,
        max_tokens: 12,
      };
      if (!stream) {
        const r = await h.client.chat.completions.create(body);
        const c = r.choices[0]!;
        assert.equal(c.finish_reason, "length");
        assert.equal(c.message.tool_calls, undefined);
        assert.ok(!(c.message.content ?? "").includes("<tool_call>"), JSON.stringify(c.message.content));
      } else {
        const s = await h.client.chat.completions.create({ ...body, stream: true });
        let content = "";
        let calls = 0;
        let finish: string | null = null;
        for await (const chunk of s) {
          content += chunk.choices[0]?.delta.content ?? "";
          calls += chunk.choices[0]?.delta.tool_calls?.length ?? 0;
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(finish, "length");
        assert.equal(calls, 0);
        assert.equal(content, "");
      }
    }
  });
});
