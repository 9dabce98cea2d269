/**
 * Reading the shared Qwen2 fixtures (see their README) and the pieces every backend's
 * fixture test needs: the padded batch a case describes, its generation settings as Hugging
 * Face resolves them, and greedy decoding as `generate(do_sample=False)` runs it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { GenerationConfig, Qwen2Config } from "../../src/formats/config.js";
import { leftPad, type PaddedBatch, type PaddedBatchRunner } from "../../src/runtime/padded_batch.js";
import { fixturesDir } from "./paths.js";
import { sharedMissing } from "./shared.js";

export interface ManifestEntry {
  name: string;
  model: string;
  cases: string;
  expected: string;
  sliding_layers: number[];
}
export interface CaseInput {
  name: string;
  input_ids?: number[] | number[][];
  attention_mask?: number[][];
  batch?: number[][];
  max_new_tokens: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  ignore_eos?: boolean;
}
export interface ExpectedRow {
  row: number;
  real_positions: number[];
  last_position: number;
  last_logits: { f64: number[] };
  full_logits?: { f64: number[][] };
  hidden_norms?: Record<string, number[]>;
  greedy?: { f64: number[] };
}
export interface ExpectedCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  rows: ExpectedRow[];
  generation?: { eos_token_id: number | number[] | null; pad_token_id: number | null; max_new_tokens: number };
  checks?: { kv_vs_full_max_abs_diff_f64: number };
}
export interface Expected {
  model: { head_dim: number; layer_windows: (number | null)[]; rope: { inv_freq: number[]; attention_scaling: number } };
  cases: ExpectedCase[];
}

/** Reads a JSON file under the fixture root (QWEN2_FIXTURES). */
export function readFixtureJson<T>(relative: string): T {
  return JSON.parse(readFileSync(join(fixturesDir, relative), "utf8")) as T;
}

/**
 * The fixture list. Without the shared fixtures (a plain clone) it is empty, and one skipped
 * test in the calling file says what is missing, so files that loop over it at module level
 * load and report instead of failing.
 */
export function loadManifest(): ManifestEntry[] {
  const missing = sharedMissing("fixtures");
  if (missing) {
    test("Qwen2 fixtures", { skip: missing }, () => {});
    return [];
  }
  return readFixtureJson<ManifestEntry[]>("MANIFEST.json");
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** The padded batch a case describes: explicit rows + mask, or ragged rows left-padded. */
export function caseBatch(c: CaseInput, padId: number): PaddedBatch {
  if (c.batch) return leftPad(c.batch, padId);
  const ids = c.input_ids!;
  const rows = typeof ids[0] === "number" ? [ids as number[]] : (ids as number[][]);
  return { inputIds: rows, attentionMask: c.attention_mask ?? rows.map((r) => r.map(() => 1)) };
}

/**
 * A case's EOS ids and pad id: the case's own, else generation_config.json / config.json;
 * with no pad token Hugging Face pads with the first EOS id.
 */
export function caseGeneration(c: CaseInput, config: Qwen2Config, gc: GenerationConfig): { eos: readonly number[]; pad: number } {
  const configEos = gc.eos_token_id ?? config.eos_token_id;
  const caseEos = c.eos_token_id === undefined ? undefined : ([] as number[]).concat(c.eos_token_id);
  const eos: readonly number[] = c.ignore_eos ? [] : (caseEos ?? configEos);
  const pad = c.pad_token_id ?? gc.pad_token_id ?? config.pad_token_id ?? configEos[0] ?? 0;
  return { eos, pad };
}

/**
 * Greedy decoding as Hugging Face's generate(do_sample=False): every row steps together;
 * a row that produced EOS gets pad tokens from then on; stops when all rows are done.
 */
export function greedy(runner: PaddedBatchRunner, first: Float32Array[], maxNew: number, eos: readonly number[], pad: number): { tokens: number[][]; stepLogits: Float32Array[][] } {
  const rows = first.length;
  const tokens: number[][] = first.map(() => []);
  const stepLogits: Float32Array[][] = first.map(() => []);
  const done = new Array<boolean>(rows).fill(false);
  let logits = first;
  for (let step = 0; step < maxNew; step++) {
    const next = logits.map((l, r) => (done[r] ? pad : argmax(l)));
    next.forEach((t, r) => {
      tokens[r]!.push(t);
      if (!done[r]) stepLogits[r]!.push(logits[r]!);
      if (eos.includes(t)) done[r] = true;
    });
    if (done.every(Boolean) || step === maxNew - 1) break;
    logits = runner.step(next);
  }
  return { tokens, stepLogits };
}
