/**
 * A byte-level pushdown automaton over a compiled schema (grammar_nodes.ts). A parse state is
 * a short list of threads (several only while `anyOf` options are still ambiguous); a thread
 * is an immutable stack of frames, innermost first, each frame a node plus a few integers:
 *
 *   ROOT  p: 0 before the value, 1 done             OBJ  p: next property i * 8 + phase
 *   KEY   x..y: keys still possible, z: bytes read  MAP  p: phase
 *   ARR   p: phase, x: elements so far (capped)     STR  p: UTF-8/escape phase, x: length, y: regex state
 *   NUM   p: phase, x: digits, y: magnitude, z: sign LIT  x..y: texts still possible, z: bytes read
 *   SEQ   p: next item
 *
 * A frame's parent is the state its container resumes in once the frame's value ends, so
 * closing a value is "continue with the parent". Frames are interned on demand
 * ({@link Grammar.stateKey}): a state's key is a few integers whatever the depth, which is
 * what makes the per-state mask cache O(1) per token.
 *
 * Whitespace is allowed where JSON allows it (none after the top-level value) and leaves the
 * state unchanged, so it costs no mask computation; the length of a run is bounded by the
 * constraint (json_constraint.ts), not by the state. Containers nest at most `maxDepth` deep.
 */
import {
  type GNode,
  type NumberNode,
  type ObjectNode,
  type StringNode,
  type ArrayNode,
  type MapNode,
  type SeqNode,
  deref,
  newNodeId,
} from "./grammar_nodes.js";
import { ByteTable } from "./byte_table.js";
import { MAX_EXPONENT_DIGITS, MAX_FRACTION_DIGITS, digitFits, feasible, magnitudeKey, type Side } from "./number_range.js";

/** Threads kept at once (ambiguous anyOf options); more are dropped. */
const MAX_THREADS = 32;
/** Interned frames kept per grammar before the table is cleared (masks then recompute). */
const MAX_INTERNED = 1 << 16;

export const Tag = { Root: 0, Obj: 1, Key: 2, Map: 3, Arr: 4, Str: 5, Num: 6, Lit: 7, Seq: 8 } as const;
export type Tag = (typeof Tag)[keyof typeof Tag];

// Object / map phases (low 3 bits of p for objects).
const OPEN = 0;
const AFTER = 1;
const COMMA = 2;
const COLON = 3;
const VALUE = 4;

// Number phases.
const SIGN = 1;
const INT = 2;
const DOT = 3;
const FRAC = 4;
const EXP_E = 5;
const EXP_SIGN = 6;
const EXP = 7;

// String phases.
const S_NORMAL = 0;
const S_ESC = 1;
const S_HEX = 2; // 2..5: hex digits read = p - 2
const S_C2 = 10; // after a 2-byte lead
const S_C3A = 11; // after a 3-byte lead
const S_C3B = 12;
const S_C4A = 13; // after a 4-byte lead
const S_C4B = 14;
const S_C4C = 15;

export class Frame {
  /** Interned id and the intern generation it belongs to. */
  id = -1;
  gen = -1;
  constructor(
    readonly parent: Frame | null,
    readonly tag: Tag,
    readonly node: GNode,
    readonly p: number,
    readonly x: number,
    readonly y: number,
    readonly z: number,
    readonly depth: number,
  ) {}
}

/** Where a detached string returns when it closes: a finished document that takes no byte. */
const DETACHED_NODE: GNode = { kind: "literal", id: newNodeId(), table: new ByteTable([""]) };
const DETACHED = new Frame(null, Tag.Root, DETACHED_NODE, 1, 0, 0, 0, 0);

/** A parse state: the live threads (usually one). */
export type ParseState = readonly Frame[];

function moved(f: Frame, p: number, x = f.x, y = f.y, z = f.z): Frame {
  return new Frame(f.parent, f.tag, f.node, p, x, y, z, f.depth);
}

const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

const NARROW = { lo: 0, hi: 0 };

/** A compiled grammar: its root node plus the intern table of its frames. */
export class Grammar {
  private static nextUid = 1;
  readonly uid = Grammar.nextUid++;
  private ids = new Map<string, number>();
  private gen = 0;
  /** Fewest nested containers a value of each node needs (see {@link minimumDepthSteps}). */
  private readonly depthNeeded: Map<GNode, number>;

  constructor(
    readonly root: GNode,
    /** Containers nest at most this deep in the output. */
    readonly maxDepth: number,
    /** Approximate heap bytes of the compiled form, for cache accounting. */
    readonly bytes: number,
    /** Whitespace may lead a JSON document, not a raw sequence (a tool call starts with its tag). */
    readonly leadingWhitespace = true,
    depths?: Map<GNode, number>,
  ) {
    this.depthNeeded = depths ?? runToEnd(minimumDepthSteps(root));
  }

  /** Whether a value of `node` can start (and finish) inside a container at `depth`. */
  fits(depth: number, node: GNode): boolean {
    return depth + (this.depthNeeded.get(node) ?? 0) <= this.maxDepth;
  }

  /** True when the document needs more nesting than allowed (a schema no output can satisfy). */
  get tooDeep(): boolean {
    return !this.fits(0, this.root);
  }

  initial(): ParseState {
    return [new Frame(null, Tag.Root, this.root, 0, 0, 0, 0, 0)];
  }

  /** The state after one byte, or null when the byte is refused. */
  step(state: ParseState, b: number): ParseState | null {
    const out: Frame[] = [];
    for (const f of state) stepFrame(this, f, b, out);
    if (out.length === 0) return null;
    return out.length === 1 ? out : this.dedupe(out);
  }

  /** The state after several bytes; null as soon as one is refused. */
  stepBytes(state: ParseState | null, bytes: ArrayLike<number>): ParseState | null {
    for (let i = 0; i < bytes.length && state; i++) state = this.step(state, bytes[i]!);
    return state;
  }

  /** True when the text so far is a complete document (end of sequence allowed). */
  complete(state: ParseState): boolean {
    return state.some(endable);
  }

  /**
   * For a state inside a string (one thread): the same string detached from its container
   * (closing it ends everything) and a key naming only the string's own state. Tokens
   * without a '"' byte are accepted by both alike.
   */
  stringAlone(state: ParseState): { key: string; state: ParseState } | null {
    if (state.length !== 1 || state[0]!.tag !== Tag.Str) return null;
    const f = state[0]!;
    return {
      key: `str:${f.node.id}:${f.p}:${f.x}:${f.y}:${f.z}`,
      state: [new Frame(DETACHED, Tag.Str, f.node, f.p, f.x, f.y, f.z, f.depth)],
    };
  }

  /** True when some thread is inside a string (where whitespace is content, not layout). */
  inString(state: ParseState): boolean {
    return state.some((f) => f.tag === Tag.Str);
  }

  /** A short key: states with equal keys accept exactly the same continuations. */
  stateKey(state: ParseState): string {
    if (state.length === 1) return `${this.uid}.${this.gen}:${this.internId(state[0]!)}`;
    return `${this.uid}.${this.gen}:${state
      .map((f) => this.internId(f))
      .sort((a, b) => a - b)
      .join(",")}`;
  }

  /** Frames interned so far (for tests and accounting). */
  get internedFrames(): number {
    return this.ids.size;
  }

  private dedupe(out: Frame[]): Frame[] {
    const seen = new Set<number>();
    const kept: Frame[] = [];
    for (const f of out) {
      const id = this.internId(f);
      if (seen.has(id)) continue;
      seen.add(id);
      kept.push(f);
      if (kept.length === MAX_THREADS) break;
    }
    return kept;
  }

  private internId(f: Frame): number {
    if (f.gen === this.gen) return f.id;
    if (this.ids.size >= MAX_INTERNED) {
      this.ids = new Map();
      this.gen++;
    }
    const parent = f.parent ? this.internId(f.parent) : 0;
    const key = `${parent}:${f.tag}:${f.node.id}:${f.p}:${localKey(f)}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(key, id);
    }
    f.id = id;
    f.gen = this.gen;
    return id;
  }
}

/**
 * For every node reachable from `root`, the fewest containers a complete value of it nests
 * (a string: 0; `{"a": []}` with `a` required: 2), by fixpoint iteration since `$ref`s recurse.
 * Containers open only when their value can still finish within the depth limit, so a
 * recursive schema never writes itself into a corner at the limit.
 */
export function* minimumDepthSteps(root: GNode): Generator<void, Map<GNode, number>> {
  const nodes: GNode[] = [];
  const seen = new Set<GNode>();
  const stack: GNode[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if ((nodes.length & 4095) === 4095) yield;
    if (seen.has(n)) continue;
    seen.add(n);
    nodes.push(n);
    switch (n.kind) {
      case "object":
        stack.push(...n.values);
        break;
      case "map":
        stack.push(n.value);
        break;
      case "array":
        stack.push(...n.prefix, n.items);
        break;
      case "union":
        stack.push(...n.options);
        break;
      case "seq":
        stack.push(...n.items);
        break;
      case "ref":
        if (n.target) stack.push(n.target);
        break;
      default:
        break;
    }
  }
  const need = new Map<GNode, number>(nodes.map((n) => [n, Infinity]));
  const get = (n: GNode) => need.get(n) ?? Infinity;
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = 0; k < nodes.length; k++) {
      const n = nodes[k]!;
      if ((k & 4095) === 4095) yield;
      let v: number;
      switch (n.kind) {
        case "object": {
          v = 1;
          for (let i = n.nextRequired[0]!; i < n.n; i = n.nextRequired[i + 1]!) v = Math.max(v, 1 + get(n.values[i]!));
          break;
        }
        case "map":
          v = 1;
          break;
        case "array": {
          v = 1;
          for (let i = 0; i < n.min; i++) v = Math.max(v, 1 + get(i < n.prefix.length ? n.prefix[i]! : n.items));
          break;
        }
        case "union":
          v = Math.min(...n.options.map(get));
          break;
        case "seq":
          v = Math.max(0, ...n.items.map(get));
          break;
        case "ref":
          v = n.target ? get(n.target) : Infinity;
          break;
        default:
          v = 0;
      }
      if (v < get(n)) {
        need.set(n, v);
        changed = true;
      }
    }
  }
  return need;
}

function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** The part of a frame's key beyond its node and phase (canonical where values differ but futures do not). */
function localKey(f: Frame): string {
  if (f.tag === Tag.Num) {
    if (f.p === INT) {
      const spec = (f.node as NumberNode).spec;
      return `${f.z}/${magnitudeKey(f.y, f.x, (f.z ? spec.negative : spec.positive)!)}`;
    }
    return f.p === SIGN ? "" : String(f.x);
  }
  return `${f.x},${f.y},${f.z}`;
}

function withWs(f: Frame, out: Frame[]): void {
  out.push(f);
}

function endable(f: Frame): boolean {
  switch (f.tag) {
    case Tag.Root:
      return f.p === 1;
    case Tag.Num:
      return numberCanEnd(f) && endable(f.parent!);
    case Tag.Lit:
      return (f.node as { table: ByteTable }).table.completeAt(f.x, f.z) && endable(f.parent!);
    default:
      return false;
  }
}

/** Starts a value of schema `node` with byte b; `after` is where the container resumes once it ends. */
function expectValue(g: Grammar, after: Frame, node: GNode, b: number, out: Frame[]): void {
  const n = deref(node);
  switch (n.kind) {
    case "union":
      for (const o of n.options) expectValue(g, after, o, b, out);
      return;
    case "object":
    case "map":
      if (b === 0x7b && g.fits(after.depth, n))
        out.push(new Frame(after, n.kind === "object" ? Tag.Obj : Tag.Map, n, OPEN, 0, 0, 0, after.depth + 1));
      return;
    case "array":
      if (b === 0x5b && g.fits(after.depth, n)) out.push(new Frame(after, Tag.Arr, n, OPEN, 0, 0, 0, after.depth + 1));
      return;
    case "string":
      if (b === 0x22) out.push(new Frame(after, Tag.Str, n, S_NORMAL, 0, n.regex ? n.regex.startId : -1, 0, after.depth));
      return;
    case "number":
      startNumber(after, n, b, out);
      return;
    case "literal":
    case "raw": {
      const t = n.table;
      if (!t.narrow(0, t.size, 0, b, NARROW)) return;
      if (NARROW.hi - NARROW.lo === 1 && t.completeAt(NARROW.lo, 1)) out.push(after);
      else out.push(new Frame(after, Tag.Lit, n, 0, NARROW.lo, NARROW.hi, 1, after.depth));
      return;
    }
    case "seq":
      stepFrame(g, new Frame(after, Tag.Seq, n, 0, 0, 0, 0, after.depth), b, out);
      return;
    case "ref":
      return; // deref never returns a ref
  }
}

function stepFrame(g: Grammar, f: Frame, b: number, out: Frame[]): void {
  switch (f.tag) {
    case Tag.Root:
      if (f.p === 0) {
        if (isWs(b) && g.leadingWhitespace) withWs(f, out);
        else expectValue(g, moved(f, 1), f.node, b, out);
      }
      return;
    case Tag.Obj:
      stepObject(g, f, b, out);
      return;
    case Tag.Key:
      stepKey(f, b, out);
      return;
    case Tag.Map:
      stepMap(g, f, b, out);
      return;
    case Tag.Arr:
      stepArray(g, f, b, out);
      return;
    case Tag.Str:
      stepString(f, b, out);
      return;
    case Tag.Num:
      stepNumber(g, f, b, out);
      return;
    case Tag.Lit: {
      const t = (f.node as { table: ByteTable }).table;
      if (t.narrow(f.x, f.y, f.z, b, NARROW)) {
        if (NARROW.hi - NARROW.lo === 1 && t.completeAt(NARROW.lo, f.z + 1)) out.push(f.parent!);
        else out.push(new Frame(f.parent, Tag.Lit, f.node, 0, NARROW.lo, NARROW.hi, f.z + 1, f.depth));
      } else if (t.completeAt(f.x, f.z)) {
        // A complete text that others extend (enum 1 and 12) ends on a byte none of them takes.
        stepFrame(g, f.parent!, b, out);
      }
      return;
    }
    case Tag.Seq: {
      const node = f.node as SeqNode;
      const item = deref(node.items[f.p]!);
      const after = f.p + 1 < node.items.length ? moved(f, f.p + 1) : f.parent!;
      if (item.kind !== "raw" && isWs(b)) withWs(f, out);
      else expectValue(g, after, item, b, out);
      return;
    }
  }
}

function stepObject(g: Grammar, f: Frame, b: number, out: Frame[]): void {
  const node = f.node as ObjectNode;
  const phase = f.p & 7;
  const i = f.p >> 3;
  if (isWs(b)) return withWs(f, out);
  switch (phase) {
    case OPEN:
    case COMMA:
      if (b === 0x22 && i < node.n) {
        const t = node.segments[node.segmentOf[i]!]!;
        if (t.narrow(0, t.size, 0, b, NARROW) && t.maxPayload(NARROW.lo, NARROW.hi) >= i)
          out.push(new Frame(f, Tag.Key, node, i, NARROW.lo, NARROW.hi, 1, f.depth));
      } else if (phase === OPEN && b === 0x7d && node.nextRequired[0]! >= node.n) out.push(f.parent!);
      return;
    case AFTER:
      if (b === 0x2c && i < node.n) out.push(moved(f, (i << 3) | COMMA));
      else if (b === 0x7d && node.nextRequired[i]! >= node.n) out.push(f.parent!);
      return;
    case COLON:
      if (b === 0x3a) out.push(moved(f, (i << 3) | VALUE));
      return;
    case VALUE:
      expectValue(g, moved(f, ((i + 1) << 3) | AFTER), node.values[i]!, b, out);
      return;
  }
}

function stepKey(f: Frame, b: number, out: Frame[]): void {
  const node = f.node as ObjectNode;
  const t = node.segments[node.segmentOf[f.p]!]!;
  if (!t.narrow(f.x, f.y, f.z, b, NARROW) || t.maxPayload(NARROW.lo, NARROW.hi) < f.p) return;
  if (t.completeAt(NARROW.lo, f.z + 1)) {
    // Keys end with their closing quote, so a complete key is the only one left.
    out.push(moved(f.parent!, (t.payload[NARROW.lo]! << 3) | COLON));
  } else out.push(new Frame(f.parent, Tag.Key, node, f.p, NARROW.lo, NARROW.hi, f.z + 1, f.depth));
}

function stepMap(g: Grammar, f: Frame, b: number, out: Frame[]): void {
  const node = f.node as MapNode;
  if (isWs(b)) return withWs(f, out);
  switch (f.p) {
    case OPEN:
    case COMMA:
      if (b === 0x22 && g.fits(f.depth, node.value)) out.push(new Frame(moved(f, COLON), Tag.Str, node.key, S_NORMAL, 0, -1, 0, f.depth));
      else if (f.p === OPEN && b === 0x7d) out.push(f.parent!);
      return;
    case AFTER:
      if (b === 0x2c && g.fits(f.depth, node.value)) out.push(moved(f, COMMA));
      else if (b === 0x7d) out.push(f.parent!);
      return;
    case COLON:
      if (b === 0x3a) out.push(moved(f, VALUE));
      return;
    case VALUE:
      expectValue(g, moved(f, AFTER), node.value, b, out);
      return;
  }
}

/** Element counts are kept exactly up to this (beyond it nothing depends on the count). */
function countCap(a: ArrayNode): number {
  return a.max !== Infinity ? a.max : Math.max(a.min, a.prefix.length);
}

function stepArray(g: Grammar, f: Frame, b: number, out: Frame[]): void {
  const node = f.node as ArrayNode;
  if (isWs(b)) return withWs(f, out);
  const item = (c: number) => (c < node.prefix.length ? node.prefix[c]! : node.items);
  const count = f.x;
  switch (f.p) {
    case OPEN:
      if (b === 0x5d) {
        if (node.min === 0) out.push(f.parent!);
      } else if (node.max > 0) expectValue(g, moved(f, AFTER, Math.min(1, countCap(node))), item(0), b, out);
      return;
    case AFTER:
      if (b === 0x5d) {
        if (count >= node.min) out.push(f.parent!);
      } else if (b === 0x2c && count < node.max && g.fits(f.depth, item(count))) out.push(moved(f, COMMA));
      return;
    case COMMA:
      expectValue(g, moved(f, AFTER, Math.min(count + 1, countCap(node))), item(count), b, out);
      return;
  }
}

function stringCap(s: StringNode): number {
  return s.max !== Infinity ? s.max : s.min;
}

/** The regex state after one more character (code point), or -2 when its length bound or pattern refuse it. */
function afterChar(f: Frame, cp: number): number {
  const s = f.node as StringNode;
  if (f.x >= s.max) return -2;
  if (!s.regex) return -1;
  const dfa = s.regex.step(f.y, cp);
  return dfa < 0 || s.regex.distance(dfa) > s.max - f.x - 1 ? -2 : dfa;
}

const canAdd = (f: Frame, cp: number) => afterChar(f, cp) !== -2;

function addChar(f: Frame, cp: number, out: Frame[]): void {
  const dfa = afterChar(f, cp);
  if (dfa !== -2) out.push(moved(f, S_NORMAL, Math.min(f.x + 1, stringCap(f.node as StringNode)), dfa, 0));
}

/** Before a multi-byte character completes: can some code point in [lo, hi] still be added? */
function roomFor(f: Frame, lo: number, hi: number): boolean {
  const s = f.node as StringNode;
  if (f.x >= s.max) return false;
  return !s.regex || s.regex.anyInRange(f.y, lo, hi, s.max - f.x - 1);
}

/** The character each JSON escape letter (`\"`, `\n`, ...) stands for. */
const ESCAPES = new Map<number, number>([
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x2f, 0x2f],
  [0x62, 0x08],
  [0x66, 0x0c],
  [0x6e, 0x0a],
  [0x72, 0x0d],
  [0x74, 0x09],
]);
const ESCAPED = [...ESCAPES.values()];

function stepString(f: Frame, b: number, out: Frame[]): void {
  const s = f.node as StringNode;
  const exact = s.regex !== null; // code point values matter only to a pattern
  switch (f.p) {
    case S_NORMAL:
      if (b === 0x22) {
        if (f.x >= s.min && (!s.regex || s.regex.accepting(f.y))) out.push(f.parent!);
      } else if (b === 0x5c) {
        if (f.x < s.max && (!s.regex || ESCAPED.some((cp) => canAdd(f, cp)))) out.push(moved(f, S_ESC));
      } else if (b < 0x20) return;
      else if (b < 0x80) addChar(f, b, out);
      else if (b >= 0xc2 && b <= 0xdf) {
        const lo = (b & 0x1f) << 6;
        if (roomFor(f, lo, lo | 0x3f)) out.push(moved(f, S_C2, f.x, f.y, exact ? b & 0x1f : 0));
      } else if (b >= 0xe0 && b <= 0xef) {
        const lo = (b & 0x0f) << 12;
        if (roomFor(f, Math.max(lo, 0x800), lo | 0xfff)) out.push(moved(f, S_C3A, f.x, f.y, b & 0x0f));
      } else if (b >= 0xf0 && b <= 0xf4) {
        const lo = (b & 0x07) << 18;
        if (roomFor(f, Math.max(lo, 0x10000), Math.min(lo | 0x3ffff, 0x10ffff))) out.push(moved(f, S_C4A, f.x, f.y, b & 0x07));
      }
      return;
    case S_ESC: {
      const cp = ESCAPES.get(b);
      if (cp !== undefined) addChar(moved(f, S_NORMAL), cp, out);
      else if (b === 0x75 && !exact) out.push(moved(f, S_HEX));
      return;
    }
    case S_HEX:
    case S_HEX + 1:
    case S_HEX + 2:
      if (isHex(b)) out.push(moved(f, f.p + 1));
      return;
    case S_HEX + 3:
      if (isHex(b)) addChar(moved(f, S_NORMAL), 0, out);
      return;
  }
  // UTF-8 continuation bytes.
  if (b < 0x80 || b > 0xbf) return;
  const bits = b & 0x3f;
  switch (f.p) {
    case S_C2:
      addChar(moved(f, S_NORMAL), (f.z << 6) | bits, out);
      return;
    case S_C3A: {
      if ((f.z === 0 && b < 0xa0) || (f.z === 0x0d && b > 0x9f)) return; // overlong, surrogate
      const part = (f.z << 6) | bits;
      if (roomFor(f, part << 6, (part << 6) | 0x3f)) out.push(moved(f, S_C3B, f.x, f.y, exact ? part : 0));
      return;
    }
    case S_C3B:
      addChar(moved(f, S_NORMAL), (f.z << 6) | bits, out);
      return;
    case S_C4A: {
      if ((f.z === 0 && b < 0x90) || (f.z === 4 && b > 0x8f)) return;
      const part = (f.z << 6) | bits;
      if (roomFor(f, part << 12, (part << 12) | 0xfff)) out.push(moved(f, S_C4B, f.x, f.y, exact ? part : 0));
      return;
    }
    case S_C4B: {
      const part = (f.z << 6) | bits;
      if (roomFor(f, part << 6, (part << 6) | 0x3f)) out.push(moved(f, S_C4C, f.x, f.y, exact ? part : 0));
      return;
    }
    case S_C4C:
      addChar(moved(f, S_NORMAL), (f.z << 6) | bits, out);
      return;
  }
}

function sideOf(f: Frame): Side {
  const spec = (f.node as NumberNode).spec;
  return (f.z ? spec.negative : spec.positive)!;
}

function startNumber(after: Frame, n: NumberNode, b: number, out: Frame[]): void {
  const spec = n.spec;
  if (b === 0x2d) {
    if (spec.negative) out.push(new Frame(after, Tag.Num, n, SIGN, 0, 0, 1, after.depth));
  } else if (isDigit(b) && spec.positive && feasible(b - 0x30, 1, spec.positive))
    out.push(new Frame(after, Tag.Num, n, INT, 1, b - 0x30, 0, after.depth));
}

function numberCanEnd(f: Frame): boolean {
  if (f.p === INT) {
    const s = sideOf(f);
    return f.y >= s.endLo && f.y <= s.endHi;
  }
  return f.p === FRAC || f.p === EXP;
}

function stepNumber(g: Grammar, f: Frame, b: number, out: Frame[]): void {
  const spec = (f.node as NumberNode).spec;
  const digit = isDigit(b);
  switch (f.p) {
    case SIGN:
      if (digit && feasible(b - 0x30, 1, sideOf(f))) out.push(moved(f, INT, 1, b - 0x30));
      return;
    case INT: {
      const s = sideOf(f);
      if (digit) {
        const d = b - 0x30;
        if (f.y !== 0 && digitFits(f.y, d, s.hi) && feasible(f.y * 10 + d, f.x + 1, s)) out.push(moved(f, INT, f.x + 1, f.y * 10 + d));
        return;
      }
      if (b === 0x2e) {
        if (!spec.integer && f.y >= s.fracLo && f.y <= s.fracHi) out.push(moved(f, DOT, 0, 0));
        return;
      }
      if ((b === 0x65 || b === 0x45) && spec.exponent) {
        out.push(moved(f, EXP_E, 0, 0));
        return;
      }
      break;
    }
    case DOT:
      if (digit) out.push(moved(f, FRAC, 1, 0));
      return;
    case FRAC:
      if (digit) {
        if (f.x < MAX_FRACTION_DIGITS) out.push(moved(f, FRAC, f.x + 1, 0));
        return;
      }
      if ((b === 0x65 || b === 0x45) && spec.exponent) {
        out.push(moved(f, EXP_E, 0, 0));
        return;
      }
      break;
    case EXP_E:
      if (b === 0x2b || b === 0x2d) out.push(moved(f, EXP_SIGN, 0, 0));
      else if (digit) out.push(moved(f, EXP, 1, 0));
      return;
    case EXP_SIGN:
      if (digit) out.push(moved(f, EXP, 1, 0));
      return;
    case EXP:
      if (digit) {
        if (f.x < MAX_EXPONENT_DIGITS) out.push(moved(f, EXP, f.x + 1, 0));
        return;
      }
      break;
  }
  // Any other byte ends the number (where it may end) and belongs to the container.
  if (numberCanEnd(f)) stepFrame(g, f.parent!, b, out);
}
