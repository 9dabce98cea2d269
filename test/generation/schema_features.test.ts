import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Grammar, ParseState } from "../../src/generation/constraints/json_grammar.js";
import { compileSchema, DEFAULT_LIMITS as LIMITS, SchemaError, SchemaLimitError } from "../../src/generation/constraints/json_schema.js";
import { maskFor } from "../../src/generation/constraints/json_constraint.js";
import { mockVocabulary, sampleDocument, validate } from "./constraint_support.js";

const enc = new TextEncoder();
const run = (g: Grammar, text: string): ParseState | null => g.stepBytes(g.initial(), enc.encode(text));
const accepts = (g: Grammar, text: string): boolean => {
  const s = run(g, text);
  return s !== null && g.complete(s);
};
const compile = (schema: unknown) => compileSchema(schema, "schema");

/** Every text in `ok` is a complete document; every text in `bad` is refused (or incomplete). */
function check(schema: unknown, ok: string[], bad: string[]): Grammar {
  const g = compile(schema);
  for (const t of ok) assert.ok(accepts(g, t), `accepts ${t}`);
  for (const t of bad) assert.ok(!accepts(g, t), `refuses ${t}`);
  return g;
}

const vocab = mockVocabulary(7);

/** Samples documents on several seeds; each must parse and satisfy the schema (checked by an independent validator). */
function sampleValid(schema: unknown, seeds = [1, 2, 3, 4, 5, 6]): unknown[] {
  const g = compile(schema);
  return seeds.map((seed) => {
    const text = sampleDocument(g, vocab, seed);
    assert.notEqual(text, null, `seed ${seed}: the document ended`);
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(text!)), `seed ${seed}: ${text} parses`);
    assert.deepEqual(validate(schema, value), [], `seed ${seed}: ${text}`);
    return value;
  });
}

describe("JSON schema features", () => {
  it("$ref into $defs and definitions, nested and recursive (zod/pydantic style)", () => {
    const schema = {
      type: "object",
      properties: { owner: { $ref: "#/$defs/Person" }, tree: { $ref: "#/definitions/Node" } },
      required: ["owner", "tree"],
      additionalProperties: false,
      $defs: {
        Person: {
          type: "object",
          properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer", minimum: 0, maximum: 120 } },
          required: ["name", "age"],
          additionalProperties: false,
        },
      },
      definitions: {
        Node: {
          type: "object",
          properties: {
            v: { type: "integer", minimum: 0, maximum: 9 },
            kids: { type: "array", items: { $ref: "#/definitions/Node" }, maxItems: 2 },
          },
          required: ["v", "kids"],
          additionalProperties: false,
        },
      },
    };
    check(
      schema,
      ['{"owner": {"name": "ann", "age": 30}, "tree": {"v": 1, "kids": [{"v": 2, "kids": []}]}}'],
      [
        '{"owner": "&x"',
        '{"owner": {"name": "ann", "age": 130}',
        '{"owner": {"name": "ann", "age": 3}, "tree": {"v": 1, "kids": [{"v": 2}]}}',
      ],
    );
    sampleValid(schema);
    // At a small depth limit, recursion stops where it still can finish (no dead end).
    const shallow = compileSchema(schema, "schema", { ...LIMITS, maxRefDepth: 4 });
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const text = sampleDocument(shallow, vocab, seed);
      assert.deepEqual(validate(schema, JSON.parse(text!)), [], `depth 4, seed ${seed}: ${text}`);
    }
    assert.throws(() => compileSchema(schema, "schema", { ...LIMITS, maxRefDepth: 1 }), /maxRefDepth/);
  });

  it("anyOf / oneOf with enum, const and null branches keep their values (a nullable enum)", () => {
    const schema = {
      type: "object",
      properties: {
        color: { anyOf: [{ type: "string", enum: ["red", "green"] }, { type: "null" }] },
        level: { oneOf: [{ const: 1 }, { const: "max" }] },
        shape: { type: ["string", "null"], enum: ["box", null] },
      },
      required: ["color", "level", "shape"],
      additionalProperties: false,
    };
    check(
      schema,
      ['{"color": "red", "level": 1, "shape": "box"}', '{"color": null, "level": "max", "shape": null}'],
      ['{"color": [-50]', '{"color": "blue"', '{"color": "red", "level": 2', '{"color": "red", "level": 1, "shape": "ball"'],
    );
    sampleValid(schema);
  });

  it("integer and number bounds, exclusive ones included, are enforced digit by digit", () => {
    const ints = { type: "array", items: { type: "integer", minimum: -20, maximum: 1000 }, maxItems: 6 };
    check(ints, ["[-20, 0, 7, 1000]", "[]"], ["[-21]", "[1001]", "[1.5]", "[10000]", "[007]", "[123456789012345678901234]"]);
    const g = compile(ints);
    assert.notEqual(run(g, "[100"), null, "a prefix that can still end in range is fine");
    assert.equal(run(g, "[1001"), null, "refused at the digit that leaves the range");
    const nums = { type: "number", exclusiveMinimum: 0.5, exclusiveMaximum: 3 };
    check(nums, ["1", "2.75", "1.0"], ["0", "0.5", "3", "3.5", "-1", "1e3"]);
    const zodInt = { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 };
    check(zodInt, ["0", "-42", "123456789012345"], ["1.5"]);
    sampleValid({
      type: "object",
      properties: { a: ints, b: nums, c: { type: "integer", exclusiveMinimum: 5, maximum: 7 } },
      required: ["a", "b", "c"],
    });
  });

  it("minItems/maxItems, prefixItems and minLength/maxLength", () => {
    const schema = {
      type: "object",
      properties: {
        tags: { type: "array", items: { type: "string", minLength: 2, maxLength: 3 }, minItems: 2, maxItems: 3 },
        pair: { type: "array", prefixItems: [{ type: "integer" }, { type: "boolean" }], items: false },
      },
      required: ["tags", "pair"],
    };
    check(
      schema,
      ['{"tags": ["ab", "中文é"], "pair": [1, true]}'],
      [
        '{"tags": ["ab"], "pair": [1, true]}',
        '{"tags": ["a"',
        '{"tags": ["abcd"',
        '{"tags": ["ab", "cd", "ef", "gh"]',
        '{"tags": ["ab", "cd"], "pair": [1, true, 2]}',
      ],
    );
    sampleValid(schema);
  });

  it("pattern: classes, quantifiers, alternation, anchors; unanchored patterns match anywhere", () => {
    const code = { type: "string", pattern: "^[A-Z]{2}-\\d{2,3}(x|yz)?$" };
    check(code, ['"AB-12"', '"ZZ-123yz"', '"AB-12x"'], ['"ab-12"', '"AB-1"', '"AB-1234"', '"AB-12y"', '"AB-12"x']);
    check({ type: "string", pattern: "ab+c" }, ['"xxabbbcyy"', '"abc"'], ['"ac"', '"xyz"']);
    check({ type: "string", pattern: "^\\w+@[^\\s@]+$" }, ['"me@here"'], ['"me@"', '"@x"']);
    sampleValid({
      type: "object",
      properties: { code, word: { type: "string", pattern: "^[a-c]+(-[0-9])?$", maxLength: 6 } },
      required: ["code", "word"],
    });
  });

  it("format date, date-time, uuid and email", () => {
    const schema = {
      type: "object",
      properties: {
        d: { type: "string", format: "date" },
        t: { type: "string", format: "date-time" },
        u: { type: "string", format: "uuid" },
        e: { type: "string", format: "email" },
      },
      required: ["d", "t", "u", "e"],
    };
    check(
      schema,
      ['{"d": "2024-02-29", "t": "2024-01-31T12:30:00Z", "u": "123e4567-e89b-12d3-a456-426614174000", "e": "a.b@c.org"}'],
      ['{"d": "2024-13-01"', '{"d": "24-1-1"', '{"d": "2024-01-01", "t": "2024-01-01 12:00"'],
    );
    sampleValid(schema, [1, 2, 3]);
  });

  it("additionalProperties false, required and the schema's property order", () => {
    const schema = {
      type: "object",
      properties: { a: { type: "boolean" }, b: { type: "null" }, c: { type: "string", maxLength: 4 } },
      required: ["c"],
      additionalProperties: false,
    };
    check(
      schema,
      ['{"c": "x"}', '{"a": true, "c": "x"}', '{"a": true, "b": null, "c": ""}'],
      ['{"c": "x", "a": true}', '{"a": true}', '{"d": 1}', "{}"],
    );
    const map = { type: "object", additionalProperties: { type: "integer", minimum: 0, maximum: 9 } };
    check(map, ['{"any": 1, "key": 9}', "{}"], ['{"k": 10}', '{"k": "v"}']);
    sampleValid(schema);
    sampleValid({ ...map, maxProperties: 3 }, [1, 2]);
  });

  it("allOf merges object parts", () => {
    const schema = {
      allOf: [
        { type: "object", properties: { a: { type: "integer", minimum: 0, maximum: 3 } }, required: ["a"] },
        { properties: { b: { const: "x" } }, required: ["b"] },
      ],
    };
    check(schema, ['{"a": 1, "b": "x"}'], ['{"a": 1}', '{"b": "x"}', '{"a": 4, "b": "x"}']);
  });
});

describe("schema errors and budgets", () => {
  const limitOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SchemaLimitError, `a SchemaLimitError, got ${String(err)}`);
      return `${err.limit} | ${err.message}`;
    }
    assert.fail("expected a SchemaLimitError");
  };

  it("a 100k-deep const is a SchemaLimitError naming maxNesting, not a stack overflow", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.match(
      limitOf(() => compileSchema({ const: deep }, "response_format.json_schema.schema")),
      /^maxNesting \| response_format\.json_schema\.schema: .*64 levels/,
    );
  });

  it("each budget's error names its limit", () => {
    const enumOf = (n: number) => ({ enum: Array.from({ length: n }, (_, i) => `v${i}`) });
    assert.match(
      limitOf(() => compileSchema(enumOf(11), "s", { ...LIMITS, maxEnumEntries: 10 })),
      /^maxEnumEntries \| s\.enum: .*10/,
    );
    const props = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`p${i}`, { type: "null" }]));
    assert.match(
      limitOf(() => compileSchema({ properties: props }, "s", { ...LIMITS, maxProperties: 10 })),
      /^maxProperties \| s\.properties/,
    );
    assert.match(
      limitOf(() => compileSchema(enumOf(100), "s", { ...LIMITS, maxSchemaBytes: 200 })),
      /^maxSchemaBytes \| s: .*200 bytes/,
    );
    assert.match(
      limitOf(() => compileSchema({ type: "string", pattern: "(a{1000}){1000}" }, "s")),
      /^maxStates \| s\.pattern/,
    );
    const chain: Record<string, unknown> = { $ref: "#/$defs/d0", $defs: {} };
    for (let i = 0; i < 40; i++)
      (chain.$defs as Record<string, unknown>)[`d${i}`] = { type: "array", items: { $ref: `#/$defs/d${i + 1}` } };
    (chain.$defs as Record<string, unknown>).d40 = { type: "null" };
    assert.match(
      limitOf(() => compileSchema(chain, "s")),
      /^maxRefDepth \| s\./,
    );
    assert.match(
      limitOf(() => compileSchema(enumOf(50_000), "s", { ...LIMITS, maxCompileMs: 1 })),
      /^maxCompileMs \| s: /,
    );
  });

  it("unsupported or contradictory schemas are a SchemaError naming the field", () => {
    const errorOf = (schema: unknown) => {
      try {
        compile(schema);
      } catch (err) {
        assert.ok(err instanceof SchemaError);
        return err.message;
      }
      assert.fail("expected a SchemaError");
    };
    assert.match(errorOf({ type: "string", pattern: "(?=a)b" }), /^schema\.pattern: .*lookaround/);
    assert.match(errorOf({ type: "string", pattern: "(a)\\1" }), /^schema\.pattern: .*backreferences/);
    assert.match(errorOf({ properties: { a: { $ref: "#/$defs/missing" } } }), /^schema\.properties\.a\.\$ref: .*points to nothing/);
    assert.match(errorOf({ $ref: "https://example.com/s.json" }), /same schema/);
    assert.match(errorOf({ type: "integer", minimum: 5, maximum: 4 }), /no integer satisfies/);
    assert.match(errorOf({ type: "array", minItems: 3, maxItems: 2 }), /^schema\.minItems/);
    assert.match(errorOf({ type: "thing" }), /^schema\.type: unknown type "thing"/);
  });
});

describe("token masks", () => {
  it("a token that would leave the schema is masked; one that stays in it is not", () => {
    const g = compile({
      type: "object",
      properties: { n: { type: "integer", minimum: 0, maximum: 5 }, s: { enum: ["yes", "no"] } },
      required: ["n", "s"],
    });
    const idOf = (text: string) =>
      vocab.tokens.findIndex((t) => new TextDecoder().decode(t) === text && t.length === enc.encode(text).length);
    const mask = (text: string) => maskFor(vocab.index, g, run(g, text)!);
    const allowed = (m: Uint32Array, text: string) => ((m[idOf(text) >>> 5]! >>> (idOf(text) & 31)) & 1) === 1;
    const afterColon = mask('{"n": ');
    assert.ok(allowed(afterColon, "3") && allowed(afterColon, "0"));
    assert.ok(!allowed(afterColon, "9") && !allowed(afterColon, "-") && !allowed(afterColon, '"'), "9, - and a quote leave the bounds");
    assert.ok(!allowed(afterColon, "12"), "a multi-byte token that overshoots");
    const inEnum = mask('{"n": 3, "s": "');
    assert.ok(allowed(inEnum, "y") && allowed(inEnum, "n") && !allowed(inEnum, "a"));
    // Brute force: the trie walks agree with stepping every token alone, inside strings too
    // (where the mask is the string's own part plus a walk of the tokens with a quote).
    const strings = compile({ type: "array", items: { type: "string" }, maxItems: 2 });
    for (const [grammar, prefix] of [
      [g, '{"n": 3, "s": '],
      [strings, '["ab", "c'],
      [strings, '["ab'],
      [compile({ type: "object", properties: { a: { type: "string", pattern: "^[a-c]+$" } } }), '{"a": "b'],
    ] as const) {
      const state = run(grammar, prefix)!;
      const m = maskFor(vocab.index, grammar, state);
      vocab.tokens.forEach((t, id) => {
        if (id === 0) return;
        const ok = grammar.stepBytes(state, t) !== null;
        assert.equal(
          ((m[id >>> 5]! >>> (id & 31)) & 1) === 1,
          ok,
          `${prefix} then token ${id} ${JSON.stringify(new TextDecoder().decode(t))}`,
        );
      });
    }
  });
});
