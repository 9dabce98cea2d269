/**
 * A byte-level JSON grammar (a pushdown automaton) driven by a compiled schema. States are
 * immutable, so a token's bytes can be tried from a shared prefix state without copying,
 * and each state has a string key, so the set of tokens allowed in a state is computed
 * once and cached (json_constraint.ts).
 *
 * Limits that keep every answer finite and the state space small: nesting depth 16,
 * at most 4 whitespace bytes in a row, numbers of at most 24 characters. After the
 * top-level value nothing but the end of the sequence is allowed.
 */
import type { SchemaNode } from "./json_schema.js";
import { ANY_VALUE } from "./json_schema.js";

const MAX_DEPTH = 16;
const MAX_WS = 4;
const MAX_NUMBER = 24;

// A plain object rather than a const enum: const enums do not survive bundlers.
export const Mode = {
  Value: 0, // expecting a value (node)
  Str: 1, // inside a string value or free key
  Num: 2, // inside a number
  Lit: 3, // inside one of several literal texts (enum, const, true/false/null, restricted keys)
  ObjOpen: 4, // after '{'
  ObjKey: 5, // after ','
  ObjColon: 6, // after a key
  ObjNext: 7, // after a member value
  ArrOpen: 8, // after '['
  ArrNext: 9, // after an element
  Done: 10, // the top-level value is complete
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

// Number sub-states (a plain object too).
export const N = {
  Minus: 0,
  Zero: 1,
  Int: 2,
  Dot: 3,
  Frac: 4,
  E: 5,
  ESign: 6,
  Exp: 7,
} as const;
export type N = (typeof N)[keyof typeof N];

/** An open object or array, as a persistent linked list (innermost first). */
interface Frame {
  readonly kind: "obj" | "arr";
  readonly node: SchemaNode;
  /** Keys already written (objects). */
  readonly seen: readonly string[];
  readonly parent: Frame | null;
  readonly depth: number;
}

interface Literal {
  /** Candidate texts as bytes, all sharing the `pos` bytes consumed so far. */
  readonly cands: readonly Uint8Array[];
  readonly pos: number;
  /** For a key literal: the texts' keys, same order as cands. */
  readonly keys: readonly string[] | null;
}

export class JsonState {
  private keyCache: string | null = null;
  /** Str states: the other escape/UTF-8 states of the same string, shared (index = a). */
  siblings: JsonState[] | null = null;
  constructor(
    readonly mode: Mode,
    readonly frame: Frame | null,
    /** Value schema (Value, Str, Num, Lit) or 0. */
    readonly node: SchemaNode | null,
    /** Mode-specific: number sub-state and length; string escape/UTF-8 state; whitespace run. */
    readonly a: number,
    readonly b: number,
    readonly lit: Literal | null,
    /** A string that is an object key (Str) or key literal (Lit). */
    readonly isKey: boolean,
  ) {}

  /** Identifies the state for caching: equal keys accept exactly the same continuations. */
  get key(): string {
    if (this.keyCache !== null) return this.keyCache;
    let k = `${this.mode},${this.node?.id ?? 0},${this.a},${this.b},${this.isKey ? 1 : 0}`;
    if (this.lit) k += `|${this.lit.pos}:${this.lit.cands.map((c) => Buffer.from(c).toString("latin1")).join("\u0001")}`;
    for (let f = this.frame; f; f = f.parent) k += `/${f.kind}${f.node.id}${f.kind === "obj" ? ":" + f.seen.join("\u0001") : ""}`;
    this.keyCache = k;
    return k;
  }

  /** True when the text so far is a complete JSON document. */
  get complete(): boolean {
    if (this.mode === Mode.Done) return true;
    if (this.frame !== null) return false;
    if (this.mode === Mode.Num) return numberCanEnd(this.a);
    if (this.mode === Mode.Lit) return literalComplete(this.lit!);
    return false;
  }
}

const enc = new TextEncoder();

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function numberCanEnd(sub: number): boolean {
  return sub === N.Zero || sub === N.Int || sub === N.Frac || sub === N.Exp;
}

function literalComplete(lit: Literal): boolean {
  return lit.cands.some((c) => c.length === lit.pos);
}

/** The start state for a document of the given schema. */
export function initialState(root: SchemaNode = ANY_VALUE): JsonState {
  return new JsonState(Mode.Value, null, root, 0, 0, null, false);
}

/** After a value ends: back to the enclosing container, or done. */
function afterValue(frame: Frame | null): JsonState {
  if (frame === null) return new JsonState(Mode.Done, null, null, 0, 0, null, false);
  return new JsonState(frame.kind === "obj" ? Mode.ObjNext : Mode.ArrNext, frame, null, 0, 0, null, false);
}

function remainingKeys(frame: Frame): string[] {
  const props = frame.node.properties!;
  return [...props.keys()].filter((k) => !frame.seen.includes(k));
}

function requiredMet(frame: Frame): boolean {
  return frame.node.required.every((k) => frame.seen.includes(k));
}

function literalState(
  texts: readonly string[],
  pos: number,
  first: number,
  frame: Frame | null,
  node: SchemaNode | null,
  keys: readonly string[] | null,
): JsonState | null {
  const cands: Uint8Array[] = [];
  const keep: string[] = [];
  texts.forEach((t, i) => {
    const bytes = enc.encode(t);
    if (bytes[0] === first) {
      cands.push(bytes);
      if (keys) keep.push(keys[i]!);
    }
  });
  if (cands.length === 0) return null;
  return settleLiteral(new JsonState(Mode.Lit, frame, node, 0, 0, { cands, pos, keys: keys ? keep : null }, keys !== null));
}

/** A literal whose only candidate is fully matched ends right away (keys go to the colon). */
function settleLiteral(s: JsonState): JsonState {
  const lit = s.lit!;
  if (lit.cands.length === 1 && lit.cands[0]!.length === lit.pos) return endLiteral(s, 0);
  return s;
}

function endLiteral(s: JsonState, index: number): JsonState {
  const lit = s.lit!;
  if (s.isKey) {
    const f = s.frame!;
    const key = lit.keys![index]!;
    const frame: Frame = { ...f, seen: [...f.seen, key] };
    return new JsonState(Mode.ObjColon, frame, f.node.properties!.get(key) ?? ANY_VALUE, 0, 0, null, false);
  }
  return afterValue(s.frame);
}

function startValue(s: JsonState, b: number): JsonState | null {
  const n = s.node ?? ANY_VALUE;
  const frame = s.frame;
  if (n.literals) return literalState(n.literals, 1, b, frame, n, null);
  const depth = frame ? frame.depth : 0;
  switch (b) {
    case 0x7b: // {
      if (!n.types.has("object") || depth >= MAX_DEPTH) return null;
      return new JsonState(Mode.ObjOpen, { kind: "obj", node: n, seen: [], parent: frame, depth: depth + 1 }, null, 0, 0, null, false);
    case 0x5b: // [
      if (!n.types.has("array") || depth >= MAX_DEPTH) return null;
      return new JsonState(Mode.ArrOpen, { kind: "arr", node: n, seen: [], parent: frame, depth: depth + 1 }, null, 0, 0, null, false);
    case 0x22: // "
      return n.types.has("string") ? new JsonState(Mode.Str, frame, n, 0, 0, null, false) : null;
    case 0x74: // t
    case 0x66: // f
      return n.types.has("boolean") ? literalState(["true", "false"], 1, b, frame, n, null) : null;
    case 0x6e: // n
      return n.types.has("null") ? literalState(["null"], 1, b, frame, n, null) : null;
  }
  if (b === 0x2d || isDigit(b)) {
    if (!n.types.has("number") && !n.types.has("integer")) return null;
    return new JsonState(Mode.Num, frame, n, b === 0x2d ? N.Minus : b === 0x30 ? N.Zero : N.Int, 1, null, false);
  }
  return null;
}

function startKey(frame: Frame, b: number): JsonState | null {
  if (b !== 0x22) return null;
  if (frame.node.properties) {
    const keys = remainingKeys(frame);
    return literalState(
      keys.map((k) => JSON.stringify(k)),
      1,
      b,
      frame,
      null,
      keys,
    );
  }
  return new JsonState(Mode.Str, frame, null, 0, 0, null, true);
}

function ws(s: JsonState, _b: number): JsonState | null {
  if (s.a >= MAX_WS) return null;
  return new JsonState(s.mode, s.frame, s.node, s.a + 1, 0, s.lit, s.isKey);
}

function closeContainer(frame: Frame): JsonState {
  return afterValue(frame.parent);
}

function stepString(s: JsonState, b: number): JsonState | null {
  // a: 0 plain, 1 after '\', 2-5 hex digits left (a-1), 10+n: n UTF-8 continuation bytes left.
  const st = s.a;
  // The states of one string are shared, so walking a string allocates nothing.
  const sib = (s.siblings ??= []);
  sib[st] ??= s;
  const next = (a: number): JsonState => {
    if (a === st) return s;
    let t = sib[a];
    if (!t) {
      t = new JsonState(Mode.Str, s.frame, s.node, a, 0, null, s.isKey);
      t.siblings = sib;
      sib[a] = t;
    }
    return t;
  };
  if (st >= 10) return b >= 0x80 && b <= 0xbf ? next(st === 11 ? 0 : st - 1) : null;
  if (st === 1) {
    if (b === 0x75) return next(5); // \u: four hex digits
    return '"\\/bfnrt'.includes(String.fromCharCode(b)) ? next(0) : null;
  }
  if (st >= 2) {
    const hex = isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
    return hex ? next(st === 2 ? 0 : st - 1) : null;
  }
  if (b === 0x22) {
    if (s.isKey) return new JsonState(Mode.ObjColon, s.frame, ANY_VALUE, 0, 0, null, false);
    return afterValue(s.frame);
  }
  if (b === 0x5c) return next(1);
  if (b < 0x20) return null;
  if (b < 0x80) return next(0);
  if (b >= 0xc2 && b <= 0xdf) return next(11);
  if (b >= 0xe0 && b <= 0xef) return next(12);
  if (b >= 0xf0 && b <= 0xf4) return next(13);
  return null;
}

function stepNumber(s: JsonState, b: number): JsonState | null {
  const sub = s.a as N;
  const integer = !(s.node ?? ANY_VALUE).types.has("number");
  let to: N | -1 = -1;
  if (isDigit(b)) {
    if (sub === N.Minus) to = b === 0x30 ? N.Zero : N.Int;
    else if (sub === N.Int) to = N.Int;
    else if (sub === N.Dot || sub === N.Frac) to = N.Frac;
    else if (sub === N.E || sub === N.ESign || sub === N.Exp) to = N.Exp;
  } else if (b === 0x2e && !integer && (sub === N.Zero || sub === N.Int)) to = N.Dot;
  else if ((b === 0x65 || b === 0x45) && !integer && (sub === N.Zero || sub === N.Int || sub === N.Frac)) to = N.E;
  else if ((b === 0x2b || b === 0x2d) && sub === N.E) to = N.ESign;
  if (to !== -1) return s.b >= MAX_NUMBER ? null : new JsonState(Mode.Num, s.frame, s.node, to, s.b + 1, null, false);
  // Any other byte ends the number (if it may end here) and belongs to the container.
  if (!numberCanEnd(sub)) return null;
  return step(afterValue(s.frame), b);
}

function stepLiteral(s: JsonState, b: number): JsonState | null {
  const lit = s.lit!;
  const cands: Uint8Array[] = [];
  const keys: string[] = [];
  lit.cands.forEach((c, i) => {
    if (c.length > lit.pos && c[lit.pos] === b) {
      cands.push(c);
      if (lit.keys) keys.push(lit.keys[i]!);
    }
  });
  if (cands.length > 0)
    return settleLiteral(
      new JsonState(Mode.Lit, s.frame, s.node, 0, 0, { cands, pos: lit.pos + 1, keys: lit.keys ? keys : null }, s.isKey),
    );
  // A complete literal that others extend (enum 1 and 12) ends on a byte none of them takes.
  const done = lit.cands.findIndex((c) => c.length === lit.pos);
  if (done < 0) return null;
  return step(endLiteral(s, done), b);
}

/** The state after one more byte, or null when the byte is not allowed here. */
export function step(s: JsonState, b: number): JsonState | null {
  switch (s.mode) {
    case Mode.Value:
      return isWs(b) ? ws(s, b) : startValue(s, b);
    case Mode.Str:
      return stepString(s, b);
    case Mode.Num:
      return stepNumber(s, b);
    case Mode.Lit:
      return stepLiteral(s, b);
    case Mode.ObjOpen: {
      if (isWs(b)) return ws(s, b);
      const f = s.frame!;
      if (b === 0x7d) return requiredMet(f) ? closeContainer(f) : null;
      return startKey(f, b);
    }
    case Mode.ObjKey:
      return isWs(b) ? ws(s, b) : startKey(s.frame!, b);
    case Mode.ObjColon:
      if (isWs(b)) return ws(s, b);
      return b === 0x3a ? new JsonState(Mode.Value, s.frame, s.node, 0, 0, null, false) : null;
    case Mode.ObjNext: {
      if (isWs(b)) return ws(s, b);
      const f = s.frame!;
      if (b === 0x7d) return requiredMet(f) ? closeContainer(f) : null;
      if (b === 0x2c) {
        if (f.node.properties && remainingKeys(f).length === 0) return null;
        return new JsonState(Mode.ObjKey, f, null, 0, 0, null, false);
      }
      return null;
    }
    case Mode.ArrOpen: {
      if (isWs(b)) return ws(s, b);
      const f = s.frame!;
      if (b === 0x5d) return closeContainer(f);
      return startValue(new JsonState(Mode.Value, f, f.node.items ?? ANY_VALUE, 0, 0, null, false), b);
    }
    case Mode.ArrNext: {
      if (isWs(b)) return ws(s, b);
      const f = s.frame!;
      if (b === 0x5d) return closeContainer(f);
      if (b === 0x2c) return new JsonState(Mode.Value, f, f.node.items ?? ANY_VALUE, 0, 0, null, false);
      return null;
    }
    case Mode.Done:
      return null;
  }
}

/** Steps through several bytes; null as soon as one is refused. */
export function stepBytes(s: JsonState | null, bytes: Uint8Array): JsonState | null {
  for (let i = 0; i < bytes.length && s; i++) s = step(s, bytes[i]!);
  return s;
}
