import assert from "node:assert/strict";
import { it } from "node:test";
import { ByteLru } from "../../src/generation/constraints/byte_lru.js";
import {
  JsonConstraint,
  VocabIndex,
  maskCache,
  maskFor,
  vocabIndex,
  vocabIndexAsync,
} from "../../src/generation/constraints/json_constraint.js";
import { ANY_OBJECT } from "../../src/generation/constraints/json_schema.js";
import { ServerToyTokenizer } from "../server/toy.js";
import { compileSchema } from "../../src/generation/constraints/json_schema.js";
import { compileSchemaAsync, schemaCache } from "../../src/generation/constraints/schema_cache.js";
import { toolCallGrammar } from "../../src/generation/constraints/tool_constraint.js";
import { MOCK_EOS, mockVocabulary, sampleDocument, validate } from "./constraint_support.js";

const vocab = mockVocabulary(11);
const enc = new TextEncoder();

/** Greedy longest-match tokenization over the mock vocabulary. */
function tokenize(text: string): number[] {
  const bytes = enc.encode(text);
  const ids: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    let best = -1;
    let len = 0;
    vocab.tokens.forEach((t, id) => {
      if (id === MOCK_EOS || t.length <= len || at + t.length > bytes.length) return;
      for (let k = 0; k < t.length; k++) if (t[k] !== bytes[at + k]) return;
      best = id;
      len = t.length;
    });
    ids.push(best);
    at += len;
  }
  return ids;
}

/** Feeds a fixed document token by token; returns the trie walks (mask computations) made at each step. */
function walksPerToken(schema: unknown, text: string): number[] {
  const c = new JsonConstraint(vocab.index, compileSchema(schema, "schema"), [MOCK_EOS]);
  const ids = tokenize(text);
  const logits = new Float32Array(vocab.tokens.length);
  const walks: number[] = [];
  for (let i = 0; i <= ids.length; i++) {
    const before = vocab.index.walks;
    logits.fill(0);
    c.process(logits, { prompt: new Int32Array(0), generated: ids.slice(0, i) });
    walks.push(vocab.index.walks - before);
    if (i < ids.length) assert.notEqual(logits[ids[i]!], -Infinity, `token ${i} of the document is allowed`);
  }
  assert.ok(c.complete);
  return walks;
}

it("per-token cost is O(1) after warm-up: repeated states make no trie walk, however large the schema", () => {
  const item = (keys: number) => ({
    type: "object",
    properties: {
      ...Object.fromEntries(Array.from({ length: keys }, (_, i) => [`extra${i}`, { type: "string" }])),
      k: { enum: Array.from({ length: keys * 5 }, (_, i) => `v${i}`) },
      n: { type: "integer", minimum: 0, maximum: 99 },
      s: { type: "string", maxLength: 40 },
    },
    required: ["k", "n", "s"],
  });
  const doc = `[${Array.from({ length: 40 }, (_, i) => `{"k": "v${i % 3}", "n": ${40 + (i % 7)}, "s": "hello é"}`).join(", ")}]`;
  for (const keys of [2, 2000]) {
    const walks = walksPerToken({ type: "array", items: item(keys) }, doc);
    const half = Math.floor(walks.length / 2);
    const warm = walks.slice(0, half).reduce((a, b) => a + b, 0);
    const late = walks.slice(half, -1).reduce((a, b) => a + b, 0);
    assert.ok(
      walks.every((w) => w <= 2),
      "at most two trie walks per token (inside a string: its own, then the quote tokens)",
    );
    assert.ok(warm > 0 && warm < 60, `${keys} keys: ${warm} walks while warming up`);
    assert.equal(late, 0, `${keys} keys: no walk in the second half but for the final state (${walks.length} tokens)`);
  }
});

it("ByteLru keeps the most recently used values within its byte budget", () => {
  const lru = new ByteLru<Uint8Array>(100, (v) => v.byteLength);
  lru.set("a", new Uint8Array(40));
  lru.set("b", new Uint8Array(40));
  assert.ok(lru.get("a"));
  lru.set("c", new Uint8Array(40));
  assert.equal(lru.get("b"), undefined, "b was least recently used");
  assert.ok(lru.get("a") && lru.get("c"));
  assert.equal(lru.bytes, 80);
  lru.set("huge", new Uint8Array(101));
  assert.equal(lru.get("huge"), undefined, "a value over the whole budget is not kept");
  lru.resize(50);
  assert.equal(lru.size, 1);
  assert.ok(lru.bytes <= 50);
});

it("the mask cache stays within its byte budget while generating", () => {
  const limit = maskCache.limit;
  const oneMask = ((vocab.tokens.length + 31) >>> 5) * 4 + 96;
  maskCache.resize(5 * oneMask);
  try {
    const g = compileSchema({ type: "array", items: { type: "integer", minimum: -5000, maximum: 5000 }, maxItems: 30 }, "s");
    for (const seed of [1, 2]) {
      const text = sampleDocument(g, vocab, seed);
      assert.ok(text !== null);
      assert.ok(maskCache.bytes <= 5 * oneMask, `${maskCache.bytes} bytes`);
    }
  } finally {
    maskCache.resize(limit);
  }
});

it("compiled schemas are cached by canonical hash (key order does not matter), per limits", async () => {
  const a = await compileSchemaAsync({ type: "object", properties: { x: { type: "integer" } }, required: ["x"] }, "s");
  const b = await compileSchemaAsync({ required: ["x"], properties: { x: { type: "integer" } }, type: "object" }, "s");
  assert.equal(a, b);
  const c = await compileSchemaAsync({ required: ["x"], properties: { x: { type: "integer" } }, type: "object" }, "s", {
    limits: { maxProperties: 10 },
  });
  assert.notEqual(a, c, "other limits, other entry");
  assert.ok(schemaCache.bytes > 0 && schemaCache.bytes <= schemaCache.limit);
});

it("compileSchemaAsync leaves the event loop free while compiling a 50k-entry enum", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const schema = { enum: Array.from({ length: 50_000 }, (_, i) => `value number ${i}`) };
    const g = await compileSchemaAsync(schema, "s", { cache: false });
    const seen = ticks;
    assert.ok(seen > 0, "timers ran during compilation");
    const text = sampleDocument(g, vocab, 3);
    assert.match(JSON.parse(text!) as string, /^value number \d+$/);
  } finally {
    clearInterval(timer);
  }
});

it("a forced tool call: head, arguments following the tool's schema, tail", () => {
  const weather = {
    type: "object",
    properties: { city: { type: "string", maxLength: 10 }, days: { type: "integer", minimum: 1, maximum: 7 } },
    required: ["city", "days"],
  };
  const tools = [
    { name: "get_weather", parameters: compileSchema(weather, "p") },
    { name: "get_time", parameters: compileSchema({ type: "object", properties: {}, additionalProperties: false }, "p") },
  ];
  const g = toolCallGrammar(tools);
  for (const seed of [1, 2, 3, 4]) {
    const text = sampleDocument(g, vocab, seed);
    const m = /^<tool_call>\n(\{.*\})\n<\/tool_call>$/s.exec(text ?? "");
    assert.ok(m, `seed ${seed}: ${text}`);
    const call = JSON.parse(m[1]!) as { name: string; arguments: unknown };
    if (call.name === "get_weather") assert.deepEqual(validate(weather, call.arguments), []);
    else assert.deepEqual(call, { name: "get_time", arguments: {} });
  }
  assert.equal(toolCallGrammar(tools), g, "one grammar per tool set");
});

it("vocabIndexAsync builds a tokenizer's index once, the one vocabIndex() then returns, with the same masks", async () => {
  const tok = new ServerToyTokenizer();
  const [a, b] = await Promise.all([vocabIndexAsync(tok, tok.vocabSize), vocabIndexAsync(tok, tok.vocabSize)]);
  assert.equal(a, b);
  assert.equal(vocabIndex(tok, tok.vocabSize), a);
  const sync = new VocabIndex(tok.vocabSize, tok);
  for (const prefix of ["", '{"a": [1, ', '{"a": "x']) {
    const state = ANY_OBJECT.stepBytes(ANY_OBJECT.initial(), enc.encode(prefix))!;
    assert.deepEqual(maskFor(a, ANY_OBJECT, state), maskFor(sync, ANY_OBJECT, state), prefix);
  }
});
