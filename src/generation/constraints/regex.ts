/**
 * JSON Schema `pattern` (ECMA-262 syntax, unanchored search) for the common subset:
 * literals, `.`, classes (`[a-z]`, `[^…]`, `\d \w \s` and their negations), groups
 * (`(…)`, `(?:…)`, `(?<name>…)`), alternation, quantifiers (`* + ? {n} {n,} {n,m}`, lazy or
 * not: the language is the same) and `^`/`$` at the ends of the pattern. Lookarounds,
 * backreferences, word boundaries and Unicode property escapes are refused with an error
 * naming the construct.
 *
 * The pattern becomes a Thompson NFA over code points; a DFA is built lazily from it
 * (subset construction, one state per set of NFA states reached), so a string constrained by
 * a pattern carries one small integer of regex state. Every NFA state knows the fewest
 * characters that still lead to a match, which lets the grammar refuse a character that
 * would make a match (or `maxLength`) impossible, so constrained output never dead-ends.
 */

export class PatternError extends Error {
  constructor(
    readonly position: number,
    readonly detail: string,
  ) {
    super(`at position ${position}: ${detail}`);
  }
}

const MAX_CP = 0x10ffff;

type Re =
  | { readonly t: "set"; readonly ranges: readonly number[] } // sorted, disjoint [lo, hi] pairs
  | { readonly t: "cat"; readonly items: readonly Re[] }
  | { readonly t: "alt"; readonly items: readonly Re[] }
  | { readonly t: "rep"; readonly item: Re; readonly min: number; readonly max: number }
  | { readonly t: "bol" }
  | { readonly t: "eol" };

const EMPTY: Re = { t: "cat", items: [] };

function normalise(ranges: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i]! > next) out.push(next, ranges[i]! - 1);
    next = ranges[i + 1]! + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

const DIGIT = [0x30, 0x39];
const WORD = normalise([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);
const SPACE = normalise([
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
  0xfeff, 0xfeff,
]);
const DOT = complement(normalise([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]));
const ANY = [0, MAX_CP];

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly maxRepeat: number,
  ) {}

  private fail(detail: string, at = this.i): never {
    throw new PatternError(at, detail);
  }

  private peek(): number | undefined {
    return this.src.codePointAt(this.i);
  }

  private next(): number {
    const c = this.src.codePointAt(this.i);
    if (c === undefined) this.fail("unexpected end of pattern");
    this.i += c > 0xffff ? 2 : 1;
    return c;
  }

  parse(): Re {
    const re = this.alternation(0);
    if (this.i < this.src.length) this.fail(`unbalanced ')'`);
    return re;
  }

  private alternation(depth: number): Re {
    if (depth > 64) this.fail("groups nest deeper than 64 levels");
    const items: Re[] = [this.concat(depth)];
    while (this.peek() === 0x7c) {
      this.i++;
      items.push(this.concat(depth));
    }
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }

  private concat(depth: number): Re {
    const items: Re[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29) break;
      let atom = this.atom(depth);
      atom = this.quantifier(atom);
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: "cat", items };
  }

  private quantifier(atom: Re): Re {
    const at = this.i;
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === 0x2a) [min, max] = [0, Infinity];
    else if (c === 0x2b) [min, max] = [1, Infinity];
    else if (c === 0x3f) [min, max] = [0, 1];
    else if (c === 0x7b) {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) return atom; // a literal '{', as ECMA-262 (Annex B) reads it
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (max < min) this.fail("quantifier {n,m} with m < n");
      if (min > this.maxRepeat || (max !== Infinity && max > this.maxRepeat)) this.fail(`repetition count over ${this.maxRepeat}`);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.peek() === 0x3f) this.i++; // lazy: same language
    if (atom.t === "bol" || atom.t === "eol") this.fail("a quantifier on an anchor", at);
    const q = this.peek();
    if (q === 0x2a || q === 0x2b || q === 0x3f || (q === 0x7b && /^\{\d/.test(this.src.slice(this.i)))) this.fail("nothing to repeat");
    return { t: "rep", item: atom, min, max };
  }

  private atom(depth: number): Re {
    const at = this.i;
    const c = this.next();
    switch (c) {
      case 0x5e:
        return { t: "bol" };
      case 0x24:
        return { t: "eol" };
      case 0x2e:
        return { t: "set", ranges: DOT };
      case 0x5b:
        return this.charClass();
      case 0x28: {
        if (this.peek() === 0x3f) {
          const rest = this.src.slice(this.i, this.i + 3);
          if (rest.startsWith("?:")) this.i += 2;
          else if (/^\?<[A-Za-z_$]/.test(rest)) {
            const close = this.src.indexOf(">", this.i);
            if (close < 0) this.fail("unterminated group name");
            this.i = close + 1;
          } else this.fail("lookaround and other (?…) groups are not supported", at);
        }
        const inner = this.alternation(depth + 1);
        if (this.peek() !== 0x29) this.fail("missing ')'", at);
        this.i++;
        return inner;
      }
      case 0x29:
        return this.fail("unbalanced ')'", at);
      case 0x2a:
      case 0x2b:
      case 0x3f:
        return this.fail("nothing to repeat", at);
      case 0x5c:
        return { t: "set", ranges: this.escape(false) };
      default:
        return { t: "set", ranges: [c, c] };
    }
  }

  private escape(inClass: boolean): number[] {
    const at = this.i - 1;
    const c = this.next();
    switch (c) {
      case 0x64: // d
        return [...DIGIT];
      case 0x44: // D
        return complement(DIGIT);
      case 0x77: // w
        return [...WORD];
      case 0x57:
        return complement(WORD);
      case 0x73: // s
        return [...SPACE];
      case 0x53:
        return complement(SPACE);
      case 0x6e:
        return [0x0a, 0x0a];
      case 0x72:
        return [0x0d, 0x0d];
      case 0x74:
        return [0x09, 0x09];
      case 0x66:
        return [0x0c, 0x0c];
      case 0x76:
        return [0x0b, 0x0b];
      case 0x30:
        if (this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x39) this.fail("octal escapes are not supported", at);
        return [0, 0];
      case 0x62: // b
        if (inClass) return [0x08, 0x08];
        return this.fail("word boundaries (\\b) are not supported", at);
      case 0x78: {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i));
        if (!m) this.fail("\\x needs two hex digits", at);
        this.i += 2;
        const v = parseInt(m[0], 16);
        return [v, v];
      }
      case 0x75: {
        const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i));
        if (!m) this.fail("\\u needs four hex digits (\\u{…} is not supported)", at);
        this.i += 4;
        const v = parseInt(m[0], 16);
        return [v, v];
      }
      case 0x70:
      case 0x50:
        return this.fail("Unicode property escapes (\\p) are not supported", at);
      case 0x42:
        return this.fail("\\B is not supported", at);
      case 0x63:
        return this.fail("control escapes (\\c) are not supported", at);
      case 0x6b:
        return this.fail("named backreferences are not supported", at);
    }
    if (c >= 0x31 && c <= 0x39) this.fail("backreferences are not supported", at);
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) this.fail(`unknown escape \\${String.fromCodePoint(c)}`, at);
    return [c, c];
  }

  private charClass(): Re {
    const at = this.i - 1;
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.i++;
    }
    const ranges: number[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail("unterminated character class", at);
      if (c === 0x5d && !first) {
        this.i++;
        break;
      }
      first = false;
      const lo = this.classAtom();
      if (this.peek() === 0x2d && this.src.codePointAt(this.i + 1) !== 0x5d && this.src.codePointAt(this.i + 1) !== undefined) {
        this.i++;
        const hi = this.classAtom();
        if (lo.length !== 2 || hi.length !== 2 || lo[0] !== lo[1] || hi[0] !== hi[1]) this.fail("a range bound is a class", at);
        if (hi[0]! < lo[0]!) this.fail("range out of order in character class", at);
        ranges.push(lo[0]!, hi[0]!);
      } else ranges.push(...lo);
    }
    const set = normalise(ranges);
    return { t: "set", ranges: negate ? complement(set) : set };
  }

  private classAtom(): number[] {
    const c = this.next();
    if (c === 0x5c) return this.escape(true);
    return [c, c];
  }
}

/** Splits anchors off: an unanchored side matches anywhere (ECMA-262 `pattern` is a search). */
function anchor(re: Re): Re {
  const alts = re.t === "alt" ? re.items : [re];
  const anyStar: Re = { t: "rep", item: { t: "set", ranges: ANY }, min: 0, max: Infinity };
  const out = alts.map((alt) => {
    const items = alt.t === "cat" ? [...alt.items] : [alt];
    const start = items[0]?.t === "bol";
    if (start) items.shift();
    const end = items[items.length - 1]?.t === "eol";
    if (end) items.pop();
    for (const it of items) checkNoAnchor(it);
    return { t: "cat", items: [...(start ? [] : [anyStar]), ...items, ...(end ? [] : [anyStar])] } as Re;
  });
  return out.length === 1 ? out[0]! : { t: "alt", items: out };
}

function checkNoAnchor(re: Re): void {
  if (re.t === "bol" || re.t === "eol") throw new PatternError(0, "^ and $ are supported only at the start and end of the pattern");
  if (re.t === "cat" || re.t === "alt") for (const r of re.items) checkNoAnchor(r);
  if (re.t === "rep") checkNoAnchor(re.item);
}

/** NFA states {@link Regex.emit} makes for `re` (checked before building it). */
function estimate(re: Re): number {
  switch (re.t) {
    case "set":
      return 2;
    case "cat":
    case "alt":
      return re.items.reduce((n, r) => n + estimate(r), 2);
    case "rep":
      return 2 + estimate(re.item) * (re.max === Infinity ? re.min + 1 : re.max);
    default:
      return 1;
  }
}

interface DfaState {
  readonly set: Int32Array;
  readonly accept: boolean;
  /** Fewest more characters to a match. */
  readonly dist: number;
  readonly next: Map<number, number>;
}

/** A compiled pattern: NFA plus its lazily built DFA. */
export class Regex {
  private readonly eps: number[][] = [];
  private readonly edges: { ranges: readonly number[]; to: number }[][] = [];
  private accept = 0;
  private dist: Int32Array = new Int32Array(0);
  private readonly dfa: DfaState[] = [];
  private readonly dfaIds = new Map<string, number>();
  /** DFA state ids beyond this are not added (lazy construction stays bounded). */
  private readonly maxDfaStates: number;

  constructor(
    readonly source: string,
    maxStates: number,
  ) {
    const re = anchor(new Parser(source, 1000).parse());
    if (estimate(re) > maxStates) throw new PatternError(0, `the pattern needs more than ${maxStates} automaton states`);
    this.maxDfaStates = maxStates;
    const [s, e] = this.emit(re, maxStates);
    this.accept = e;
    this.computeDistances();
    this.startId = this.intern(this.closure([s]));
  }

  readonly startId: number;

  get nfaStates(): number {
    return this.eps.length;
  }

  get bytes(): number {
    return this.eps.length * 64 + this.dfa.length * 96;
  }

  private state(budget: number): number {
    if (this.eps.length >= budget) throw new PatternError(0, `the pattern needs more than ${budget} automaton states`);
    this.eps.push([]);
    this.edges.push([]);
    return this.eps.length - 1;
  }

  private emit(re: Re, budget: number): [number, number] {
    switch (re.t) {
      case "set": {
        const s = this.state(budget);
        const e = this.state(budget);
        this.edges[s]!.push({ ranges: re.ranges, to: e });
        return [s, e];
      }
      case "cat": {
        const s = this.state(budget);
        let cur = s;
        for (const it of re.items) {
          const [a, b] = this.emit(it, budget);
          this.eps[cur]!.push(a);
          cur = b;
        }
        return [s, cur];
      }
      case "alt": {
        const s = this.state(budget);
        const e = this.state(budget);
        for (const it of re.items) {
          const [a, b] = this.emit(it, budget);
          this.eps[s]!.push(a);
          this.eps[b]!.push(e);
        }
        return [s, e];
      }
      case "rep": {
        const s = this.state(budget);
        let cur = s;
        for (let k = 0; k < re.min; k++) {
          const [a, b] = this.emit(re.item, budget);
          this.eps[cur]!.push(a);
          cur = b;
        }
        if (re.max === Infinity) {
          const [a, b] = this.emit(re.item, budget);
          const e = this.state(budget);
          this.eps[cur]!.push(a, e);
          this.eps[b]!.push(a, e);
          return [s, e];
        }
        const e = this.state(budget);
        for (let k = re.min; k < re.max; k++) {
          const [a, b] = this.emit(re.item, budget);
          this.eps[cur]!.push(a, e);
          cur = b;
        }
        this.eps[cur]!.push(e);
        return [s, e];
      }
      case "bol":
      case "eol":
        return this.emit(EMPTY, budget);
    }
  }

  /** 0-1 BFS on the reversed NFA: fewest characters from each state to the accepting one. */
  private computeDistances(): void {
    const n = this.eps.length;
    const rev: { from: number; w: number }[][] = Array.from({ length: n }, () => []);
    for (let s = 0; s < n; s++) {
      for (const t of this.eps[s]!) rev[t]!.push({ from: s, w: 0 });
      for (const e of this.edges[s]!) rev[e.to]!.push({ from: s, w: 1 });
    }
    const dist = new Int32Array(n).fill(0x3fffffff);
    dist[this.accept] = 0;
    const deque: number[] = [this.accept];
    let head = 0;
    // A plain queue with re-insertion is enough at these sizes (weights are 0 or 1).
    while (head < deque.length) {
      const s = deque[head++]!;
      for (const { from, w } of rev[s]!) {
        const d = dist[s]! + w;
        if (d < dist[from]!) {
          dist[from] = d;
          deque.push(from);
        }
      }
    }
    this.dist = dist;
  }

  private closure(seeds: number[]): Int32Array {
    const seen = new Set<number>();
    const stack = [...seeds];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      for (const t of this.eps[s]!) stack.push(t);
    }
    // Keep only states with character edges or the accepting one: they define the future.
    const keep = [...seen].filter((s) => s === this.accept || this.edges[s]!.length > 0).sort((a, b) => a - b);
    return Int32Array.from(keep);
  }

  private intern(set: Int32Array): number {
    const key = set.join(",");
    const known = this.dfaIds.get(key);
    if (known !== undefined) return known;
    if (this.dfa.length >= this.maxDfaStates) throw new PatternError(0, `the pattern needs more than ${this.maxDfaStates} DFA states`);
    let dist = 0x3fffffff;
    for (const s of set) dist = Math.min(dist, this.dist[s]!);
    const id = this.dfa.length;
    this.dfa.push({ set, accept: set.includes(this.accept), dist, next: new Map() });
    this.dfaIds.set(key, id);
    return id;
  }

  accepting(id: number): boolean {
    return this.dfa[id]!.accept;
  }

  /** Fewest more characters to a match from `id` (a huge number when none). */
  distance(id: number): number {
    return this.dfa[id]!.dist;
  }

  /** The DFA state after code point `cp`, or -1 when no match can follow. */
  step(id: number, cp: number): number {
    const st = this.dfa[id]!;
    const known = st.next.get(cp);
    if (known !== undefined) return known;
    const seeds: number[] = [];
    for (const s of st.set)
      for (const e of this.edges[s]!) {
        const r = e.ranges;
        for (let i = 0; i < r.length; i += 2)
          if (cp >= r[i]! && cp <= r[i + 1]!) {
            seeds.push(e.to);
            break;
          }
      }
    let out = -1;
    if (seeds.length > 0) {
      const next = this.intern(this.closure(seeds));
      if (this.dfa[next]!.dist < 0x3fffffff) out = next;
    }
    st.next.set(cp, out);
    return out;
  }

  /**
   * Whether some code point in [lo, hi] leads from `id` to a state at most `budget`
   * characters from a match (used before a multi-byte character is complete).
   */
  anyInRange(id: number, lo: number, hi: number, budget: number): boolean {
    const st = this.dfa[id]!;
    for (const s of st.set)
      for (const e of this.edges[s]!) {
        if (this.dist[e.to]! > budget) continue;
        const r = e.ranges;
        for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
      }
    return false;
  }
}
