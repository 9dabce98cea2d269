/**
 * Helpers for the constraint tests: a seeded random vocabulary of JSON-ish multi-byte tokens,
 * a mock "model" (random logits) sampled under a constraint, and a small JSON Schema validator
 * written independently of the compiler (so a wrong compiler cannot agree with itself).
 */
import { JsonConstraint, VocabIndex } from "../../src/generation/constraints/json_constraint.js";
import type { Grammar } from "../../src/generation/constraints/json_grammar.js";
import { mulberry32 as mulberry32Bits } from "../../src/tensor/random.js";
import type { TextTokenizer } from "../../src/tokenizer/types.js";

/** Seeded uniform numbers in [0, 1): src/tensor/random.ts's generator scaled. */
export function mulberry32(seed: number): () => number {
  const next = mulberry32Bits(seed);
  return () => next() / 4294967296;
}

const enc = new TextEncoder();
const FRAGMENTS = [
  '{"',
  '"}',
  '": ',
  '", "',
  '":',
  ",",
  ", ",
  '"',
  "[",
  "]",
  "{",
  "}",
  "[{",
  "}]",
  "}, {",
  "null",
  "true",
  "false",
  "12",
  "-",
  "0.",
  "e+",
  "é",
  "中文",
  "\\n",
  "\\u00",
  "a-b",
  "2024-",
  "-01",
  "T12:",
  "@x.",
  "abc",
  "  ",
  "\n  ",
];

export const MOCK_EOS = 0;

/** A byte-level vocabulary (ids 1..256 are bytes) plus JSON-ish fragments and random joins of them. */
export function mockVocabulary(seed: number, extra = 300): { tokens: Uint8Array[]; index: VocabIndex } {
  const rng = mulberry32(seed);
  const tokens: Uint8Array[] = [new Uint8Array(0)];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  for (const f of FRAGMENTS) tokens.push(enc.encode(f));
  for (let i = 0; i < extra; i++) {
    const parts = 1 + Math.floor(rng() * 3);
    let s = "";
    for (let k = 0; k < parts; k++) s += FRAGMENTS[Math.floor(rng() * FRAGMENTS.length)];
    tokens.push(enc.encode(s));
  }
  const tokenizer = {
    isSpecialId: (id: number) => id === MOCK_EOS,
    idToBytes: (id: number) => tokens[id],
  } as unknown as TextTokenizer;
  return { tokens, index: new VocabIndex(tokens.length, tokenizer) };
}

/**
 * Samples one document under `grammar` from random logits (a bias towards closing bytes and
 * EOS keeps documents short). Returns the text, or null when maxSteps ran out.
 */
export function sampleDocument(
  grammar: Grammar,
  vocab: { tokens: Uint8Array[]; index: VocabIndex },
  seed: number,
  maxSteps = 3000,
  onStep?: (step: number) => void,
): string | null {
  const rng = mulberry32(seed);
  const c = new JsonConstraint(vocab.index, grammar, [MOCK_EOS]);
  const generated: number[] = [];
  const logits = new Float32Array(vocab.tokens.length);
  const closing = vocab.tokens.map((t) => t.some((b) => b === 0x22 || b === 0x5d || b === 0x7d || b === 0x2c));
  for (let step = 0; step < maxSteps; step++) {
    for (let id = 0; id < logits.length; id++) logits[id] = rng() * 4 + (closing[id] ? 2.5 : 0) + (id === MOCK_EOS ? 6 : 0);
    c.process(logits, { prompt: new Int32Array(0), generated });
    onStep?.(step);
    let total = 0;
    for (let id = 0; id < logits.length; id++) if (logits[id] !== -Infinity) total += Math.exp(logits[id]!);
    if (total === 0) throw new Error(`every token masked after ${JSON.stringify(decode(vocab.tokens, generated))}`);
    let r = rng() * total;
    let pick = -1;
    for (let id = 0; id < logits.length; id++) {
      if (logits[id] === -Infinity) continue;
      pick = id;
      r -= Math.exp(logits[id]!);
      if (r <= 0) break;
    }
    if (pick === MOCK_EOS) return decode(vocab.tokens, generated);
    generated.push(pick);
  }
  return null;
}

export function decode(tokens: Uint8Array[], ids: readonly number[]): string {
  const parts = ids.map((id) => tokens[id]!);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Errors of `value` against `schema` (empty when valid); `root` resolves `$ref`s. */
export function validate(schema: unknown, value: unknown, root: unknown = schema, path = "$"): string[] {
  if (schema === true || schema === undefined) return [];
  if (!isObj(schema)) return [`${path}: bad schema`];
  const s = schema;
  const errs: string[] = [];
  if (typeof s.$ref === "string") {
    let at: unknown = root;
    for (const part of s.$ref.slice(2).split("/").filter(Boolean)) at = (at as Obj)[part];
    return validate(at, value, root, path);
  }
  if (Array.isArray(s.allOf)) for (const sub of s.allOf) errs.push(...validate(sub, value, root, path));
  if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => validate(sub, value, root, path).length === 0))
    errs.push(`${path}: no anyOf branch`);
  if (Array.isArray(s.oneOf) && s.oneOf.filter((sub) => validate(sub, value, root, path).length === 0).length !== 1)
    errs.push(`${path}: not exactly one oneOf branch`);
  if ("const" in s && JSON.stringify(s.const) !== JSON.stringify(value)) errs.push(`${path}: const`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) errs.push(`${path}: enum`);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) errs.push(`${path}: type ${t}`);
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) errs.push(`${path}: minimum`);
    if (typeof s.maximum === "number" && value > s.maximum) errs.push(`${path}: maximum`);
    if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) errs.push(`${path}: exclusiveMinimum`);
    if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) errs.push(`${path}: exclusiveMaximum`);
  }
  if (typeof value === "string") {
    const len = [...value].length;
    if (typeof s.minLength === "number" && len < s.minLength) errs.push(`${path}: minLength`);
    if (typeof s.maxLength === "number" && len > s.maxLength) errs.push(`${path}: maxLength`);
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(value)) errs.push(`${path}: pattern`);
    if (s.format === "date" && !(/^\d{4}-\d\d-\d\d$/.test(value) && !Number.isNaN(Date.parse(value)))) errs.push(`${path}: date`);
    if (s.format === "date-time" && !(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(value) && !Number.isNaN(Date.parse(value))))
      errs.push(`${path}: date-time`);
    if (s.format === "uuid" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) errs.push(`${path}: uuid`);
    if (s.format === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) errs.push(`${path}: email`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === "number" && value.length < s.minItems) errs.push(`${path}: minItems`);
    if (typeof s.maxItems === "number" && value.length > s.maxItems) errs.push(`${path}: maxItems`);
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    value.forEach((v, i) => errs.push(...validate(i < prefix.length ? prefix[i] : s.items, v, root, `${path}[${i}]`)));
  }
  if (isObj(value)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in value)) errs.push(`${path}: required ${r}`);
    const order = Object.keys(props);
    let last = -1;
    for (const [k, v] of Object.entries(value)) {
      if (k in props) {
        const i = order.indexOf(k);
        if (i < last) errs.push(`${path}: ${k} out of the schema's order`);
        last = i;
        errs.push(...validate(props[k], v, root, `${path}.${k}`));
      } else if (s.additionalProperties === false) errs.push(`${path}: additional ${k}`);
      else if (isObj(s.additionalProperties)) errs.push(...validate(s.additionalProperties, v, root, `${path}.${k}`));
    }
  }
  return errs;
}
