import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { validate } from "../generation/constraint_support.js";
import { DEFAULT_MASK_CACHE_BYTES, maskCache } from "../../src/generation/constraints/json_constraint.js";
import { DEFAULT_SCHEMA_CACHE_BYTES, schemaCache } from "../../src/generation/constraints/schema_cache.js";
import { errorOf, postRaw, startServer, type Harness } from "./harness.js";

// A pydantic/zod-style schema: nested models under $defs, a nullable enum, integer bounds.
const SCHEMA = {
  type: "object",
  properties: {
    city: { $ref: "#/$defs/City" },
    mood: { anyOf: [{ type: "string", enum: ["happy", "sad"] }, { type: "null" }] },
    visits: { type: "integer", minimum: 1, maximum: 12 },
  },
  required: ["city", "mood", "visits"],
  additionalProperties: false,
  $defs: {
    City: {
      type: "object",
      properties: { name: { type: "string", maxLength: 12 }, zip: { type: "string", pattern: "^[0-9]{5}$" } },
      required: ["name", "zip"],
      additionalProperties: false,
    },
  },
};

describe("structured outputs through the server", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(async () => h.close());

  it("$defs, a nullable enum and integer bounds hold on every seed (babbling model, temperature 1)", async () => {
    let done = 0;
    for (const seed of [1, 2, 3]) {
      const r = await h.client.chat.completions.create({
        model: "toy",
        messages: [{ role: "user", content: "anything" }],
        temperature: 1,
        seed,
        max_tokens: 200,
        response_format: { type: "json_schema", json_schema: { name: "visit", schema: SCHEMA } },
      });
      const text = r.choices[0]!.message.content!;
      if (r.choices[0]!.finish_reason !== "stop") continue; // cut by max_tokens: nothing to validate
      assert.deepEqual(validate(SCHEMA, JSON.parse(text)), [], `seed ${seed}: ${text}`);
      done++;
    }
    assert.ok(done > 0, "some answers complete");
  });

  it("a deeply nested const is a 400 naming the limit, not a 500", async () => {
    const deep = `${"[".repeat(50_000)}1${"]".repeat(50_000)}`;
    const body = `{"model": "toy", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "d", "schema": {"const": ${deep}}}}}`;
    const r = await postRaw(h.url, "/v1/chat/completions", body);
    assert.equal(r.status, 400, JSON.stringify(r.json).slice(0, 300));
    // The body's JSON depth guard or the schema compiler's maxNesting, whichever reads it first.
    assert.match(errorOf(r.json).message, /deeper than 64 levels|maxNesting/);
  });

  it("a schema over a budget is a 400 naming the limit", async () => {
    const schema = { type: "string", pattern: "(a{1000}){1000}" };
    const r = await postRaw(
      h.url,
      "/v1/chat/completions",
      JSON.stringify({
        model: "toy",
        messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_schema", json_schema: { name: "p", schema } },
      }),
    );
    assert.equal(r.status, 400);
    assert.match(errorOf(r.json).message, /maxStates/);
    assert.equal(errorOf(r.json).param, "response_format.json_schema.schema.pattern");
  });
});

describe("schema budgets set by the server (limits, qwen2 serve --max-schema-*)", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({
      limits: { maxSchemaBytes: 2000, maxSchemaEnum: 5, maxSchemaProperties: 3, maxSchemaStates: 60 },
    });
  });
  after(async () => h.close());

  const chat = (schema: unknown): string =>
    JSON.stringify({
      model: "toy",
      messages: [{ role: "user", content: "schema please" }],
      max_tokens: 4,
      response_format: { type: "json_schema", json_schema: { name: "s", schema } },
    });
  const refused = async (path: string, body: string, limit: string, flag: string, param: string): Promise<void> => {
    const r = await postRaw(h.url, path, body);
    assert.equal(r.status, 400, JSON.stringify(r.json).slice(0, 300));
    const e = errorOf(r.json);
    assert.equal(e.code, "schema_limit_exceeded");
    assert.equal(e.param, param);
    assert.match(e.message, new RegExp(`\\(limit ${limit}, set by ${flag}\\)$`));
  };

  it("each lowered budget is a 400 naming the limit and its flag; a schema within them is answered", async () => {
    const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "integer" }]));
    const within = await postRaw(h.url, "/v1/chat/completions", chat({ type: "object", properties: props(3) }));
    assert.equal(within.status, 200, JSON.stringify(within.json).slice(0, 300));
    const p = "response_format.json_schema.schema";
    await refused(
      "/v1/chat/completions",
      chat({ enum: ["a", "b", "c", "d", "e", "f"] }),
      "maxEnumEntries",
      "--max-schema-enum",
      `${p}.enum`,
    );
    await refused(
      "/v1/chat/completions",
      chat({ type: "object", properties: props(4) }),
      "maxProperties",
      "--max-schema-properties",
      `${p}.properties`,
    );
    await refused(
      "/v1/chat/completions",
      chat({ type: "string", description: "x".repeat(2000) }),
      "maxSchemaBytes",
      "--max-schema-bytes",
      p,
    );
    await refused(
      "/v1/chat/completions",
      chat({ type: "string", pattern: "^a{100}$" }),
      "maxStates",
      "--max-schema-states",
      `${p}.pattern`,
    );
  });

  it("the budgets hold for a tool's parameters and for /v1/responses text.format too", async () => {
    const tools = JSON.stringify({
      model: "toy",
      messages: [{ role: "user", content: "weather" }],
      tools: [
        { type: "function", function: { name: "f", parameters: { type: "object", properties: { u: { enum: [1, 2, 3, 4, 5, 6] } } } } },
      ],
    });
    await refused("/v1/chat/completions", tools, "maxEnumEntries", "--max-schema-enum", "tools[0].function.parameters.properties.u.enum");
    const responses = JSON.stringify({
      model: "toy",
      input: "schema please",
      text: { format: { type: "json_schema", name: "s", schema: { enum: [1, 2, 3, 4, 5, 6] } } },
    });
    await refused("/v1/responses", responses, "maxEnumEntries", "--max-schema-enum", "text.format.schema.enum");
  });
});

describe("schema compile time and cache sizes set by the server", () => {
  it("a compile-time budget of 1 ms refuses a 20k-string enum, naming --max-schema-compile-time", async () => {
    // Hashing and compiling 20,000 enum strings is tens of milliseconds of work on any machine.
    const h = await startServer({ limits: { maxSchemaCompileMs: 1 } });
    try {
      const schema = { enum: Array.from({ length: 20_000 }, (_, i) => `value-${i}-${"z".repeat(i % 7)}`) };
      const r = await postRaw(
        h.url,
        "/v1/chat/completions",
        JSON.stringify({
          model: "toy",
          messages: [{ role: "user", content: "x" }],
          response_format: { type: "json_schema", json_schema: { name: "e", schema } },
        }),
      );
      assert.equal(r.status, 400);
      assert.equal(errorOf(r.json).code, "schema_limit_exceeded");
      assert.match(errorOf(r.json).message, /\(limit maxCompileMs, set by --max-schema-compile-time\)$/);
    } finally {
      await h.close();
    }
  });

  it("--schema-cache-bytes / --mask-cache-bytes resize the process-wide caches that /metrics reports", async () => {
    const h = await startServer({ limits: { schemaCacheBytes: 0, maskCacheBytes: 0 } });
    try {
      assert.equal(schemaCache.limit, 0);
      assert.equal(maskCache.limit, 0);
      const r = await postRaw(
        h.url,
        "/v1/chat/completions",
        JSON.stringify({
          model: "toy",
          messages: [{ role: "user", content: "schema please" }],
          max_tokens: 8,
          response_format: {
            type: "json_schema",
            json_schema: { name: "c", schema: { type: "object", properties: { city: { type: "string" } } } },
          },
        }),
      );
      assert.equal(r.status, 200);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^qwen2_schema_cache_bytes 0$/m);
      assert.match(metrics, /^qwen2_mask_cache_bytes 0$/m);
    } finally {
      await h.close();
      schemaCache.resize(DEFAULT_SCHEMA_CACHE_BYTES);
      maskCache.resize(DEFAULT_MASK_CACHE_BYTES);
    }
    // A server that names no size leaves the caches as they are (they are shared by the process).
    const h2 = await startServer();
    try {
      assert.equal(schemaCache.limit, DEFAULT_SCHEMA_CACHE_BYTES);
      const r = await postRaw(
        h2.url,
        "/v1/chat/completions",
        JSON.stringify({
          model: "toy",
          messages: [{ role: "user", content: "schema please" }],
          max_tokens: 8,
          response_format: {
            type: "json_schema",
            json_schema: { name: "c", schema: { type: "object", properties: { town: { type: "string" } } } },
          },
        }),
      );
      assert.equal(r.status, 200);
      const metrics = await (await fetch(`${h2.url}/metrics`)).text();
      assert.match(metrics, /^qwen2_schema_cache_bytes [1-9]\d*$/m);
      assert.match(metrics, /^qwen2_mask_cache_bytes [1-9]\d*$/m);
    } finally {
      await h2.close();
    }
  });
});
