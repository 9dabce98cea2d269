/**
 * The whole model on the WebAssembly backend against Hugging Face: every fixture in
 * MANIFEST.json (QWEN2_FIXTURES, default ../shared/fixtures/qwen2), F32/F16/BF16 weights,
 * 2 threads. Per case: last-position logits within 1e-4 of the float64 reference, full
 * logits where given, every greedy token, and KV-cache decoding equal to a full forward.
 * (The reference backend's fixture test also checks config resolution, padding and hooks;
 * those do not depend on the backend.)
 *
 * Both kernel builds run every fixture: this process runs the baseline SIMD build (or the
 * relaxed one with QWEN2_WASM_BUILD=relaxed), and a child Node runs the file again with the
 * relaxed build, the one users get by default, with the V8 flag where this Node hides it.
 * Sliding-window fixtures also run with chunk sizes 1, 2 and 3, so that each sliding layer's
 * K/V ring (window + chunk - 1 slots) is smaller than the sequence and wraps.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixturesDir } from "../support/paths.js";
import {
  caseBatch,
  caseGeneration,
  assertStepLogits,
  greedy,
  loadManifest,
  maxAbsDiff,
  readFixtureJson,
  type CaseInput,
  type Expected,
} from "../support/fixtures.js";
import { RELAXED_SIMD_NODE_FLAG, WasmBackend, relaxedSimdAvailable } from "../../src/backends/wasm/index.js";
import { layerWindows } from "../../src/formats/config.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { leftPad, PaddedBatchRunner } from "../../src/runtime/padded_batch.js";
import { openFolder } from "../support/files.js";
import { runTestFileInChild } from "../support/child_test_run.js";

const TOL = 1e-4;

/** Chunk sizes that make a sliding layer's ring smaller than the fixtures' sequences. */
const RING_WRAP_CHUNKS = [1, 2, 3];

const manifest = loadManifest();
const relaxed = process.env.QWEN2_WASM_BUILD === "relaxed";
const build = relaxed ? "relaxed SIMD" : "baseline SIMD";
const backend = await WasmBackend.create({ threads: Math.min(2, availableParallelism()), relaxed });
test.after(() => backend.dispose());

for (const fx of manifest) {
  test(`wasm backend (${build}): fixture ${fx.name}`, async (t) => {
    await checkFixture(t, fx, undefined);
  });
}

for (const fx of manifest) {
  const folder = await openFolder(join(fixturesDir, fx.model));
  const sliding = layerWindows(folder.config).some((w) => w !== null);
  folder.weights.close();
  if (!sliding) continue;
  for (const chunk of RING_WRAP_CHUNKS) {
    test(`wasm backend (${build}): fixture ${fx.name} with chunk size ${chunk}, so the sliding-window ring wraps`, async (t) => {
      await checkFixture(t, fx, chunk);
    });
  }
}

test("wasm backend: every fixture again on the relaxed SIMD build, in a child Node (with the flag where this Node hides it)", {
  skip: relaxed || manifest.length === 0 ? "this process already runs the relaxed build, or there are no fixtures" : false,
}, () => {
  const args = relaxedSimdAvailable() ? [] : [RELAXED_SIMD_NODE_FLAG];
  const child = runTestFileInChild(fileURLToPath(import.meta.url), args, { QWEN2_WASM_BUILD: "relaxed" });
  assert.match(child.stdout, /wasm backend \(relaxed SIMD\): fixture/, "the child ran the relaxed build's fixture tests");
});

async function checkFixture(
  t: import("node:test").TestContext,
  fx: (typeof manifest)[number],
  chunkSize: number | undefined,
): Promise<void> {
  const folder = await openFolder(join(fixturesDir, fx.model));
  const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend, { chunkSize });
  folder.weights.close();
  t.after(() => model.dispose());
  const expected = readFixtureJson<Expected>(fx.expected);
  const cases = readFixtureJson<CaseInput[]>(fx.cases);
  const config = folder.config;
  const vocab = model.vocabSize;

  for (const c of cases) {
    const exp = expected.cases.find((e) => e.name === c.name)!;
    await t.test(c.name, async () => {
      const { eos, pad } = caseGeneration(c, config, folder.generationConfig);
      const batch = caseBatch(c, pad);
      const realLens = batch.attentionMask.map((m) => m.filter((v) => v === 1).length);
      const capacity = Math.max(...realLens) + c.max_new_tokens;
      const wantFull = exp.rows.some((r) => r.full_logits);
      const runner = new PaddedBatchRunner(model, batch, capacity);
      try {
        const prefill = await runner.prefill({ allLogits: wantFull });
        const logits = prefill.map((l, r) => (wantFull ? l.slice((realLens[r]! - 1) * vocab, realLens[r]! * vocab) : l));
        for (const row of exp.rows) {
          const d = maxAbsDiff(logits[row.row]!, row.last_logits.f64);
          assert.ok(d <= TOL, `row ${row.row}: last logits differ from f64 by ${d}`);
          row.full_logits?.f64.forEach((want, p) => {
            const dp = maxAbsDiff(prefill[row.row]!.subarray(p * vocab, (p + 1) * vocab), want);
            assert.ok(dp <= TOL, `row ${row.row} position ${p}: logits differ by ${dp}`);
          });
        }
        if (c.max_new_tokens === 0) return;
        const { tokens, stepLogits } = await greedy(runner, logits, c.max_new_tokens, eos, pad);
        for (const row of exp.rows) {
          assert.deepEqual(tokens[row.row], row.greedy!.f64, `row ${row.row}: greedy tokens`);
          assertStepLogits(row, stepLogits[row.row]!, TOL);
        }

        if ((exp.checks?.kv_vs_full_max_abs_diff_f64 ?? 0) < 1e-6) {
          const unpadded = batch.inputIds.map((ids, r) => ids.filter((_, i) => batch.attentionMask[r]![i] === 1));
          const full = new PaddedBatchRunner(
            model,
            leftPad(
              unpadded.map((p, r) => [...p, ...tokens[r]!.slice(0, stepLogits[r]!.length - 1)]),
              pad,
            ),
            capacity,
          );
          try {
            const all = await full.prefill({ allLogits: true });
            let worst = 0;
            stepLogits.forEach((steps, r) =>
              steps.forEach((l, s) => {
                const p = realLens[r]! - 1 + s;
                worst = Math.max(worst, maxAbsDiff(l, all[r]!.subarray(p * vocab, (p + 1) * vocab)));
              }),
            );
            assert.ok(worst <= TOL, `KV-cache decoding differs from a full forward by ${worst}`);
          } finally {
            full.dispose();
          }
        }
      } finally {
        runner.dispose();
      }
    });
  }
}
