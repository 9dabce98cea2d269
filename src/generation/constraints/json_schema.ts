/**
 * The JSON Schema subset that constrained decoding enforces, compiled into small nodes the
 * byte grammar (json_grammar.ts) walks:
 *
 * - `type`: object, array, string, number, integer, boolean, null, or a list of them;
 *   no `type` means any JSON value.
 * - objects: `properties` restricts keys to those listed (as OpenAI's strict mode does);
 *   `required` keys must appear before `}`; without `properties` any keys and values.
 * - arrays: `items` (one schema for every element).
 * - `enum` and `const`: the value is one of the given JSON values, written compactly.
 * - `anyOf`/`oneOf` of simple types merge their types; `$ref`, `pattern`, `minLength`,
 *   `minimum`, `minItems` and other keywords are accepted and not enforced.
 */
import { InvalidArgumentError } from "../../errors.js";

/** A schema the subset cannot compile; `path` names the offending part (e.g. `schema.properties.a.type`). */
export class SchemaError extends InvalidArgumentError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

function invalidField(path: string, detail: string): SchemaError {
  return new SchemaError(path, detail);
}

export type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";

export interface SchemaNode {
  readonly id: number;
  readonly types: ReadonlySet<JsonType>;
  /** Allowed keys with their value schemas; null: any key, any value. */
  readonly properties: ReadonlyMap<string, SchemaNode> | null;
  readonly required: readonly string[];
  readonly items: SchemaNode | null;
  /** When set, the value is one of these JSON texts (compact). */
  readonly literals: readonly string[] | null;
}

const ALL_TYPES: readonly JsonType[] = ["object", "array", "string", "number", "integer", "boolean", "null"];

let nextId = 1;

function node(types: Iterable<JsonType>, rest: Partial<Omit<SchemaNode, "id" | "types">> = {}): SchemaNode {
  return {
    id: nextId++,
    types: new Set(types),
    properties: rest.properties ?? null,
    required: rest.required ?? [],
    items: rest.items ?? null,
    literals: rest.literals ?? null,
  };
}

/** Any JSON value. */
export const ANY_VALUE: SchemaNode = node(ALL_TYPES);
/** `response_format: {type: "json_object"}`: an object with any keys and values. */
export const ANY_OBJECT: SchemaNode = node(["object"]);

/** Compiles a JSON Schema; `param` names where it came from in errors (e.g. a request field). */
export function compileSchema(schema: unknown, param: string, depth = 0): SchemaNode {
  if (schema === true || schema === undefined) return ANY_VALUE;
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw invalidField(param, "a JSON schema must be an object");
  if (depth > 32) throw invalidField(param, "the schema nests deeper than 32 levels");
  const s = schema as Record<string, unknown>;
  if ("const" in s) return node(ALL_TYPES, { literals: [JSON.stringify(s.const)] });
  if (Array.isArray(s.enum)) {
    if (s.enum.length === 0) throw invalidField(`${param}.enum`, "must list at least one value");
    return node(ALL_TYPES, { literals: s.enum.map((v) => JSON.stringify(v)) });
  }
  const alternatives = (s.anyOf ?? s.oneOf) as unknown;
  if (Array.isArray(alternatives) && alternatives.length > 0 && s.type === undefined) {
    const nodes = alternatives.map((a, i) => compileSchema(a, `${param}.anyOf[${i}]`, depth + 1));
    const merged = new Set<JsonType>();
    for (const n of nodes) for (const t of n.types) merged.add(t);
    const obj = nodes.find((n) => n.types.has("object") && n.properties);
    const arr = nodes.find((n) => n.types.has("array") && n.items);
    return node(merged, { properties: obj?.properties ?? null, required: obj?.required ?? [], items: arr?.items ?? null });
  }
  let types: JsonType[];
  if (s.type === undefined) types = s.properties ? ["object"] : s.items ? ["array"] : [...ALL_TYPES];
  else {
    const list = Array.isArray(s.type) ? s.type : [s.type];
    types = list.map((t, i) => {
      if (!ALL_TYPES.includes(t as JsonType))
        throw invalidField(`${param}.type${Array.isArray(s.type) ? `[${i}]` : ""}`, `unknown type ${JSON.stringify(t)}`);
      return t as JsonType;
    });
  }
  let properties: Map<string, SchemaNode> | null = null;
  if (s.properties !== undefined) {
    if (typeof s.properties !== "object" || s.properties === null || Array.isArray(s.properties))
      throw invalidField(`${param}.properties`, "must be an object");
    properties = new Map();
    for (const [k, v] of Object.entries(s.properties)) properties.set(k, compileSchema(v, `${param}.properties.${k}`, depth + 1));
  }
  let required: string[] = [];
  if (s.required !== undefined) {
    if (!Array.isArray(s.required) || s.required.some((r) => typeof r !== "string"))
      throw invalidField(`${param}.required`, "must be an array of strings");
    required = s.required as string[];
    if (properties) {
      for (const r of required) if (!properties.has(r)) throw invalidField(`${param}.required`, `'${r}' is not among the properties`);
    }
  }
  const items = s.items !== undefined ? compileSchema(s.items, `${param}.items`, depth + 1) : null;
  return node(types, { properties, required, items });
}
