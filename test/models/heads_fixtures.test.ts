/**
 * The task heads against Hugging Face: every fixture of the task-head MANIFEST.json
 * (QWEN2_HEADS_FIXTURES, default ../shared/fixtures/qwen2-heads) on the reference backend
 * and the wasm backend (2 threads). Per case: the padded batch rebuilt from the case equals
 * the one transformers ran; forwardPadded on it gives the float64 logits within 1e-4 (pooled
 * position, every real position, start/end logits); forward on the unpadded rows gives the
 * same; and the one-label fixture without a pad id refuses a batch of two rows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Backend } from "../../src/backends/ops.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import { loadModelFolder } from "../../src/formats/model_folder.js";
import { localFolder } from "../../src/platform/node_files.js";
import { Qwen2ForQuestionAnswering, Qwen2ForSequenceClassification, Qwen2ForTokenClassification } from "../../src/models/qwen2_heads.js";
import {
  headsFixturesDir,
  headsFixturesMissing,
  headsManifest,
  maxAbsDiff,
  padCase,
  readHeadsJson,
  type HeadCase,
  type HeadExpected,
  type HeadManifestEntry,
} from "../support/heads_fixtures.js";

const TOL = 1e-4;
const missing = headsFixturesMissing();
if (missing) test("task-head fixtures", { skip: missing }, () => {});
const manifest = headsManifest();

const backends: [string, () => Promise<Backend>][] = [
  ["reference", async () => new ReferenceBackend()],
  ["wasm", () => WasmBackend.create({ threads: Math.min(2, availableParallelism()) })],
];

function flat(rows: number[][]): number[] {
  return rows.flat();
}

async function checkFixture(fx: HeadManifestEntry, backend: Backend, t: test.TestContext): Promise<void> {
  const folder = await loadModelFolder(localFolder(join(headsFixturesDir, fx.model)));
  assert.equal(folder.architecture, fx.architecture);
  const source = { config: folder.config, weights: folder.weights };
  const expected = readHeadsJson<HeadExpected>(fx.expected);
  const cases = readHeadsJson<HeadCase[]>(fx.cases);
  const pad = folder.config.pad_token_id;
  assert.equal(pad, expected.pad_token_id);
  try {
    if (fx.kind === "seq_cls") {
      const model = await Qwen2ForSequenceClassification.load(source, backend);
      t.after(() => model.dispose());
      assert.equal(model.labels.length, expected.num_labels);
      for (const c of cases) {
        const exp = expected.cases.find((e) => e.name === c.name)!;
        await t.test(c.name, async () => {
          const batch = padCase(c, pad);
          assert.deepEqual(batch, { inputIds: exp.input_ids, attentionMask: exp.attention_mask });
          const padded = await model.forwardPadded(batch);
          const alone = await model.forward(c.rows);
          exp.rows.forEach((r) => {
            const got = padded[r.row]!;
            assert.equal(got.pooledPosition, r.pooled_position, `row ${r.row} pooled position`);
            const d = maxAbsDiff(got.logits, r.logits!.f64 as number[]);
            assert.ok(d < TOL, `row ${r.row}: max |diff| ${d}`);
            const a = maxAbsDiff(alone[r.row]!.logits, r.logits!.f64 as number[]);
            assert.ok(a < TOL, `row ${r.row} run alone: max |diff| ${a}`);
          });
        });
      }
      if (pad === null) {
        await t.test("no pad id: a batch of two rows is refused, as in transformers", async () => {
          const rows = cases.slice(0, 2).map((c) => c.rows[0]!);
          const width = Math.max(...rows.map((r) => r.length));
          const batch = {
            inputIds: rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]),
            attentionMask: rows.map((r) => [...r.map(() => 1), ...new Array<number>(width - r.length).fill(0)]),
          };
          await assert.rejects(model.forwardPadded(batch), /batch of 2 rows needs a pad token.*no pad_token_id/);
        });
      }
    } else if (fx.kind === "token_cls") {
      const model = await Qwen2ForTokenClassification.load(source, backend);
      t.after(() => model.dispose());
      for (const c of cases) {
        const exp = expected.cases.find((e) => e.name === c.name)!;
        await t.test(c.name, async () => {
          const padded = await model.forwardPadded({ inputIds: exp.input_ids, attentionMask: exp.attention_mask });
          const alone = await model.forward(c.rows);
          exp.rows.forEach((r) => {
            assert.deepEqual(padded[r.row]!.positions, r.real_positions);
            const want = flat(r.logits!.f64 as number[][]);
            const d = maxAbsDiff(padded[r.row]!.logits, want);
            assert.ok(d < TOL, `row ${r.row}: max |diff| ${d}`);
            const a = maxAbsDiff(alone[r.row]!.logits, want);
            assert.ok(a < TOL, `row ${r.row} run alone: max |diff| ${a}`);
          });
        });
      }
    } else {
      const model = await Qwen2ForQuestionAnswering.load(source, backend);
      t.after(() => model.dispose());
      for (const c of cases) {
        const exp = expected.cases.find((e) => e.name === c.name)!;
        await t.test(c.name, async () => {
          const padded = await model.forwardPadded({ inputIds: exp.input_ids, attentionMask: exp.attention_mask });
          const alone = await model.forward(c.rows);
          exp.rows.forEach((r) => {
            const want = r.qa!.f64;
            for (const got of [padded[r.row]!, alone[r.row]!]) {
              const ds = maxAbsDiff(got.startLogits, want.start_logits);
              const de = maxAbsDiff(got.endLogits, want.end_logits);
              assert.ok(ds < TOL && de < TOL, `row ${r.row}: max |diff| start ${ds}, end ${de}`);
            }
            assert.deepEqual(padded[r.row]!.positions, r.real_positions);
          });
        });
      }
    }
  } finally {
    folder.weights.close();
  }
}

for (const [name, make] of backends) {
  for (const fx of manifest) {
    test(`${name} backend: task-head fixture ${fx.name} (${fx.architecture})`, async (t) => {
      const backend = await make();
      t.after(() => backend.dispose());
      await checkFixture(fx, backend, t);
    });
  }
}
