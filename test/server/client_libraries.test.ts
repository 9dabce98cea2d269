/**
 * The client libraries people point at an OpenAI-compatible server, each with its defaults,
 * against `createServer` on 127.0.0.1 (the toy model): the Vercel AI SDK (`ai` 6 with
 * @ai-sdk/openai, whose `openai(id)` is the Responses API and `openai.chat(id)` chat
 * completions, and @ai-sdk/openai-compatible), and LangChain.js (@langchain/openai, chat
 * completions and `useResponsesApi`). They are opt-in peers (bench/package.json,
 * `npm run bench:peers`); without them the suite skips with one line, and fails instead when
 * QWEN2_REQUIRE_PEERS=1.
 *
 * Structured output (generateObject, withStructuredOutput) runs with no scripted answer and
 * sampling at temperature 1, so the JSON comes from the constraint alone over the toy model's
 * random logits: the parsed object must satisfy the schema on every seed tried.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { importPeer, peerSkipReason, type PeerName } from "../../bench/peers.js";
import { createServer, type QwenServer } from "../../src/server/server.js";
import { repoRoot } from "../support/paths.js";
import { SCRIPTS, respond, type Harness, startServer } from "./harness.js";
import { ResponderModel, ServerToyTokenizer } from "./toy.js";

const PEERS: PeerName[] = ["ai", "@ai-sdk/openai", "@ai-sdk/openai-compatible", "@langchain/openai", "@langchain/core", "zod"];
const missing = PEERS.map((p) => peerSkipReason(p)).find((r) => r !== undefined);
if (missing && process.env.QWEN2_REQUIRE_PEERS === "1") throw new Error(`QWEN2_REQUIRE_PEERS=1 but ${missing}`);
const skip = missing ?? false;

// The few shapes of these libraries this test touches (they are not root dependencies, so
// their own types are not visible to the compiler here).
interface ZodType {
  nullable(): ZodType;
  optional(): ZodType;
  describe(d: string): ZodType;
  safeParse(v: unknown): { success: boolean; error?: unknown };
}
interface ZodNumber extends ZodType {
  int(): ZodNumber;
  min(n: number): ZodNumber;
  max(n: number): ZodNumber;
}
interface Zod {
  object(shape: Record<string, ZodType>): ZodType;
  string(): ZodType;
  number(): ZodNumber;
  boolean(): ZodType;
  enum(values: string[]): ZodType;
  array(item: ZodType): ZodType;
}
type LanguageModel = { readonly modelId: string };
interface GenerateTextResult {
  text: string;
  reasoningText?: string;
  finishReason: string;
  toolCalls: { toolName: string; input: unknown }[];
  steps: unknown[];
  usage: { inputTokens?: number; outputTokens?: number };
}
interface AiSdk {
  generateText(o: Record<string, unknown>): Promise<GenerateTextResult>;
  streamText(o: Record<string, unknown>): { textStream: AsyncIterable<string>; text: Promise<string>; finishReason: Promise<string> };
  generateObject(o: Record<string, unknown>): Promise<{ object: unknown }>;
  tool(o: Record<string, unknown>): unknown;
  stepCountIs(n: number): unknown;
  zodSchema(schema: ZodType, options?: { useReferences?: boolean }): { jsonSchema: unknown };
}
interface OpenAIProvider {
  (id: string): LanguageModel;
  chat(id: string): LanguageModel;
}
interface LangChainMessage {
  content: unknown;
  tool_calls?: { name: string; args: Record<string, unknown> }[];
}
interface ChatOpenAI {
  invoke(input: unknown): Promise<LangChainMessage>;
  stream(input: unknown): Promise<AsyncIterable<LangChainMessage>>;
  bindTools(tools: unknown[]): { invoke(input: unknown): Promise<LangChainMessage> };
  withStructuredOutput(schema: ZodType, o?: Record<string, unknown>): { invoke(input: unknown): Promise<unknown> };
}

interface Libraries {
  ai: AiSdk;
  z: Zod;
  createOpenAI(o: { baseURL: string; apiKey: string }): OpenAIProvider;
  createOpenAICompatible(o: { name: string; baseURL: string; apiKey: string }): (id: string) => LanguageModel;
  ChatOpenAI: new (fields: Record<string, unknown>) => ChatOpenAI;
}

async function libraries(): Promise<Libraries> {
  const ai = await importPeer<AiSdk>("ai");
  const { z } = await importPeer<{ z: Zod }>("zod");
  const { createOpenAI } = await importPeer<{ createOpenAI: Libraries["createOpenAI"] }>("@ai-sdk/openai");
  const { createOpenAICompatible } = await importPeer<{ createOpenAICompatible: Libraries["createOpenAICompatible"] }>(
    "@ai-sdk/openai-compatible",
  );
  const { ChatOpenAI } = await importPeer<{ ChatOpenAI: Libraries["ChatOpenAI"] }>("@langchain/openai");
  return { ai, z, createOpenAI, createOpenAICompatible, ChatOpenAI };
}

const WEATHER_PROMPT = "What is the weather in Paris?";

describe("client libraries against the server", { skip }, () => {
  let h: Harness;
  let lib: Libraries;
  let openai: OpenAIProvider;
  before(async () => {
    lib = await libraries();
    h = await startServer();
    openai = lib.createOpenAI({ baseURL: `${h.url}/v1`, apiKey: "none" });
  });
  after(() => h?.close());

  const weather = () =>
    lib.ai.tool({
      description: "Current weather of a city",
      inputSchema: lib.ai.zodSchema(lib.z.object({ city: lib.z.string() })),
      execute: async ({ city }: { city: string }) => ({ city, sky: "sunny" }),
    });

  for (const api of ["responses", "chat"] as const) {
    const model = () => (api === "responses" ? openai("toy") : openai.chat("toy"));

    it(`ai generateText and streamText through ${api === "responses" ? "openai(id) (the Responses API)" : "openai.chat(id)"}`, async () => {
      const r = await lib.ai.generateText({ model: model(), prompt: "Please say hello", temperature: 0 });
      assert.equal(r.text, SCRIPTS.hello);
      assert.equal(r.finishReason, "stop");
      assert.ok((r.usage.inputTokens ?? 0) > 0 && (r.usage.outputTokens ?? 0) > 0);
      const s = lib.ai.streamText({ model: model(), prompt: "unicode please", temperature: 0 });
      let text = "";
      let pieces = 0;
      for await (const piece of s.textStream) {
        text += piece;
        pieces++;
      }
      assert.equal(text, SCRIPTS.unicode);
      assert.ok(pieces > 1, "streamed in pieces");
    });

    it(`ai generateText runs a tool loop through ${api}`, async () => {
      const r = await lib.ai.generateText({
        model: model(),
        prompt: WEATHER_PROMPT,
        tools: { get_weather: weather() },
        stopWhen: lib.ai.stepCountIs(3),
        temperature: 0,
      });
      assert.equal(r.steps.length, 2);
      assert.equal(r.text, SCRIPTS.afterTool);
    });
  }

  it("ai with @ai-sdk/openai-compatible: generateText, streamText and tools", async () => {
    const compatible = lib.createOpenAICompatible({ name: "qwen2", baseURL: `${h.url}/v1`, apiKey: "none" });
    const r = await lib.ai.generateText({ model: compatible("toy"), prompt: "Please say hello", temperature: 0 });
    assert.equal(r.text, SCRIPTS.hello);
    const s = lib.ai.streamText({ model: compatible("toy"), prompt: "unicode please", temperature: 0 });
    assert.equal(await s.text, SCRIPTS.unicode);
    const t = await lib.ai.generateText({
      model: compatible("toy"),
      prompt: WEATHER_PROMPT,
      tools: { get_weather: weather() },
      stopWhen: lib.ai.stepCountIs(3),
      temperature: 0,
    });
    assert.equal(t.text, SCRIPTS.afterTool);
  });

  it("langchain ChatOpenAI: invoke, stream and bindTools, on chat completions and with useResponsesApi", async () => {
    for (const useResponsesApi of [false, true]) {
      const chat = new lib.ChatOpenAI({
        model: "toy",
        apiKey: "none",
        configuration: { baseURL: `${h.url}/v1` },
        temperature: 0,
        maxRetries: 0,
        useResponsesApi,
      });
      const m = await chat.invoke("Please say hello");
      assert.equal(textOf(m.content), SCRIPTS.hello, `useResponsesApi ${useResponsesApi}`);
      let streamed = "";
      for await (const chunk of await chat.stream("unicode please")) streamed += textOf(chunk.content);
      assert.equal(streamed, SCRIPTS.unicode);
      const withTools = chat.bindTools([
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "weather",
            parameters: { type: "object", properties: { city: { type: "string" } } },
          },
        },
      ]);
      const call = await withTools.invoke(WEATHER_PROMPT);
      assert.equal(call.tool_calls?.[0]?.name, "get_weather");
      assert.deepEqual(call.tool_calls?.[0]?.args, { city: "Paris" });
    }
  });

  it("langchain ChatOpenAI without a model (it sends gpt-3.5-turbo) works once the server accepts any name", async () => {
    const any = await startServer({ acceptAnyModel: true });
    try {
      const chat = new lib.ChatOpenAI({ apiKey: "none", configuration: { baseURL: `${any.url}/v1` }, temperature: 0 });
      assert.equal(textOf((await chat.invoke("Please say hello")).content), SCRIPTS.hello);
    } finally {
      await any.close();
    }
  });
});

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : ((p as { text?: string }).text ?? ""))).join("");
  return "";
}

describe("client libraries: structured output from the constraint alone", { skip }, () => {
  let lib: Libraries;
  let server: QwenServer;
  let url: string;
  before(async () => {
    lib = await libraries();
    const tokenizer = new ServerToyTokenizer();
    // No script: every character of the JSON is the constraint's doing.
    server = createServer({ model: new ResponderModel(tokenizer, () => null), tokenizer, modelId: "toy" });
    url = await server.listen(0, "127.0.0.1");
  });
  after(() => server?.close());

  const schema = () => {
    const { z } = lib;
    const place = z.object({ name: z.string(), floor: z.number().int().min(-2).max(9) });
    return z.object({
      home: place,
      work: place.nullable(),
      mood: z.enum(["calm", "busy"]).nullable(),
      rooms: z.number().int().min(1).max(12),
      tags: z.array(z.enum(["a", "b"])),
    });
  };

  for (const api of ["responses", "chat"] as const) {
    it(`ai generateObject with a nested zod schema ($defs), nullable enums and integer bounds, through ${api}`, async () => {
      const openai = lib.createOpenAI({ baseURL: `${url}/v1`, apiKey: "none" });
      const model = api === "responses" ? openai("toy") : openai.chat("toy");
      const zod = schema();
      const json = lib.ai.zodSchema(zod, { useReferences: true });
      assert.match(JSON.stringify(json.jsonSchema), /\$ref/, "the schema sent uses references");
      for (const seed of [1, 2, 3]) {
        const r = await lib.ai.generateObject({
          model,
          schema: json,
          prompt: "Describe a place.",
          seed,
          maxOutputTokens: 1500,
          maxRetries: 0,
        });
        const check = zod.safeParse(r.object);
        assert.ok(check.success, `seed ${seed}: ${JSON.stringify(r.object)}`);
      }
    });
  }

  it("langchain withStructuredOutput (json schema and function calling)", async () => {
    const chat = new lib.ChatOpenAI({
      model: "toy",
      apiKey: "none",
      configuration: { baseURL: `${url}/v1` },
      maxTokens: 1500,
      maxRetries: 0,
    });
    const zod = schema();
    for (const method of ["jsonSchema", "functionCalling"]) {
      const out = await chat.withStructuredOutput(zod, { method, name: "place" }).invoke("Describe a place.");
      assert.ok(zod.safeParse(out).success, `${method}: ${JSON.stringify(out)}`);
    }
  });
});

/** The Qwen2.5 template with the generation prompt opening `<think>` (as QwQ's and R1-Distill's do). */
function thinkingTemplate(): string {
  const cfg = JSON.parse(readFileSync(resolve(repoRoot, "assets/tokenizers/qwen2.5/tokenizer_config.json"), "utf8")) as {
    chat_template: string;
  };
  return cfg.chat_template.replace("'<|im_start|>assistant\\n' }}\n{%- endif %}", "'<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}");
}

describe("client libraries: reasoning output", { skip }, () => {
  let lib: Libraries;
  let server: QwenServer;
  let url: string;
  before(async () => {
    lib = await libraries();
    const tokenizer = new ServerToyTokenizer([], thinkingTemplate());
    const model = new ResponderModel(tokenizer, (p) => (p.includes("greet me") ? "Short greeting.\n</think>\n\nHello!" : respond(p)));
    server = createServer({ model, tokenizer, modelId: "thinker" });
    url = await server.listen(0, "127.0.0.1");
  });
  after(() => server?.close());

  it("ai reads reasoning_content as reasoningText (openai-compatible) and the reasoning item (openai(id))", async () => {
    const compatible = lib.createOpenAICompatible({ name: "qwen2", baseURL: `${url}/v1`, apiKey: "none" });
    const r = await lib.ai.generateText({ model: compatible("thinker"), prompt: "greet me", temperature: 0 });
    assert.equal(r.text, "Hello!");
    assert.equal(r.reasoningText?.trim(), "Short greeting.");
    const openai = lib.createOpenAI({ baseURL: `${url}/v1`, apiKey: "none" });
    const viaResponses = await lib.ai.generateText({ model: openai("thinker"), prompt: "greet me", temperature: 0 });
    assert.equal(viaResponses.text, "Hello!");
  });
});
