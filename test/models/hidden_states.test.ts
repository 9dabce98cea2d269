/**
 * Qwen2Model hidden states against Hugging Face: the per-position L2 norms the shared Qwen2
 * fixtures record after the embedding, after each layer and after the final norm match what
 * allHiddenStates returns (transformers' output_hidden_states: embeddings, each layer's
 * output but the last, then the final-normed states), on the reference backend with a chunk
 * size small enough to take several steps; the last entry equals hiddenStates().
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { Qwen2Model } from "../../src/models/qwen2.js";
import { unpaddedRows } from "../../src/runtime/padded_batch.js";
import { caseBatch, loadManifest, readFixtureJson, type CaseInput, type Expected } from "../support/fixtures.js";
import { fixturesDir } from "../support/paths.js";
import { openFolder } from "../support/files.js";

function norms(v: Float32Array, hidden: number): number[] {
  return Array.from({ length: v.length / hidden }, (_, t) => Math.hypot(...v.subarray(t * hidden, (t + 1) * hidden)));
}

for (const fx of loadManifest()) {
  test(`Qwen2Model hidden states, every layer: fixture ${fx.name}`, async () => {
    const folder = await openFolder(join(fixturesDir, fx.model));
    const model = await Qwen2Model.load({ config: folder.config, weights: folder.weights }, new ReferenceBackend(), { chunkSize: 4 });
    folder.weights.close();
    const layers = folder.config.num_hidden_layers;
    const hidden = folder.config.hidden_size;
    const names = ["embed", ...Array.from({ length: layers - 1 }, (_, l) => `layer_${l}`), "final_norm"];
    const expected = readFixtureJson<Expected>(fx.expected);
    const cases = readFixtureJson<CaseInput[]>(fx.cases);
    let checked = 0;
    try {
      for (const c of cases) {
        const exp = expected.cases.find((e) => e.name === c.name)!;
        const rows = unpaddedRows(caseBatch(c, 0));
        const caches = rows.map((r) => model.createCache(r.length));
        const all = await model.allHiddenStates(rows.map((ids, i) => ({ ids, cache: caches[i]! })));
        for (const cache of caches) cache.dispose();
        for (const r of exp.rows) {
          if (!r.hidden_norms) continue;
          const got = all[r.row]!;
          assert.equal(got.length, layers + 1);
          names.forEach((name, i) => {
            const want = r.hidden_norms![name]!;
            const have = norms(got[i]!, hidden);
            const worst = Math.max(...want.map((w, t) => Math.abs(have[t]! - w) / Math.max(1, w)));
            assert.ok(worst < 1e-4, `${c.name} row ${r.row} ${name}: relative norm error ${worst}`);
          });
          checked++;
        }
        const lastCaches = rows.map((r) => model.createCache(r.length));
        const last = await model.hiddenStates(rows.map((ids, i) => ({ ids, cache: lastCaches[i]! })));
        for (const cache of lastCaches) cache.dispose();
        last.forEach((h, i) => assert.deepEqual(all[i]![layers], h));
      }
      assert.ok(checked > 0, "no case records hidden_norms");
    } finally {
      model.dispose();
    }
  });
}
