/**
 * Reading the shared Qwen2 fixtures (see their README) and the pieces every backend's
 * fixture test needs; the runtime-neutral ones (case batch, generation settings, greedy
 * decoding) live in fixture_cases.ts, which browser tests bundle.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fixturesDir } from "./paths.js";
import { sharedMissing } from "./shared.js";

export { argmax, caseBatch, caseGeneration, greedy, type CaseInput } from "./fixture_cases.js";

export interface ManifestEntry {
  name: string;
  model: string;
  cases: string;
  expected: string;
  sliding_layers: number[];
}
export interface ExpectedRow {
  row: number;
  real_positions: number[];
  last_position: number;
  last_logits: { f64: number[] };
  full_logits?: { f64: number[][] };
  hidden_norms?: Record<string, number[]>;
  greedy?: { f64: number[]; step_topk?: { ids: number[]; f64: number[] }[] };
}

/**
 * Our logits at every greedy step against the reference's recorded top-k logits of that step
 * (`greedy.step_topk`, where present): a per-step oracle, so decoding that drifts without yet
 * flipping a token still fails. Steps past the row's end (filled with pad) are not recorded.
 */
export function assertStepLogits(row: ExpectedRow, steps: readonly Float32Array[], tol: number): void {
  const recorded = row.greedy?.step_topk;
  if (!recorded) return;
  assert.ok(steps.length >= 1, `row ${row.row}: no decoding step to compare`);
  recorded.slice(0, steps.length).forEach((want, s) => {
    want.ids.forEach((id, k) => {
      const d = Math.abs(steps[s]![id]! - want.f64[k]!);
      assert.ok(d <= tol, `row ${row.row} step ${s}: logit of token ${id} differs from f64 by ${d}`);
    });
  });
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
