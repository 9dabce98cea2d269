import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { validate } from "../generation/constraint_support.js";
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
