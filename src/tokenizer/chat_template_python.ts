/**
 * Python semantics for @huggingface/jinja, so that chat templates render byte for byte what
 * transformers renders with Jinja2. The library is used as is; what differs is layered on
 * through its public API:
 *
 * - whitespace control (`trim_blocks`, `lstrip_blocks`, `{%+`, `+%}`) is applied here to the
 *   template source, exactly as Jinja2's lexer does, before the library tokenises it;
 * - `tojson` is Python's `json.dumps` as transformers binds it (ensure_ascii=False, insertion
 *   key order, Python's float repr, `indent`/`separators`/`sort_keys`);
 * - printed values use Python's `str()` (True, None, ['a'], {'k': 1}, 2.0);
 * - string methods take Python's arguments (`strip('\n')`, `split(None, 1)`, `find`, ...);
 * - the `is iterable/sequence/mapping/boolean` tests follow Jinja2;
 * - `break`/`continue` keep what the loop body printed before them.
 *
 * The runtime value classes are not exported by the library; they are reached through the
 * values the library itself creates (see `classes`).
 */
import { Environment, Interpreter } from "@huggingface/jinja";

/** The structural shape of the library's runtime values (its classes are not exported). */
export interface JValue {
  readonly type: string;
  value: unknown;
  toString(): string;
  __bool__(): { value: boolean };
}
type JFunction = (args: JValue[], scope: Environment) => JValue;
type Ctor = new (value?: unknown) => JValue;

/** The library's value classes, taken from values it creates. */
const classes = (() => {
  const env = new Environment();
  const make = (name: string, value: unknown): Ctor => {
    env.set(name, value);
    return (env.lookupVariable(name) as unknown as JValue).constructor as Ctor;
  };
  return {
    String: make("s", ""),
    Integer: make("i", 1),
    Boolean: make("b", true),
    Array: make("a", []),
    Function: make("fn", () => null),
  };
})();

export const str = (s: string): JValue => new classes.String(s);
export const int = (n: number): JValue => new classes.Integer(n);
const bool = (b: boolean): JValue => new classes.Boolean(b);
const fn = (f: JFunction): JValue => new classes.Function(f);

/** The library passes keyword arguments to a method as a trailing KeywordArgumentsValue. */
function splitArgs(args: JValue[]): [JValue[], Map<string, JValue>] {
  const last = args[args.length - 1];
  if (last !== undefined && last.type === "KeywordArgumentsValue") return [args.slice(0, -1), last.value as Map<string, JValue>];
  return [args, new Map()];
}

// ---------------------------------------------------------------------------------------
// Whitespace control: Jinja2's trim_blocks / lstrip_blocks applied to the source.
// ---------------------------------------------------------------------------------------

const OPENERS = ["{{", "{%", "{#"] as const;
const CLOSER: Record<string, string> = { "{{": "}}", "{%": "%}", "{#": "#}" };

/** Index just past the closer of the tag opened at `start`, skipping string literals. */
function tagEnd(src: string, start: number, opener: string): number {
  const closer = CLOSER[opener]!;
  if (opener === "{#") {
    const end = src.indexOf(closer, start + 2);
    if (end < 0) throw new SyntaxError(`chat template: comment opened at offset ${start} is never closed`);
    return end + 2;
  }
  let i = start + 2;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "'" || c === '"') {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === "\\" ? 2 : 1;
      i++;
    } else if (src.startsWith(closer, i)) {
      return i + 2;
    } else {
      i++;
    }
  }
  throw new SyntaxError(`chat template: tag opened at offset ${start} is never closed (expected "${closer}")`);
}

/**
 * Rewrites a template so that rendering it without trim_blocks/lstrip_blocks gives what
 * Jinja2 gives with both on (transformers' setting). Like Jinja2, one trailing newline of
 * the source is dropped first (keep_trailing_newline=False).
 */
export function applyJinjaWhitespace(source: string): string {
  let src = source;
  if (src.endsWith("\r\n")) src = src.slice(0, -2);
  else if (src.endsWith("\n")) src = src.slice(0, -1);
  let out = "";
  let pos = 0; // start of the pending text segment in src
  for (;;) {
    let next = -1;
    let opener = "";
    for (const o of OPENERS) {
      const at = src.indexOf(o, pos);
      if (at >= 0 && (next < 0 || at < next)) {
        next = at;
        opener = o;
      }
    }
    if (next < 0) break;
    let text = src.slice(pos, next);
    const modifier = src[next + 2];
    if (opener !== "{{" && modifier !== "+" && modifier !== "-") {
      // lstrip_blocks: drop spaces/tabs between the line start and the tag.
      const lineStart = text.lastIndexOf("\n") + 1;
      const atLineStart = lineStart > 0 || pos === 0 || src[pos - 1] === "\n";
      if (atLineStart && /^[^\S\n]+$/u.test(text.slice(lineStart))) text = text.slice(0, lineStart);
    }
    const end = tagEnd(src, next, opener);
    let tag = src.slice(next, end);
    if (modifier === "+") tag = tag.slice(0, 2) + tag.slice(3);
    let after = end;
    const closeModifier = src[end - 3];
    if (closeModifier === "+" && opener !== "{{") {
      tag = tag.slice(0, -3) + tag.slice(-2);
    } else if (opener !== "{{" && closeModifier !== "-" && src[end] === "\n") {
      after = end + 1; // trim_blocks: the first newline after a block or comment goes
    }
    out += text + tag;
    pos = after;
  }
  out += src.slice(pos);
  // The library drops one trailing newline itself; an empty comment shields ours.
  return out.endsWith("\n") ? out + "{# #}" : out;
}

// ---------------------------------------------------------------------------------------
// Python printing: str(), repr() and float repr.
// ---------------------------------------------------------------------------------------

/** Python's repr() of a float (also what json.dumps writes). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() gives the shortest round-trip digits, as Python's repr does.
  const [mantissa, expText] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
  const sign = x < 0 ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac.length > 0 ? frac : "0"}`;
}

/** Python's repr() of a str. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch !== " " && /^[\p{C}\p{Z}]$/u.test(ch)) {
      if (cp < 0x100) out += "\\x" + cp.toString(16).padStart(2, "0");
      else if (cp < 0x10000) out += "\\u" + cp.toString(16).padStart(4, "0");
      else out += "\\U" + cp.toString(16).padStart(8, "0");
    } else out += ch;
  }
  return out + quote;
}

export function pyRepr(v: JValue): string {
  switch (v.type) {
    case "StringValue":
      return pyStrRepr(v.value as string);
    case "ArrayValue":
      return `[${(v.value as JValue[]).map(pyRepr).join(", ")}]`;
    case "TupleValue": {
      const items = (v.value as JValue[]).map(pyRepr);
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
    }
    case "ObjectValue":
    case "KeywordArgumentsValue":
      return `{${[...(v.value as Map<string, JValue>)].map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`).join(", ")}}`;
    case "NamespaceValue":
      return `<Namespace ${[...(v.value as Map<string, JValue>)].map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`).join(", ")}>`;
    default:
      return pyStr(v);
  }
}

/** Python's type name of a value, for error messages. */
function pyTypeName(v: JValue): string {
  const names: Record<string, string> = {
    NullValue: "NoneType",
    UndefinedValue: "Undefined",
    BooleanValue: "bool",
    IntegerValue: "int",
    FloatValue: "float",
    StringValue: "str",
    ArrayValue: "list",
    TupleValue: "tuple",
    ObjectValue: "dict",
    NamespaceValue: "Namespace",
  };
  return names[v.type] ?? v.type;
}

/** Python's str() of a value, which is what `{{ value }}` prints. */
export function pyStr(v: JValue): string {
  switch (v.type) {
    case "StringValue":
      return v.value as string;
    case "BooleanValue":
      return v.value ? "True" : "False";
    case "NullValue":
      return "None";
    case "UndefinedValue":
      return "";
    case "IntegerValue":
      return String(v.value);
    case "FloatValue":
      return pyFloatRepr(v.value as number);
    case "ArrayValue":
    case "TupleValue":
    case "ObjectValue":
    case "KeywordArgumentsValue":
    case "NamespaceValue":
      return pyRepr(v);
    default:
      return v.toString();
  }
}

// ---------------------------------------------------------------------------------------
// tojson: Python's json.dumps.
// ---------------------------------------------------------------------------------------

export interface JsonDumpsOptions {
  /** null: one line; a number: that many spaces per level (0: newlines only); a string: used as is. */
  readonly indent?: number | string | null;
  /** [item separator, key separator]; default [", ", ": "], or [",", ": "] with an indent. */
  readonly separators?: readonly [string, string] | null;
  readonly sortKeys?: boolean;
  readonly ensureAscii?: boolean;
}

function jsonString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

/** Python sorts str keys by code point; JavaScript's default sort compares UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

export function pyJsonDumps(value: JValue, options: JsonDumpsOptions = {}): string {
  const indent = options.indent ?? null;
  const indentUnit = indent === null ? null : typeof indent === "number" ? " ".repeat(Math.max(0, indent)) : indent;
  const [itemSep, keySep] = options.separators ?? (indentUnit === null ? [", ", ": "] : [",", ": "]);
  const ensureAscii = options.ensureAscii ?? false;
  const walk = (v: JValue, depth: number): string => {
    switch (v.type) {
      case "NullValue":
        return "null";
      case "BooleanValue":
        return v.value ? "true" : "false";
      case "IntegerValue":
        return String(v.value);
      case "FloatValue":
        return pyFloatRepr(v.value as number);
      case "StringValue":
        return jsonString(v.value as string, ensureAscii);
      case "ArrayValue":
      case "TupleValue":
      case "ObjectValue":
      case "KeywordArgumentsValue": {
        const isList = v.type === "ArrayValue" || v.type === "TupleValue";
        let parts: string[];
        if (isList) {
          parts = (v.value as JValue[]).map((x) => walk(x, depth + 1));
        } else {
          let entries = [...(v.value as Map<string, JValue>)];
          if (options.sortKeys) entries = entries.sort(([a], [b]) => compareCodePoints(a, b));
          parts = entries.map(([k, x]) => `${jsonString(k, ensureAscii)}${keySep}${walk(x, depth + 1)}`);
        }
        const [open, close] = isList ? ["[", "]"] : ["{", "}"];
        if (parts.length === 0) return open + close;
        if (indentUnit === null) return open + parts.join(itemSep) + close;
        const inner = "\n" + indentUnit.repeat(depth + 1);
        return open + inner + parts.join(itemSep + inner) + "\n" + indentUnit.repeat(depth) + close;
      }
      default:
        // As Python: json.dumps refuses Undefined, functions and namespaces.
        throw new TypeError(`tojson: object of type ${v.type.replace(/Value$/, "")} is not JSON serializable`);
    }
  };
  return walk(value, 0);
}

function tojsonFilter(operand: JValue, positional: JValue[], kwargs: Map<string, JValue>): JValue {
  const arg = (name: string, index: number): JValue | undefined => kwargs.get(name) ?? positional[index];
  // Python's signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  const ensureAscii = arg("ensure_ascii", 0);
  const indent = arg("indent", 1);
  const separators = arg("separators", 2);
  const sortKeys = arg("sort_keys", 3);
  let seps: [string, string] | null = null;
  if (separators !== undefined && separators.type !== "NullValue") {
    const items = separators.value as JValue[];
    if (!Array.isArray(items) || items.length !== 2 || items.some((x) => x.type !== "StringValue")) {
      throw new TypeError("tojson: separators must be a pair of strings");
    }
    seps = [items[0]!.value as string, items[1]!.value as string];
  }
  let indentValue: number | string | null = null;
  if (indent !== undefined && indent.type !== "NullValue") {
    if (indent.type !== "IntegerValue" && indent.type !== "StringValue")
      throw new TypeError("tojson: indent must be an integer or a string");
    indentValue = indent.value as number | string;
  }
  return str(
    pyJsonDumps(operand, {
      indent: indentValue,
      separators: seps,
      sortKeys: sortKeys?.__bool__().value ?? false,
      ensureAscii: ensureAscii?.__bool__().value ?? false,
    }),
  );
}

// ---------------------------------------------------------------------------------------
// str methods with Python's arguments.
// ---------------------------------------------------------------------------------------

/** Characters Python's str.isspace() accepts (what strip()/split() with no argument remove). */
const PY_SPACE = /[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const isPySpace = (ch: string): boolean => PY_SPACE.test(ch);

function stripChars(s: string, chars: JValue | undefined, left: boolean, right: boolean): string {
  const set = chars === undefined || chars.type === "NullValue" ? null : new Set(chars.value as string);
  const strip = (ch: string): boolean => (set === null ? isPySpace(ch) : set.has(ch));
  const cps = [...s];
  let a = 0;
  let b = cps.length;
  if (left) while (a < b && strip(cps[a]!)) a++;
  if (right) while (b > a && strip(cps[b - 1]!)) b--;
  return cps.slice(a, b).join("");
}

function pySplit(s: string, sep: JValue | undefined, maxsplit: number): string[] {
  if (sep === undefined || sep.type === "NullValue") {
    const out: string[] = [];
    const cps = [...s];
    let i = 0;
    while (i < cps.length) {
      while (i < cps.length && isPySpace(cps[i]!)) i++;
      if (i >= cps.length) break;
      if (maxsplit >= 0 && out.length === maxsplit) {
        out.push(stripChars(cps.slice(i).join(""), undefined, false, true));
        break;
      }
      let j = i;
      while (j < cps.length && !isPySpace(cps[j]!)) j++;
      out.push(cps.slice(i, j).join(""));
      i = j;
    }
    return out;
  }
  const d = sep.value as string;
  if (d === "") throw new Error("split(): empty separator");
  const parts = s.split(d);
  if (maxsplit >= 0 && parts.length > maxsplit + 1) return [...parts.slice(0, maxsplit), parts.slice(maxsplit).join(d)];
  return parts;
}

function pyCapitalize(s: string): string {
  const cps = [...s];
  return cps.length === 0 ? "" : cps[0]!.toUpperCase() + cps.slice(1).join("").toLowerCase();
}

function pyTitle(s: string): string {
  let out = "";
  let prevCased = false;
  for (const ch of s) {
    const cased = ch.toLowerCase() !== ch.toUpperCase();
    out += cased ? (prevCased ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    prevCased = cased;
  }
  return out;
}

/** Python str methods the library lacks or implements with other arguments. */
function stringMethod(s: string, name: string): JValue | undefined {
  const intArg = (v: JValue | undefined, dflt: number): number => (v === undefined || v.type === "NullValue" ? dflt : (v.value as number));
  switch (name) {
    case "strip":
      return fn(([chars]) => str(stripChars(s, chars, true, true)));
    case "lstrip":
      return fn(([chars]) => str(stripChars(s, chars, true, false)));
    case "rstrip":
      return fn(([chars]) => str(stripChars(s, chars, false, true)));
    case "split":
      return fn((args) => {
        const [pos, kw] = splitArgs(args);
        const parts = pySplit(s, kw.get("sep") ?? pos[0], intArg(kw.get("maxsplit") ?? pos[1], -1));
        return new classes.Array(parts.map(str));
      });
    case "capitalize":
      return fn(() => str(pyCapitalize(s)));
    case "title":
      return fn(() => str(pyTitle(s)));
    case "find":
    case "rfind":
    case "index":
    case "rindex":
    case "count":
      return fn(([sub]) => {
        if (sub === undefined || sub.type !== "StringValue") throw new TypeError(`${name}() needs a string argument`);
        const needle = sub.value as string;
        // Positions in code points, as Python counts them.
        const toCp = (u16: number): number => (u16 < 0 ? -1 : [...s.slice(0, u16)].length);
        if (name === "count") {
          if (needle === "") return int([...s].length + 1);
          return int(s.split(needle).length - 1);
        }
        const at = toCp(name.startsWith("r") ? s.lastIndexOf(needle) : s.indexOf(needle));
        if (at < 0 && name.endsWith("index")) throw new Error(`${name}(): substring not found`);
        return int(at);
      });
    case "splitlines":
      return fn(
        () =>
          new classes.Array(
            s
              .split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/u)
              .filter((_, i, a) => i < a.length - 1 || a[i] !== "")
              .map(str),
          ),
      );
    case "isdigit":
      return fn(() => bool(s.length > 0 && /^\p{Nd}+$/u.test(s)));
    case "isspace":
      return fn(() => bool(s.length > 0 && [...s].every(isPySpace)));
    case "join":
      return fn(([items]) => str(((items?.value as JValue[] | undefined) ?? []).map((x) => pyStr(x)).join(s)));
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The interpreter, with the overrides installed on an instance.
// ---------------------------------------------------------------------------------------

/** The library's Interpreter methods we wrap; they are private in its typings. */
interface InterpreterInternals {
  evaluate(node: unknown, env: Environment): JValue;
  evaluateBlock(statements: unknown[], env: Environment): JValue;
  applyFilter(
    operand: JValue,
    filterNode: { type: string; value?: string; callee?: { type: string; value: string }; args?: unknown[] },
    env: Environment,
  ): JValue;
  evaluateMemberExpression(
    expr: { object: unknown; computed: boolean; property: { type: string; value: unknown } },
    env: Environment,
  ): JValue;
  evaluateArguments(args: unknown[], env: Environment): [JValue[], Map<string, JValue>];
  evaluateTestExpression(node: { operand: unknown; test: { value: string }; negate: boolean }, env: Environment): JValue;
  evaluateBinaryExpression(node: { operator: { value: string }; left: unknown; right: unknown }, env: Environment): JValue;
}

/** Raised through nested blocks by break/continue, with what was printed before it. */
class LoopControl {
  constructor(
    readonly kind: "break" | "continue",
    readonly text: string,
  ) {}
}

/** Jinja2's tests where the library differs (dicts are iterable sequences, `boolean`). */
const isContainer = (v: JValue): boolean => ["ArrayValue", "TupleValue", "ObjectValue", "StringValue"].includes(v.type);
const PYTHON_TESTS = new Map<string, (v: JValue) => boolean>([
  ["iterable", isContainer],
  ["sequence", isContainer],
  ["mapping", (v) => v.type === "ObjectValue"],
  ["boolean", (v) => v.type === "BooleanValue"],
  // Python's bool is a number (Jinja2's `integer` test excludes it, as the library does).
  ["number", (v) => v.type === "IntegerValue" || v.type === "FloatValue" || v.type === "BooleanValue"],
  ["string", (v) => v.type === "StringValue"],
]);

/** Node types that are expressions: printing one that is None prints "None". */
const EXPRESSIONS = new Set([
  "Identifier",
  "MemberExpression",
  "CallExpression",
  "BinaryExpression",
  "UnaryExpression",
  "FilterExpression",
  "TestExpression",
  "SelectExpression",
  "Ternary",
  "NullLiteral",
  "StringLiteral",
  "IntegerLiteral",
  "FloatLiteral",
  "ArrayLiteral",
  "TupleLiteral",
  "ObjectLiteral",
]);

/** A node standing for an already evaluated value (to reuse the library's member access). */
interface EvaluatedNode {
  readonly type: "__Evaluated";
  readonly value: JValue;
}

/**
 * An Interpreter for `env` with Python semantics installed on the instance (the library's
 * methods stay untouched for everyone else).
 */
export function createPythonInterpreter(env: Environment): Interpreter {
  const interpreter = new Interpreter(env);
  const self = interpreter as unknown as InterpreterInternals;
  const base = {
    applyFilter: self.applyFilter.bind(self),
    evaluateMemberExpression: self.evaluateMemberExpression.bind(self),
    evaluate: self.evaluate.bind(self),
    evaluateTestExpression: self.evaluateTestExpression.bind(self),
    evaluateBinaryExpression: self.evaluateBinaryExpression.bind(self),
  };
  /** Loops being run, innermost last: their body, and whether `break` ended them. */
  const loops: { body: unknown[]; broken: boolean }[] = [];

  self.evaluate = (node, scope) => {
    const n = node as { type?: string; body?: unknown[] } | undefined;
    switch (n?.type) {
      case "__Evaluated":
        return (node as EvaluatedNode).value;
      case "Break":
        throw new LoopControl("break", "");
      case "Continue":
        throw new LoopControl("continue", "");
      case "For": {
        loops.push({ body: n.body!, broken: false });
        try {
          return base.evaluate(node, scope);
        } finally {
          loops.pop();
        }
      }
      default:
        return base.evaluate(node, scope);
    }
  };

  // Python's str() for printed values. A loop body that ends in break/continue returns
  // what it printed so far (the library would drop it); after break, later iterations of
  // that loop print nothing.
  self.evaluateBlock = (statements, scope) => {
    const loop = loops[loops.length - 1];
    const isLoopBody = loop !== undefined && loop.body === statements;
    if (isLoopBody && loop.broken) return str("");
    let out = "";
    for (const statement of statements) {
      let v: JValue;
      try {
        v = self.evaluate(statement, scope);
      } catch (err) {
        if (!(err instanceof LoopControl)) throw err;
        if (!isLoopBody) throw new LoopControl(err.kind, out + err.text);
        if (err.kind === "break") loop.broken = true;
        return str(out + err.text);
      }
      const type = (statement as { type?: string }).type ?? "";
      if (v.type === "NullValue" ? EXPRESSIONS.has(type) : v.type !== "UndefinedValue") out += pyStr(v);
    }
    return str(out);
  };

  self.evaluateTestExpression = (node, scope) => {
    const test = PYTHON_TESTS.get(node.test.value);
    if (test === undefined) return base.evaluateTestExpression(node, scope);
    const result = test(self.evaluate(node.operand, scope));
    return bool(node.negate ? !result : result);
  };

  self.applyFilter = (operand, filterNode, scope) => {
    if (filterNode.type === "Identifier" && filterNode.value === "tojson") return tojsonFilter(operand, [], new Map());
    if (filterNode.type === "CallExpression" && filterNode.callee?.type === "Identifier" && filterNode.callee.value === "tojson") {
      const [args, kwargs] = self.evaluateArguments(filterNode.args ?? [], scope);
      return tojsonFilter(operand, args, kwargs);
    }
    if (filterNode.type === "Identifier" && filterNode.value === "string") return str(pyStr(operand));
    const isJoin =
      (filterNode.type === "Identifier" && filterNode.value === "join") ||
      (filterNode.type === "CallExpression" && filterNode.callee?.value === "join");
    if (isJoin && (operand.type === "ArrayValue" || operand.type === "TupleValue")) {
      // join prints items with Python's str(); the library prints JavaScript's.
      const [args, kwargs] =
        filterNode.type === "CallExpression" ? self.evaluateArguments(filterNode.args ?? [], scope) : [[], new Map<string, JValue>()];
      const sep = kwargs.get("d") ?? args[0];
      const attribute = kwargs.get("attribute") ?? args[1];
      const items = (operand.value as JValue[]).map((x) =>
        attribute !== undefined && x.type === "ObjectValue"
          ? ((x.value as Map<string, JValue>).get(attribute.value as string) ?? str(""))
          : x,
      );
      return str(items.map(pyStr).join(sep === undefined ? "" : pyStr(sep)));
    }
    // Python counts a str in code points, not UTF-16 units.
    if (filterNode.type === "Identifier" && filterNode.value === "length" && operand.type === "StringValue")
      return int([...(operand.value as string)].length);
    return base.applyFilter(operand, filterNode, scope);
  };

  // `~` joins Python str() of both sides (the library refuses None).
  // `+` refuses str with anything but str, as Python does (the library would print the
  // other side as JavaScript or JSON, hiding a message whose content is not a string).
  self.evaluateBinaryExpression = (node, scope) => {
    const op = node.operator.value;
    if (op !== "~" && op !== "+") return base.evaluateBinaryExpression(node, scope);
    const left = self.evaluate(node.left, scope);
    const right = self.evaluate(node.right, scope);
    if (op === "~") return str(pyStr(left) + pyStr(right));
    if ((left.type === "StringValue") !== (right.type === "StringValue")) {
      const other = left.type === "StringValue" ? right : left;
      throw new TypeError(`can only concatenate str (not "${pyTypeName(other)}") to str`);
    }
    const l: EvaluatedNode = { type: "__Evaluated", value: left };
    const r: EvaluatedNode = { type: "__Evaluated", value: right };
    return base.evaluateBinaryExpression({ ...node, left: l, right: r }, scope);
  };

  self.evaluateMemberExpression = (expr, scope) => {
    if (expr.computed && expr.property.type !== "SliceExpression") {
      // s[i] indexes code points in Python.
      const object = self.evaluate(expr.object, scope);
      const evaluated: EvaluatedNode = { type: "__Evaluated", value: object };
      if (object.type === "StringValue") {
        const index = self.evaluate(expr.property, scope);
        if (index.type === "IntegerValue") {
          const cps = [...(object.value as string)];
          const ch = cps.at(index.value as number);
          if (ch === undefined) throw new RangeError(`string index ${String(index.value)} out of range`);
          return str(ch);
        }
      }
      return base.evaluateMemberExpression({ ...expr, object: evaluated }, scope);
    }
    if (expr.computed || expr.property.type !== "Identifier") return base.evaluateMemberExpression(expr, scope);
    const object = self.evaluate(expr.object, scope);
    if (object.type === "StringValue") {
      const method = stringMethod(object.value as string, expr.property.value as string);
      if (method !== undefined) return method;
    }
    const evaluated: EvaluatedNode = { type: "__Evaluated", value: object };
    return base.evaluateMemberExpression({ ...expr, object: evaluated }, scope);
  };

  return interpreter;
}
