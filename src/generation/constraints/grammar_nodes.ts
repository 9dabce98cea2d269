/**
 * The compiled form of a JSON schema (or of the tool-call grammar): a graph of small nodes
 * that the byte-level pushdown automaton of json_grammar.ts walks. Compilation
 * (json_schema.ts) does all the work that depends on the schema's size once: enum values and
 * keys become sorted {@link ByteTable}s, patterns become lazily determinised automata,
 * numeric bounds become per-side magnitude sets. Stepping a byte then costs O(1) or
 * O(log entries), whatever the schema's size.
 */
import type { ByteTable } from "./byte_table.js";
import type { NumberSpec } from "./number_range.js";
import type { Regex } from "./regex.js";

/** An object with listed properties, written in the order given (as OpenAI's structured outputs do). */
export interface ObjectNode {
  readonly kind: "object";
  readonly id: number;
  /** Number of properties. */
  readonly n: number;
  /** Value schema of property i. */
  readonly values: readonly GNode[];
  /**
   * Keys (JSON-quoted, as bytes) grouped in segments that end at each required property: from
   * position i the next key is one of properties i..(next required), i.e. a suffix of i's segment.
   */
  readonly segments: readonly ByteTable[];
  /** Segment of property i. */
  readonly segmentOf: Int32Array;
  /** Index of the first required property ≥ i (n when none), [n + 1]. */
  readonly nextRequired: Int32Array;
}

/** An object with any keys (`additionalProperties` is the value schema). */
export interface MapNode {
  readonly kind: "map";
  readonly id: number;
  readonly value: GNode;
  readonly key: StringNode;
}

export interface ArrayNode {
  readonly kind: "array";
  readonly id: number;
  /** Schemas of the first elements (`prefixItems`). */
  readonly prefix: readonly GNode[];
  /** Schema of every later element. */
  readonly items: GNode;
  readonly min: number;
  readonly max: number;
}

export interface StringNode {
  readonly kind: "string";
  readonly id: number;
  /** Length bounds in code points. */
  readonly min: number;
  readonly max: number;
  readonly regex: Regex | null;
}

export interface NumberNode {
  readonly kind: "number";
  readonly id: number;
  readonly spec: NumberSpec;
}

/** One of several JSON texts (enum, const, booleans, null), written exactly (compact JSON). */
export interface LiteralNode {
  readonly kind: "literal";
  readonly id: number;
  readonly table: ByteTable;
}

/** Raw bytes with no JSON around them (the tool-call head and tail). */
export interface RawNode {
  readonly kind: "raw";
  readonly id: number;
  readonly table: ByteTable;
}

/** Any of the options (anyOf, oneOf, a list of types); parsed as parallel threads. */
export interface UnionNode {
  readonly kind: "union";
  readonly id: number;
  readonly options: readonly GNode[];
}

/** The items one after another (raw texts and values), e.g. a tool call. */
export interface SeqNode {
  readonly kind: "seq";
  readonly id: number;
  readonly items: readonly GNode[];
}

/** A `$ref`, resolved once the target is compiled (recursive schemas point back up). */
export interface RefNode {
  readonly kind: "ref";
  readonly id: number;
  target: GNode | null;
}

export type GNode = ObjectNode | MapNode | ArrayNode | StringNode | NumberNode | LiteralNode | RawNode | UnionNode | SeqNode | RefNode;

/** Node ids are unique in the process, so states of different schemas never share a key. */
let nextNodeId = 1;
export function newNodeId(): number {
  return nextNodeId++;
}

export function deref(n: GNode): GNode {
  let guard = 0;
  while (n.kind === "ref") {
    if (!n.target || ++guard > 1000) throw new Error("unresolved $ref in a compiled schema");
    n = n.target;
  }
  return n;
}
