import assert from "node:assert/strict";
import { it } from "node:test";
import { JsonConstraint, VocabIndex } from "../../src/generation/constraints/json_constraint.js";
import type { Grammar, ParseState } from "../../src/generation/constraints/json_grammar.js";
import { ANY_OBJECT, ANY_VALUE, compileSchema } from "../../src/generation/constraints/json_schema.js";
import { IM_END, ServerToyTokenizer } from "../server/toy.js";

const enc = new TextEncoder();
const run = (text: string, g: Grammar = ANY_VALUE): ParseState | null => g.stepBytes(g.initial(), enc.encode(text));
const accepts = (text: string, g: Grammar = ANY_VALUE): boolean => {
  const s = run(text, g);
  return s !== null && g.complete(s);
};

it("accepts valid JSON documents and refuses invalid ones", () => {
  for (const ok of ['{"a": [1, -2.5e+3, true, false, null, "x\\n\\u00e9"]}', "[]", "{}", "0", '"é✓"', "[[[1]]]", '{"a":{"b":{}}}'])
    assert.ok(accepts(ok), ok);
  for (const bad of ["{", '{"a" 1}', "[1,]", "01", "1.", '"\\x"', "tru", "{,}", '{"a":1,}', "[1 2]", '"a\u0001"'])
    assert.ok(!accepts(bad), bad);
  assert.equal(run('{"a": 1} x'), null, "nothing after the document");
  assert.equal(run("[1]", ANY_OBJECT), null, "json_object needs an object");
});

it("enforces the schema subset: keys, required, types, enum, items", () => {
  const schema = compileSchema(
    {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" }, tags: { type: "array", items: { enum: ["a", "b"] } } },
      required: ["name", "age"],
    },
    "schema",
  );
  assert.ok(accepts('{"name": "x", "age": 3}', schema));
  assert.ok(accepts('{"name": "x", "age": 3, "tags": ["a", "b"]}', schema));
  assert.equal(run('{"age": 3', schema), null, "keys in the schema's order");
  assert.ok(!accepts('{"name": "x"}', schema), "required age");
  assert.equal(run('{"nick"', schema), null, "unknown key");
  assert.equal(run('{"age": 3.5', schema), null, "integer only");
  assert.equal(run('{"age": "3"', schema), null, "type");
  assert.equal(run('{"tags": ["c"', schema), null, "enum");
  assert.equal(run('{"age": 1, "age"', schema), null, "no duplicate keys");
});

it("masks the vocabulary token by token, EOS only when complete", () => {
  const tok = new ServerToyTokenizer();
  const index = new VocabIndex(tok.vocabSize, tok);
  const c = new JsonConstraint(index, ANY_OBJECT, [IM_END]);
  const logits = new Float32Array(tok.vocabSize);
  c.process(logits, { prompt: new Int32Array(0), generated: [] });
  const allowed = [...logits.keys()].filter((i) => logits[i] !== -Infinity).map((i) => tok.decode([i]));
  assert.deepEqual(allowed.sort(), [" ", "  ", "\t", "\n", "\r", "{", '{"'].sort());
  // Brute force: the trie walk agrees with trying every token alone.
  const generated = tok.encode('{"a": [1, ');
  const l2 = new Float32Array(tok.vocabSize);
  c.process(l2, { prompt: new Int32Array(0), generated });
  const state = run('{"a": [1, ', ANY_OBJECT)!;
  for (let id = 0; id < tok.vocabSize; id++) {
    const b = tok.isSpecialId(id) ? null : tok.idToBytes(id)!;
    const ok = b !== null && ANY_OBJECT.stepBytes(state, b) !== null;
    assert.equal(l2[id] !== -Infinity, ok, `token ${id} ${JSON.stringify(tok.decode([id]))}`);
  }
  const done = new Float32Array(tok.vocabSize);
  c.process(done, { prompt: new Int32Array(0), generated: tok.encode('{"a": [1, 2]}') });
  assert.deepEqual(
    [...done.keys()].filter((i) => done[i] !== -Infinity),
    [IM_END],
  );
});

it("generate() takes responseFormat: the same JSON constraint as the server's response_format", async () => {
  const { generate } = await import("../../src/generation/generate.js");
  const { ResponderModel } = await import("../server/toy.js");
  const { respond } = await import("../server/harness.js");
  const { InvalidArgumentError } = await import("../../src/errors.js");
  const tok = new ServerToyTokenizer();
  const model = new ResponderModel(tok, respond, 2048);
  const messages = [{ role: "user" as const, content: "json please" }];
  const free = await generate(model, tok, messages, { eosIds: [IM_END], maxNewTokens: 100 });
  assert.match(free.text, /and more text/);
  const json = await generate(model, tok, messages, { eosIds: [IM_END], maxNewTokens: 100, responseFormat: { type: "json_object" } });
  assert.deepEqual(JSON.parse(json.text), { answer: 42 });
  assert.equal(json.finishReason, "stop");
  const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
  const typed = await generate(model, tok, messages, {
    eosIds: [IM_END],
    maxNewTokens: 100,
    responseFormat: { type: "json_schema", json_schema: { schema } },
  });
  assert.equal(typeof (JSON.parse(typed.text) as { answer: unknown }).answer, "string", `the schema wins over the script: ${typed.text}`);
  await assert.rejects(
    generate(model, tok, messages, { responseFormat: { type: "json_schema", json_schema: { schema: { type: "thing" } } } }),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /responseFormat\.json_schema\.schema\.type: unknown type "thing"/.test((e as Error).message),
  );
});

it("the constraints are importable by package name, to pass as logitsProcessors", async () => {
  const c = await import("qwen2-ts/internal/generation/constraints/index");
  for (const name of [
    "JsonConstraint",
    "ToolCallConstraint",
    "compileSchema",
    "vocabIndex",
    "SchemaError",
    "responseFormatConstraint",
  ] as const) {
    assert.equal(typeof c[name], "function", name);
  }
});
