/**
 * The task-head fixtures (../shared/fixtures/qwen2-heads, or QWEN2_HEADS_FIXTURES): their
 * manifest, cases and expected outputs, typed as their README describes them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { skipReasonUnlessRequired } from "../../bench/peers.js";
import { sharedDir } from "./paths.js";
import { memoryFiles, type ModelFiles } from "../../src/io/byte_source.js";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte_level.js";

export const headsFixturesDir = process.env.QWEN2_HEADS_FIXTURES ?? resolve(sharedDir, "fixtures/qwen2-heads");

export type HeadKind = "seq_cls" | "token_cls" | "qa";

export interface HeadManifestEntry {
  name: string;
  kind: HeadKind;
  architecture: string;
  about: string;
  weights_dtype: string;
  model: string;
  cases: string;
  expected: string;
}

export interface HeadCase {
  name: string;
  rows: number[][];
  padding?: "right" | "left";
}

export interface HeadExpectedRow {
  row: number;
  pooled_position?: number;
  real_positions?: number[];
  /** seq_cls: [labels]; token_cls: [real positions][labels]. */
  logits?: { f64: number[] | number[][] };
  qa?: { f64: { start_logits: number[]; end_logits: number[] } };
}

export interface HeadExpectedCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  rows: HeadExpectedRow[];
}

export interface HeadExpected {
  kind: HeadKind;
  architecture: string;
  pad_token_id: number | null;
  num_labels: number;
  cases: HeadExpectedCase[];
}

/** Why the head fixtures cannot run here, or undefined when they can. */
export function headsFixturesMissing(): string | undefined {
  if (existsSync(join(headsFixturesDir, "MANIFEST.json"))) return undefined;
  return skipReasonUnlessRequired(
    `needs the shared task-head fixtures (${headsFixturesDir}; set QWEN2_HEADS_FIXTURES), which a plain clone lacks`,
  );
}

export function readHeadsJson<T>(relative: string): T {
  return JSON.parse(readFileSync(join(headsFixturesDir, relative), "utf8")) as T;
}

export function headsManifest(): HeadManifestEntry[] {
  return headsFixturesMissing() ? [] : readHeadsJson<HeadManifestEntry[]>("MANIFEST.json");
}

/** A case's rows padded as its `padding` says (with `padId`), as transformers' tokenizer pads them. */
export function padCase(c: HeadCase, padId: number | null): { inputIds: number[][]; attentionMask: number[][] } {
  const width = Math.max(...c.rows.map((r) => r.length));
  const pad = (n: number, v: number): number[] => new Array<number>(n).fill(v);
  const left = c.padding === "left";
  return {
    inputIds: c.rows.map((r) => (left ? [...pad(width - r.length, padId ?? 0), ...r] : [...r, ...pad(width - r.length, padId ?? 0)])),
    attentionMask: c.rows.map((r) =>
      left ? [...pad(width - r.length, 0), ...pad(r.length, 1)] : [...pad(r.length, 1), ...pad(width - r.length, 0)],
    ),
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * A task-head fixture's config and weights with a 256-id byte-level tokenizer (vocab.json of
 * the byte characters, no merges) and any extra files: every ASCII text encodes into the
 * fixtures' 512-id vocabulary, one token per byte.
 */
export function withByteTokenizer(name: string, extra: Record<string, string> = {}): ModelFiles {
  const dir = join(headsFixturesDir, "models", name);
  const vocab = Object.fromEntries(BYTE_TO_CHAR.map((c, i) => [c, i]));
  return memoryFiles(
    {
      "config.json": readFileSync(join(dir, "config.json"), "utf8"),
      "model.safetensors": new Uint8Array(readFileSync(join(dir, "model.safetensors"))),
      "vocab.json": JSON.stringify(vocab),
      "merges.txt": "#version: 0.2\n",
      ...extra,
    },
    `<memory ${name}>`,
  );
}
