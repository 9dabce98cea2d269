/**
 * Compiles a JSON Schema into the node graph of grammar_nodes.ts, once, within budgets.
 *
 * Supported (OpenAI structured outputs' subset and more):
 * - `type` (one or a list), `nullable: true`; no `type` means what the other keywords imply,
 *   or any JSON value;
 * - objects: `properties` (written in the order given; only listed keys), `required`,
 *   `additionalProperties` (false; or the value schema of a free-keyed object);
 * - arrays: `items`, `prefixItems` (or draft-4 tuple `items`), `minItems`, `maxItems`;
 * - strings: `minLength`, `maxLength` (code points), `pattern` (see regex.ts), `format`
 *   date, time, date-time, uuid, email;
 * - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers or draft-4
 *   booleans), `integer`;
 * - `enum`, `const` (written as compact JSON), `anyOf`/`oneOf` (any mix of options, nullable
 *   enums included), `allOf` (merged), `$ref` into `$defs`/`definitions`/any JSON pointer
 *   of the same document, recursive ones included.
 * Keywords outside this list (`multipleOf`, `uniqueItems`, `not`, …) are accepted and not
 * enforced. Property order follows the schema object's own key order, in which JavaScript
 * lists integer-like keys ("1", "2") first.
 *
 * Everything is bounded ({@link ConstraintLimits}); going over a limit is a
 * {@link SchemaLimitError} naming it, which a server answers with a 400. Compilation is a
 * generator so that {@link compileSchemaAsync} can yield to the event loop between slices.
 */
import { InvalidArgumentError } from "../../errors.js";
import { ByteTable, binaryString, sortedSteps } from "./byte_table.js";
import { type GNode, type LiteralNode, type ObjectNode, type StringNode, newNodeId, type RefNode } from "./grammar_nodes.js";
import { Grammar, minimumDepthSteps } from "./json_grammar.js";
import { numberSpec } from "./number_range.js";
import { PatternError, Regex } from "./regex.js";

/** A schema the subset cannot compile; `path` names the offending part (e.g. `schema.properties.a.type`). */
export class SchemaError extends InvalidArgumentError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** A schema over one of the compilation budgets; `limit` is the {@link ConstraintLimits} field. */
export class SchemaLimitError extends SchemaError {
  constructor(
    path: string,
    readonly limit: keyof ConstraintLimits,
    detail: string,
  ) {
    super(path, `${detail} (limit ${limit})`);
  }
}

/** Budgets of one schema's compilation. */
export interface ConstraintLimits {
  /** Size of the schema as canonical JSON text. */
  readonly maxSchemaBytes: number;
  /** `enum` and `const` values over the whole schema. */
  readonly maxEnumEntries: number;
  /** Object properties over the whole schema. */
  readonly maxProperties: number;
  /** Compiled nodes plus pattern automaton states. */
  readonly maxStates: number;
  /** Nesting of the schema document (and of `const`/`enum` values in it). */
  readonly maxNesting: number;
  /** `$ref`s followed in a chain while compiling, and containers nested in the output. */
  readonly maxRefDepth: number;
  /** Compilation time (work time, not counting yields to the event loop). */
  readonly maxCompileMs: number;
}

export const DEFAULT_LIMITS: ConstraintLimits = {
  maxSchemaBytes: 4 << 20,
  maxEnumEntries: 200_000,
  maxProperties: 200_000,
  maxStates: 1_000_000,
  maxNesting: 64,
  maxRefDepth: 32,
  maxCompileMs: 5_000,
};

export type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
const ALL_TYPES: readonly JsonType[] = ["object", "array", "string", "number", "integer", "boolean", "null"];

/** A compiled schema (a {@link Grammar}); the name is kept from earlier releases. */
export type SchemaNode = Grammar;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const FORMATS: Record<string, string> = {
  date: "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$",
  time: "^([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$",
  "date-time":
    "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$",
  uuid: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
  email: "^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63}){1,8}$",
};

/** Work units between checks of the clock (and chances to yield). */
const SLICE_UNITS = 2048;

class Compiler {
  enumEntries = 0;
  properties = 0;
  states = 0;
  bytes = 0;
  private units = 0;
  /** Compiled targets of `$ref`s, by the target schema object. */
  private readonly refs = new Map<unknown, RefNode>();
  private refChain = 0;

  constructor(
    readonly doc: unknown,
    readonly limits: ConstraintLimits,
  ) {}

  /** Counts work; true when a slice is used up (the driver may yield and checks the clock). */
  tick(n = 1): boolean {
    this.units += n;
    if (this.units < SLICE_UNITS) return false;
    this.units = 0;
    return true;
  }

  private state(path: string, n = 1): number {
    this.states += n;
    if (this.states > this.limits.maxStates)
      throw new SchemaLimitError(path, "maxStates", `the schema compiles to more than ${this.limits.maxStates} automaton states`);
    return newNodeId();
  }

  *node(s: unknown, path: string, depth: number): Generator<void, GNode> {
    if (this.tick()) yield;
    if (s === true || s === undefined) return ANY_NODE;
    if (s === false) throw new SchemaError(path, "the schema `false` accepts no value");
    if (!isObj(s)) throw new SchemaError(path, "a JSON schema must be an object");
    if (depth > this.limits.maxNesting)
      throw new SchemaLimitError(path, "maxNesting", `the schema nests deeper than ${this.limits.maxNesting} levels`);
    if (typeof s.$ref === "string") return yield* this.ref(s.$ref, `${path}.$ref`, depth);
    if (Array.isArray(s.allOf)) return yield* this.node(yield* this.mergeAllOf(s, path), path, depth + 1);
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives !== undefined) {
      const key = s.anyOf !== undefined ? "anyOf" : "oneOf";
      if (!Array.isArray(alternatives) || alternatives.length === 0) throw new SchemaError(`${path}.${key}`, "must be a non-empty array");
      const { anyOf: _a, oneOf: _o, ...base } = s;
      const options: GNode[] = [];
      for (let i = 0; i < alternatives.length; i++) {
        const alt = alternatives[i];
        // Keywords next to anyOf apply to every option (the option's own win).
        const merged = isObj(alt) && Object.keys(base).some((k) => !ANNOTATIONS.has(k)) ? { ...base, ...alt } : alt;
        options.push(yield* this.node(merged, `${path}.${key}[${i}]`, depth + 1));
      }
      if (s.nullable === true) options.push(NULL_NODE);
      return options.length === 1 ? options[0]! : { kind: "union", id: this.state(path), options };
    }
    const types = this.types(s, path);
    if ("const" in s) return yield* this.literals([s.const], `${path}.const`, types);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new SchemaError(`${path}.enum`, "must list at least one value");
      const values = s.nullable === true ? [...s.enum, null] : s.enum;
      return yield* this.literals(values, `${path}.enum`, types);
    }
    const options: GNode[] = [];
    for (const t of types) options.push(yield* this.typed(t, s, path, depth));
    // "number" covers "integer": keep the wider one.
    const unique = types.includes("number") && types.includes("integer") ? options.filter((_, i) => types[i] !== "integer") : options;
    return unique.length === 1 ? unique[0]! : { kind: "union", id: this.state(path), options: unique };
  }

  private types(s: Obj, path: string): JsonType[] {
    let types: JsonType[];
    if (s.type === undefined) {
      if ("const" in s || s.enum !== undefined) return [...ALL_TYPES];
      const has = (...keys: string[]) => keys.some((k) => s[k] !== undefined);
      types = [];
      if (has("properties", "required", "additionalProperties", "minProperties", "maxProperties")) types.push("object");
      if (has("items", "prefixItems", "minItems", "maxItems")) types.push("array");
      if (has("minLength", "maxLength", "pattern", "format")) types.push("string");
      if (has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")) types.push("number");
      if (types.length === 0) types = [...ALL_TYPES];
    } else {
      const list = Array.isArray(s.type) ? s.type : [s.type];
      if (list.length === 0) throw new SchemaError(`${path}.type`, "must name at least one type");
      types = list.map((t, i) => {
        if (!ALL_TYPES.includes(t as JsonType))
          throw new SchemaError(`${path}.type${Array.isArray(s.type) ? `[${i}]` : ""}`, `unknown type ${JSON.stringify(t)}`);
        return t as JsonType;
      });
    }
    if (s.nullable === true && !types.includes("null")) types.push("null");
    return types;
  }

  private *literals(values: readonly unknown[], path: string, types: readonly JsonType[]): Generator<void, LiteralNode> {
    this.enumEntries += values.length;
    if (this.enumEntries > this.limits.maxEnumEntries)
      throw new SchemaLimitError(path, "maxEnumEntries", `the schema lists more than ${this.limits.maxEnumEntries} enum/const values`);
    const texts: string[] = [];
    for (const v of values) {
      if (!matchesTypes(v, types)) continue;
      const text = binaryString(JSON.stringify(v));
      texts.push(text);
      this.bytes += text.length + 16;
      if (this.tick()) yield;
    }
    if (texts.length === 0) throw new SchemaError(path, `no value is of type ${types.join(" or ")}`);
    return { kind: "literal", id: this.state(path), table: yield* ByteTable.set(texts) };
  }

  private *typed(t: JsonType, s: Obj, path: string, depth: number): Generator<void, GNode> {
    switch (t) {
      case "boolean":
        return BOOLEAN_NODE;
      case "null":
        return NULL_NODE;
      case "string":
        return this.string(s, path);
      case "number":
      case "integer":
        return this.number(t === "integer", s, path);
      case "array":
        return yield* this.array(s, path, depth);
      case "object":
        return yield* this.object(s, path, depth);
    }
  }

  private count(s: Obj, key: string, path: string): number | undefined {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new SchemaError(`${path}.${key}`, "must be a non-negative integer");
    return v;
  }

  private string(s: Obj, path: string): StringNode {
    const min = this.count(s, "minLength", path) ?? 0;
    const max = this.count(s, "maxLength", path) ?? Infinity;
    if (min > max) throw new SchemaError(`${path}.minLength`, `${min} is more than maxLength ${max}`);
    let source: string | undefined;
    let where = `${path}.pattern`;
    if (s.pattern !== undefined) {
      if (typeof s.pattern !== "string") throw new SchemaError(where, "must be a string");
      source = s.pattern;
    } else if (typeof s.format === "string" && FORMATS[s.format] !== undefined) {
      source = FORMATS[s.format];
      where = `${path}.format`;
    }
    let regex: Regex | null = null;
    if (source !== undefined) {
      try {
        regex = new Regex(source, Math.max(1, this.limits.maxStates - this.states));
      } catch (err) {
        if (err instanceof PatternError) {
          if (/automaton states|DFA states/.test(err.detail)) throw new SchemaLimitError(where, "maxStates", err.detail);
          throw new SchemaError(where, `unsupported or invalid pattern ${JSON.stringify(source)} ${err.message}`);
        }
        throw err;
      }
      this.states += regex.nfaStates;
      this.bytes += regex.bytes;
      if (regex.distance(regex.startId) > max)
        throw new SchemaError(where, `no string of at most maxLength ${max} characters matches ${JSON.stringify(source)}`);
      if (regex.distance(regex.startId) >= 0x3fffffff) throw new SchemaError(where, `no string matches ${JSON.stringify(source)}`);
    }
    // Plain strings share one node, so their token masks are shared by every schema.
    if (min === 0 && max === Infinity && !regex) return FREE_STRING;
    return { kind: "string", id: this.state(path), min, max, regex };
  }

  private number(integer: boolean, s: Obj, path: string): GNode {
    const num = (key: string): number | undefined => {
      const v = s[key];
      if (v === undefined || typeof v === "boolean") return undefined;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new SchemaError(`${path}.${key}`, "must be a finite number");
      return v;
    };
    let lo = num("minimum") ?? -Infinity;
    let hi = num("maximum") ?? Infinity;
    let loEx = s.exclusiveMinimum === true;
    let hiEx = s.exclusiveMaximum === true;
    const exLo = num("exclusiveMinimum");
    const exHi = num("exclusiveMaximum");
    if (exLo !== undefined && exLo >= lo) [lo, loEx] = [exLo, true];
    if (exHi !== undefined && exHi <= hi) [hi, hiEx] = [exHi, true];
    const spec = numberSpec(integer, lo, loEx, hi, hiEx);
    if (!spec)
      throw new SchemaError(path, `no ${integer ? "integer" : "number"} satisfies the bounds (at most 15 integer digits are written)`);
    return { kind: "number", id: this.state(path), spec };
  }

  private *array(s: Obj, path: string, depth: number): Generator<void, GNode> {
    const prefix: GNode[] = [];
    let itemsSchema: unknown = s.items;
    const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : null;
    if (tuple) {
      const key = Array.isArray(s.prefixItems) ? "prefixItems" : "items";
      for (let i = 0; i < tuple.length; i++) prefix.push(yield* this.node(tuple[i], `${path}.${key}[${i}]`, depth + 1));
      itemsSchema = Array.isArray(s.items) ? s.additionalItems : s.items;
    }
    let max = this.count(s, "maxItems", path) ?? Infinity;
    const min = this.count(s, "minItems", path) ?? 0;
    let items: GNode = ANY_NODE;
    if (itemsSchema === false) max = Math.min(max, prefix.length);
    else if (itemsSchema !== undefined) items = yield* this.node(itemsSchema, `${path}.items`, depth + 1);
    if (min > max) throw new SchemaError(`${path}.minItems`, `${min} is more than maxItems (${max})`);
    return { kind: "array", id: this.state(path), prefix, items, min, max };
  }

  private *object(s: Obj, path: string, depth: number): Generator<void, GNode> {
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string"))
      throw new SchemaError(`${path}.required`, "must be an array of strings");
    const props = s.properties;
    if (props !== undefined && !isObj(props)) throw new SchemaError(`${path}.properties`, "must be an object");
    const additional = s.additionalProperties;
    if (props === undefined || (Object.keys(props).length === 0 && additional !== false)) {
      if (required.length > 0 && props === undefined) {
        // Required keys without properties: they may hold anything.
        const listed: Obj = {};
        for (const r of required as string[]) listed[r] = isObj(additional) ? additional : true;
        return yield* this.object({ ...s, properties: listed }, path, depth);
      }
      if (additional === false) return yield* this.object({ ...s, properties: {} }, path, depth);
      const value = isObj(additional) ? yield* this.node(additional, `${path}.additionalProperties`, depth + 1) : ANY_NODE;
      return { kind: "map", id: this.state(path), value, key: FREE_STRING };
    }
    const keys = Object.keys(props);
    this.properties += keys.length;
    if (this.properties > this.limits.maxProperties)
      throw new SchemaLimitError(`${path}.properties`, "maxProperties", `the schema has more than ${this.limits.maxProperties} properties`);
    const isRequired = new Uint8Array(keys.length);
    if (required.length > 0) {
      const index = new Map<string, number>();
      for (let i = 0; i < keys.length; i++) {
        index.set(keys[i]!, i);
        if (this.tick()) yield;
      }
      for (const r of required as string[]) {
        const i = index.get(r);
        if (i === undefined) throw new SchemaError(`${path}.required`, `'${r}' is not among the properties`);
        isRequired[i] = 1;
      }
    }
    const values: GNode[] = [];
    for (const k of keys) {
      values.push(yield* this.node(props[k], `${path}.properties.${k}`, depth + 1));
    }
    const n = keys.length;
    const nextRequired = new Int32Array(n + 1);
    nextRequired[n] = n;
    for (let i = n - 1; i >= 0; i--) nextRequired[i] = isRequired[i] ? i : nextRequired[i + 1]!;
    // Segments end at each required property: from i, the next key is one of i..nextRequired[i].
    const segmentOf = new Int32Array(n);
    const segments: ByteTable[] = [];
    let start = 0;
    for (let i = 0; i < n; i++) {
      if (isRequired[i] || i === n - 1) {
        const texts: string[] = [];
        const payload: number[] = [];
        for (let j = start; j <= i; j++) {
          const text = binaryString(JSON.stringify(keys[j]));
          texts.push(text);
          payload.push(j);
          segmentOf[j] = segments.length;
          this.bytes += text.length + 24;
          if (this.tick()) yield;
        }
        segments.push(yield* ByteTable.build(texts, payload));
        start = i + 1;
      }
    }
    this.bytes += 16 * n;
    return { kind: "object", id: this.state(path), n, values, segments, segmentOf, nextRequired } satisfies ObjectNode;
  }

  private *mergeAllOf(s: Obj, path: string): Generator<void, Obj> {
    const { allOf, ...rest } = s;
    let merged: Obj = { ...rest };
    const list = allOf as unknown[];
    for (let i = 0; i < list.length; i++) {
      if (this.tick()) yield;
      let part = list[i];
      if (isObj(part) && typeof part.$ref === "string") part = this.resolvePointer(part.$ref, `${path}.allOf[${i}].$ref`);
      if (!isObj(part)) throw new SchemaError(`${path}.allOf[${i}]`, "a JSON schema must be an object");
      const next: Obj = { ...merged, ...part };
      if (isObj(merged.properties) || isObj(part.properties))
        next.properties = { ...(isObj(merged.properties) ? merged.properties : {}), ...(isObj(part.properties) ? part.properties : {}) };
      if (Array.isArray(merged.required) || Array.isArray(part.required))
        next.required = [...new Set([...((merged.required as string[]) ?? []), ...((part.required as string[]) ?? [])])];
      merged = next;
    }
    return merged;
  }

  private resolvePointer(ref: string, path: string): unknown {
    if (!ref.startsWith("#"))
      throw new SchemaError(path, `only references into the same schema ("#/…") are supported, got ${JSON.stringify(ref)}`);
    let at: unknown = this.doc;
    const pointer = decodeURIComponent(ref.slice(1));
    if (pointer === "") return at;
    if (!pointer.startsWith("/")) throw new SchemaError(path, `expected a JSON pointer like "#/$defs/Name", got ${JSON.stringify(ref)}`);
    for (const raw of pointer.slice(1).split("/")) {
      const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (Array.isArray(at) && /^\d+$/.test(part)) at = at[Number(part)];
      else if (isObj(at) && Object.hasOwn(at, part)) at = at[part];
      else throw new SchemaError(path, `${JSON.stringify(ref)} points to nothing in the schema`);
    }
    return at;
  }

  private *ref(ref: string, path: string, depth: number): Generator<void, GNode> {
    const target = this.resolvePointer(ref, path);
    const known = this.refs.get(target);
    if (known) return known; // recursive: resolved once the outer compilation finishes
    if (++this.refChain > this.limits.maxRefDepth)
      throw new SchemaLimitError(path, "maxRefDepth", `$ref chains nest deeper than ${this.limits.maxRefDepth}`);
    const placeholder: RefNode = { kind: "ref", id: this.state(path), target: null };
    this.refs.set(target, placeholder);
    const node = yield* this.node(target, path, depth + 1);
    this.refChain--;
    if (node === placeholder) throw new SchemaError(path, `${JSON.stringify(ref)} refers only to itself`);
    placeholder.target = node;
    return node;
  }
}

const ANNOTATIONS = new Set([
  "title",
  "description",
  "examples",
  "default",
  "$comment",
  "$schema",
  "$id",
  "$defs",
  "definitions",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

function matchesTypes(v: unknown, types: readonly JsonType[]): boolean {
  if (types.length === ALL_TYPES.length) return true;
  const t: JsonType =
    v === null
      ? "null"
      : Array.isArray(v)
        ? "array"
        : typeof v === "boolean"
          ? "boolean"
          : typeof v === "number"
            ? Number.isInteger(v)
              ? "integer"
              : "number"
            : typeof v === "string"
              ? "string"
              : "object";
  return types.includes(t) || (t === "integer" && types.includes("number"));
}

// Shared nodes of every grammar.
const FREE_STRING: StringNode = { kind: "string", id: newNodeId(), min: 0, max: Infinity, regex: null };
const NULL_NODE: LiteralNode = { kind: "literal", id: newNodeId(), table: new ByteTable(["null"]) };
const BOOLEAN_NODE: LiteralNode = { kind: "literal", id: newNodeId(), table: new ByteTable(["true", "false"]) };
const ANY_REF: RefNode = { kind: "ref", id: newNodeId(), target: null };
const ANY_MAP: GNode = { kind: "map", id: newNodeId(), value: ANY_REF, key: FREE_STRING };
const ANY_NODE: GNode = {
  kind: "union",
  id: newNodeId(),
  options: [
    ANY_MAP,
    { kind: "array", id: newNodeId(), prefix: [], items: ANY_REF, min: 0, max: Infinity },
    FREE_STRING,
    { kind: "number", id: newNodeId(), spec: numberSpec(false, -Infinity, false, Infinity, false)! },
    { kind: "literal", id: newNodeId(), table: new ByteTable(["true", "false", "null"]) },
  ],
};
ANY_REF.target = ANY_NODE;

/** Output nesting of the grammars below (json_object, any value). */
const DEFAULT_DEPTH = 32;

/** Any JSON value. */
export const ANY_VALUE: SchemaNode = new Grammar(ANY_NODE, DEFAULT_DEPTH, 0);
/** `response_format: {type: "json_object"}`: an object with any keys and values. */
export const ANY_OBJECT: SchemaNode = new Grammar(ANY_MAP, DEFAULT_DEPTH, 0);

/**
 * Checks a schema's size and nesting without recursion (a 100k-deep `const` must be a clear
 * error, not a stack overflow) and hashes a canonical form of it (object keys sorted, strings
 * length-prefixed) without building it: two 32-bit lanes plus the length, the key of the
 * compiled-schema cache.
 */
export function* schemaKeySteps(schema: unknown, param: string, limits: ConstraintLimits = DEFAULT_LIMITS): Generator<void, string> {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  let length = 0;
  const add = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    length += text.length;
    if (length > limits.maxSchemaBytes)
      throw new SchemaLimitError(param, "maxSchemaBytes", `the schema is larger than ${limits.maxSchemaBytes} bytes`);
  };
  // The walk's stack: an array or object being hashed and the next element or key to visit,
  // so a 100k-value enum is not pushed onto it at once. One value is visited per work unit.
  const open: { readonly v: unknown; readonly keys: readonly string[] | null; next: number; readonly depth: number }[] = [];
  let value: unknown = schema;
  let depth = 0;
  let pending = true;
  let units = 0;
  for (;;) {
    if (++units === SLICE_UNITS) {
      units = 0;
      yield;
    }
    if (pending) {
      pending = false;
      const v = value;
      if (depth > limits.maxNesting)
        throw new SchemaLimitError(
          param,
          "maxNesting",
          `the schema (or a const/enum value in it) nests deeper than ${limits.maxNesting} levels`,
        );
      if (typeof v === "string") add(`"${v.length}:${v}`);
      else if (Array.isArray(v)) {
        add("[");
        open.push({ v, keys: null, next: 0, depth });
      } else if (isObj(v)) {
        add("{");
        open.push({ v, keys: yield* sortedSteps(Object.keys(v)), next: 0, depth });
      } else add(`${String(v)},`);
      continue;
    }
    const top = open.at(-1);
    if (!top) break;
    if (top.keys === null) {
      const list = top.v as readonly unknown[];
      if (top.next < list.length) {
        value = list[top.next++];
        depth = top.depth + 1;
        pending = true;
      } else {
        add("]");
        open.pop();
      }
    } else if (top.next < top.keys.length) {
      const k = top.keys[top.next++]!;
      add(`${k.length}:${k}`);
      value = (top.v as Obj)[k];
      depth = top.depth + 1;
      pending = true;
    } else {
      add("}");
      open.pop();
    }
  }
  return `${(h1 >>> 0).toString(36)}${(h2 >>> 0).toString(36)}:${length}`;
}

/** The compilation as a generator: it yields between slices of work. */
export function* compileSteps(schema: unknown, param: string, limits: ConstraintLimits = DEFAULT_LIMITS): Generator<void, Grammar> {
  if (schema === undefined || schema === true) return ANY_VALUE;
  const c = new Compiler(schema, limits);
  const root = yield* c.node(schema, param, 0);
  const depths = yield* minimumDepthSteps(root);
  const g = new Grammar(root, limits.maxRefDepth, c.bytes + c.states * 64, true, depths);
  if (g.tooDeep)
    throw new SchemaLimitError(param, "maxRefDepth", `every value of the schema nests deeper than ${limits.maxRefDepth} levels`);
  return g;
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

function timeLimit(param: string, limits: ConstraintLimits): SchemaLimitError {
  return new SchemaLimitError(param, "maxCompileMs", `compiling the schema took longer than ${limits.maxCompileMs} ms`);
}

/**
 * Compiles a JSON Schema synchronously (for the library's generate(); a server should use
 * {@link compileSchemaAsync}). `param` names where it came from in errors.
 */
export function compileSchema(schema: unknown, param: string, limits: ConstraintLimits = DEFAULT_LIMITS): SchemaNode {
  return runSync(checkedCompileSteps(schema, param, limits), param, limits);
}

function* checkedCompileSteps(schema: unknown, param: string, limits: ConstraintLimits): Generator<void, Grammar> {
  yield* schemaKeySteps(schema, param, limits);
  return yield* compileSteps(schema, param, limits);
}

export function runSync<T>(steps: Generator<void, T>, param: string, limits: ConstraintLimits): T {
  const start = now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (now() - start > limits.maxCompileMs) throw timeLimit(param, limits);
  }
}

/** Runs the steps in slices of about `sliceMs`, yielding to the event loop in between. */
export async function runAsync<T>(steps: Generator<void, T>, param: string, limits: ConstraintLimits, sliceMs = 8): Promise<T> {
  let worked = 0;
  for (;;) {
    const start = now();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      const t = now() - start;
      if (worked + t > limits.maxCompileMs) throw timeLimit(param, limits);
      if (t >= sliceMs) {
        worked += t;
        break;
      }
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
}
