/**
 * Proof against Hugging Face: every fixture in MANIFEST.json under the fixture root
 * (QWEN2_FIXTURES, default ../shared/fixtures/qwen2) runs on the reference backend.
 * Per case: last-position logits within 1e-4 of the float64 reference, full logits where
 * given, every greedy token (with the case's eos/pad/ignore_eos), padded batch rows equal to
 * the same rows run alone, and KV-cache decoding equal to a full forward.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
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
import { layerWindows } from "../../src/formats/config.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { ropeParameters } from "../../src/models/rope.js";
import { leftPad, positionIds, PaddedBatchRunner } from "../../src/runtime/padded_batch.js";
import { openFolder } from "../support/files.js";

const TOL = 1e-4;

const manifest = loadManifest();

for (const fx of manifest) {
  test(`fixture ${fx.name}`, async (t) => {
    const folder = await openFolder(join(fixturesDir, fx.model));
    const backend = new ReferenceBackend();
    const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend);
    folder.weights.close();
    const expected = readFixtureJson<Expected>(fx.expected);
    const cases = readFixtureJson<CaseInput[]>(fx.cases);
    const config = folder.config;

    await t.test("resolved config: head_dim, layer windows, RoPE", async () => {
      assert.equal(config.head_dim, expected.model.head_dim);
      assert.deepEqual([...layerWindows(config)], expected.model.layer_windows);
      assert.deepEqual(
        expected.model.layer_windows.flatMap((w, i) => (w === null ? [] : [i])),
        fx.sliding_layers,
      );
      const rope = ropeParameters(config, 0);
      assert.ok(
        Math.abs(rope.attentionScaling - expected.model.rope.attention_scaling) < 1e-12,
        `attention scaling ${rope.attentionScaling}`,
      );
      const rel = Math.max(...expected.model.rope.inv_freq.map((f, i) => Math.abs(rope.invFreq[i]! - f) / f));
      assert.ok(rel < 1e-12, `inv_freq relative error ${rel}`);
    });

    for (const c of cases) {
      const exp = expected.cases.find((e) => e.name === c.name);
      assert.ok(exp, `${fx.name}: no expected output for case ${c.name}`);
      await t.test(c.name, async () => {
        const { eos, pad } = caseGeneration(c, config, folder.generationConfig);
        const batch = caseBatch(c, pad);
        assert.deepEqual(batch.inputIds, exp.input_ids, "padded input_ids");
        assert.deepEqual(batch.attentionMask, exp.attention_mask, "attention_mask");
        assert.deepEqual(positionIds(batch.attentionMask), exp.position_ids, "position_ids");
        if (exp.generation && !c.ignore_eos) {
          assert.deepEqual(
            eos,
            exp.generation.eos_token_id === null ? [] : ([] as number[]).concat(exp.generation.eos_token_id),
            "eos_token_id",
          );
          assert.equal(pad, exp.generation.pad_token_id, "pad_token_id");
        }

        const realLens = batch.attentionMask.map((m) => m.filter((v) => v === 1).length);
        const capacity = Math.max(...realLens) + c.max_new_tokens;
        const wantFull = exp.rows.some((r) => r.full_logits);
        const runner = new PaddedBatchRunner(model, batch, capacity);
        try {
          const prefill = await runner.prefill({ allLogits: wantFull });
          const vocab = model.vocabSize;
          const last = prefill.map((l, r) => (wantFull ? l.slice((realLens[r]! - 1) * vocab, realLens[r]! * vocab) : l));
          for (const row of exp.rows) {
            const d = maxAbsDiff(last[row.row]!, row.last_logits.f64);
            assert.ok(d <= TOL, `row ${row.row}: last logits differ from f64 by ${d}`);
            if (row.full_logits) {
              row.full_logits.f64.forEach((want, p) => {
                const got = prefill[row.row]!.subarray(p * vocab, (p + 1) * vocab);
                const dp = maxAbsDiff(got, want);
                assert.ok(dp <= TOL, `row ${row.row} position ${row.real_positions[p]}: logits differ by ${dp}`);
              });
            }
          }
          if (c.max_new_tokens === 0) return;

          const { tokens, stepLogits } = await greedy(runner, last, c.max_new_tokens, eos, pad);
          for (const row of exp.rows) {
            assert.deepEqual(tokens[row.row], row.greedy!.f64, `row ${row.row}: greedy tokens`);
            assertStepLogits(row, stepLogits[row.row]!, TOL);
          }

          // KV-cache decoding against one full forward over prompt + generated tokens.
          const hfKvEqualsFull = (exp.checks?.kv_vs_full_max_abs_diff_f64 ?? 0) < 1e-6;
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
            stepLogits.forEach((steps, r) => {
              steps.forEach((l, s) => {
                const p = realLens[r]! - 1 + s;
                worst = Math.max(worst, maxAbsDiff(l, all[r]!.subarray(p * vocab, (p + 1) * vocab)));
              });
            });
            // Dynamic NTK RoPE past max_position_embeddings: transformers' cached keys keep the
            // frequencies they were rotated with, so its decoding differs from a full forward
            // there; the per-step logits above are then the oracle.
            if (hfKvEqualsFull) assert.ok(worst <= TOL, `KV-cache decoding differs from a full forward by ${worst}`);
          } finally {
            full.dispose();
          }

          // Padded rows equal the same rows run alone (unless the batch couples them through
          // dynamic RoPE's longest-sequence rule).
          const coupled =
            config.rope_scaling?.rope_type === "dynamic" && Math.max(...realLens) + c.max_new_tokens > config.max_position_embeddings;
          if (batch.inputIds.length > 1 && !coupled) {
            for (const [r, ids] of unpadded.entries()) {
              const alone = new PaddedBatchRunner(model, leftPad([ids], pad), capacity);
              try {
                const [l] = await alone.prefill();
                assert.ok(maxAbsDiff(l!, last[r]!) <= 1e-5, `row ${r}: padded and unpadded last logits differ`);
                const g = await greedy(alone, [l!], c.max_new_tokens, eos, pad);
                const mine = tokens[r]!.slice(0, g.tokens[0]!.length);
                assert.deepEqual(g.tokens[0], mine, `row ${r}: padded and unpadded greedy tokens differ`);
              } finally {
                alone.dispose();
              }
            }
          }
        } finally {
          runner.dispose();
        }
      });
    }

    await t.test("hidden-state norms per layer (debug hook) match the reference", async () => {
      const c = expected.cases.find((e) => e.rows.length === 1 && e.rows[0]!.hidden_norms);
      if (!c) return; // this fixture set records no norms
      const row = c.rows[0]!;
      const ids = Int32Array.from(row.real_positions.map((p) => c.input_ids[0]![p]!));
      const norms = new Map<string, number[]>();
      model.setHook((name, layer, values, cols) => {
        const key = name === "layer_out" ? `layer_${layer}` : name;
        if (!row.hidden_norms![key]) return;
        const out: number[] = [];
        for (let r = 0; r < values.length / cols; r++) {
          let s = 0;
          for (let k = 0; k < cols; k++) s += values[r * cols + k]! ** 2;
          out.push(Math.sqrt(s));
        }
        norms.set(key, out);
      });
      const cache = model.createCache(ids.length);
      try {
        await model.forward([{ ids, cache }]);
      } finally {
        model.setHook(null);
        cache.dispose();
      }
      for (const [key, want] of Object.entries(row.hidden_norms!)) {
        const got = norms.get(key);
        assert.ok(got, `hook never reported ${key}`);
        const d = maxAbsDiff(got, want);
        assert.ok(d <= 1e-4 * Math.max(1, ...want), `${key}: hidden norms differ by ${d}`);
      }
    });

    model.dispose();
  });
}
