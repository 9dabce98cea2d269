/**
 * PEFT LoRA adapters against Hugging Face transformers + PEFT: every fixture in the LoRA
 * MANIFEST.json (QWEN2_LORA_FIXTURES, default ../shared/fixtures/qwen2-lora), applied
 * unmerged and merged into the weights at load, on the reference and the wasm backends. Per
 * case: last-position logits within 1e-4 of the float64 reference, full logits where given,
 * every greedy token; merged equal to unmerged within 1e-5; the expected number of adapted
 * modules; and the adapter chosen per item in a batch next to a row without it (each row
 * equal to the same row run alone).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loraFixturesDir } from "../support/paths.js";
import { sharedMissing } from "../support/shared.js";
import { caseBatch, caseGeneration, greedy, maxAbsDiff, type CaseInput, type Expected } from "../support/fixtures.js";
import { openFolder } from "../support/files.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { ShardedWasmBackend, WasmBackend } from "../../src/backends/wasm/index.js";
import type { Backend } from "../../src/backends/ops.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { LoraAdapter, withAdapters } from "../../src/models/lora.js";
import type { CausalLM } from "../../src/models/causal_lm.js";
import { mergeLoraWeights } from "../../src/formats/lora_merge.js";
import { openPeftAdapter } from "../../src/formats/peft_adapter.js";
import { localFolder } from "../../src/platform/node_files.js";
import { PaddedBatchRunner } from "../../src/runtime/padded_batch.js";

const TOL = 1e-4;

interface LoraManifestEntry {
  name: string;
  weights_dtype: string;
  model: string;
  adapter: string;
  cases: string;
  expected: string;
  lora_modules: number;
}

function readJson<T>(relative: string): T {
  return JSON.parse(readFileSync(join(loraFixturesDir, relative), "utf8")) as T;
}

const missing = sharedMissing("lora fixtures");
const manifest: LoraManifestEntry[] = missing ? [] : readJson<LoraManifestEntry[]>("MANIFEST.json");
if (missing) test("LoRA fixtures", { skip: missing }, () => {});

/** [name, backend, first fixture only]: the sharded one (layers over several memories, adapters in the last) runs one fixture. */
const backends: [string, () => Promise<Backend>, boolean][] = [
  ["reference", async () => new ReferenceBackend(), false],
  ["wasm", () => WasmBackend.create({ threads: 2 }), false],
  ["sharded wasm", () => ShardedWasmBackend.create(12, { threads: 1, relaxed: false, maxMemoryMiB: 16, shardWeightBytes: 150_000 }), true],
];

for (const [backendName, makeBackend, firstOnly] of backends) {
  for (const fx of firstOnly ? manifest.slice(0, 1) : manifest) {
    test(`LoRA fixture ${fx.name} (${fx.weights_dtype} base) on the ${backendName} backend`, async (t) => {
      const backend = await makeBackend();
      t.after(() => backend.dispose());
      const folder = await openFolder(join(loraFixturesDir, fx.model));
      const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, backend);
      folder.weights.close();
      t.after(() => model.dispose());
      const peft = await openPeftAdapter(localFolder(join(loraFixturesDir, fx.adapter)), folder.config);
      assert.deepEqual(peft.warnings, []);
      const adapter = await LoraAdapter.load(peft, folder.config, backend, { name: fx.name });
      peft.close();
      t.after(() => adapter.dispose());
      assert.equal(adapter.modules.length, fx.lora_modules, "adapted modules");
      if (backend instanceof ShardedWasmBackend) assert.ok(backend.shardsUsed >= 3, `only ${backend.shardsUsed} shards used`);

      const expected = readJson<Expected>(fx.expected);
      const cases = readJson<CaseInput[]>(fx.cases);
      const vocab = model.vocabSize;
      /** Runs every case on `lm` against the expected outputs; returns each case's last-position logits. */
      const checkCases = async (lm: CausalLM, what: string): Promise<Map<string, Float32Array[]>> => {
        const lasts = new Map<string, Float32Array[]>();
        for (const c of cases) {
          const exp = expected.cases.find((e) => e.name === c.name);
          assert.ok(exp, `${fx.name}: no expected output for case ${c.name}`);
          await t.test(`${what}: ${c.name}`, async () => {
            const { eos, pad } = caseGeneration(c, folder.config, folder.generationConfig);
            const batch = caseBatch(c, pad);
            assert.deepEqual(batch.inputIds, exp.input_ids, "padded input_ids");
            const realLens = batch.attentionMask.map((m) => m.filter((v) => v === 1).length);
            const capacity = Math.max(...realLens) + c.max_new_tokens;
            const wantFull = exp.rows.some((r) => r.full_logits);
            const runner = new PaddedBatchRunner(lm, batch, capacity);
            try {
              const prefill = await runner.prefill({ allLogits: wantFull });
              const last = prefill.map((l, r) => (wantFull ? l.slice((realLens[r]! - 1) * vocab, realLens[r]! * vocab) : l));
              lasts.set(c.name, last);
              for (const row of exp.rows) {
                const d = maxAbsDiff(last[row.row]!, row.last_logits.f64);
                assert.ok(d <= TOL, `row ${row.row}: last logits differ from f64 by ${d}`);
                row.full_logits?.f64.forEach((want, p) => {
                  const dp = maxAbsDiff(prefill[row.row]!.subarray(p * vocab, (p + 1) * vocab), want);
                  assert.ok(dp <= TOL, `row ${row.row} position ${row.real_positions[p]}: logits differ by ${dp}`);
                });
              }
              if (c.max_new_tokens === 0) return;
              const { tokens } = await greedy(runner, last, c.max_new_tokens, eos, pad);
              for (const row of exp.rows) assert.deepEqual(tokens[row.row], row.greedy!.f64, `row ${row.row}: greedy tokens`);
            } finally {
              runner.dispose();
            }
          });
        }
        return lasts;
      };

      const unmerged = await checkCases(withAdapters(model, [{ adapter }]), "unmerged");

      // The same adapter merged into the weights at load (W + scale B A, float32).
      const again = await openFolder(join(loraFixturesDir, fx.model));
      const peftAgain = await openPeftAdapter(localFolder(join(loraFixturesDir, fx.adapter)), folder.config);
      const merged = await Qwen2ForCausalLM.load(
        { config: folder.config, weights: mergeLoraWeights(again.weights, [{ adapter: peftAgain }]) },
        backend,
      );
      again.weights.close();
      peftAgain.close();
      t.after(() => merged.dispose());
      const mergedLasts = await checkCases(merged, "merged");
      await t.test("merged and unmerged give the same last logits (within 1e-5)", () => {
        for (const [name, rows] of unmerged) {
          rows.forEach((l, r) => {
            const d = maxAbsDiff(l, mergedLasts.get(name)![r]!);
            assert.ok(d <= 1e-5, `${name} row ${r}: merged and unmerged differ by ${d}`);
          });
        }
      });

      await t.test("per-item choice: adapted and base rows in one batch equal each run alone", async () => {
        const ids = [Int32Array.from([5, 17, 33, 2, 9]), Int32Array.from([40, 41, 3])];
        const alone = async (i: number, withLora: boolean): Promise<Float32Array> => {
          const cache = model.createCache(8);
          try {
            const [l] = await model.forward([{ ids: ids[i]!, cache, ...(withLora ? { adapters: [{ adapter }] } : {}) }]);
            return l!;
          } finally {
            cache.dispose();
          }
        };
        const caches = [model.createCache(8), model.createCache(8), model.createCache(8)];
        try {
          const [a, b, c] = await model.forward([
            { ids: ids[0]!, cache: caches[0]!, adapters: [{ adapter }] },
            { ids: ids[1]!, cache: caches[1]! },
            { ids: ids[1]!, cache: caches[2]!, adapters: [{ adapter, scale: 1 }] },
          ]);
          // Equal up to the order of float sums (a backend may tile a batch's rows differently).
          assert.ok(maxAbsDiff(a!, await alone(0, true)) <= 1e-5, "adapted row 0");
          assert.ok(maxAbsDiff(b!, await alone(1, false)) <= 1e-5, "base row 1");
          assert.ok(maxAbsDiff(c!, await alone(1, true)) <= 1e-5, "adapted row 1");
          assert.ok(maxAbsDiff(b!, c!) > 1e-3, "the adapter changes the logits");
        } finally {
          for (const cache of caches) cache.dispose();
        }
      });
    });
  }
}
