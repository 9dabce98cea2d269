/**
 * Quantised GGUF models run on the reference backend: the GGUF path reproduces Hugging
 * Face's float32 logits exactly, and Q8_0 / Q4_0 files give the logits of their dequantised
 * weights, close to float32 by a margin derived from the quantisation step.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { encodeTensor, type GGUFExportType } from "../../src/formats/gguf_qwen2_export.js";
import { writeQwen2GGUF } from "../../src/node/gguf_writer.js";
import type { HostTensor, WeightSource } from "../../src/formats/weights.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import type { WeightDType } from "../../src/tensor/dtype.js";
import { weightToFloat32 } from "../../src/tensor/quant/index.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { MemoryWeights, TempDir } from "./gguf_test_support.js";
import { openFolder, openQwen2GGUFPath } from "../support/files.js";

const dir = new TempDir();
after(() => dir.dispose());

const FIXTURE = "a_tiny_f32";
interface Expected {
  cases: Array<{
    name: string;
    input_ids: number[][];
    rows: Array<{ last_logits: { f64: number[] }; greedy: { f64: number[]; margins_f64: number[] } }>;
  }>;
}
// Loaded before the tests, so that a plain clone (no shared fixtures) skips them instead of failing at import.
const skip = needsShared("fixtures");
let folder: Awaited<ReturnType<typeof openFolder>>;
let cases: Expected["cases"];
before(async () => {
  if (skip) return;
  folder = await openFolder(join(fixturesDir, "models", FIXTURE));
  const expected = JSON.parse(readFileSync(join(fixturesDir, "expected", `${FIXTURE}.json`), "utf8")) as Expected;
  cases = expected.cases.filter((c) => ["short5", "medium13", "long24"].includes(c.name));
});
after(() => folder?.weights.close());

async function lastLogits(path: string, ids: number[]): Promise<Float32Array> {
  const g = await openQwen2GGUFPath(path);
  const model = await Qwen2ForCausalLM.load({ config: g.config, weights: g.weights }, new ReferenceBackend());
  try {
    const cache = model.createCache(ids.length);
    const [logits] = await model.forward([{ ids: Int32Array.from(ids), cache }]);
    cache.dispose();
    return logits!;
  } finally {
    model.dispose();
    g.close();
  }
}

async function exportAs(type: GGUFExportType, weights?: WeightSource, name: string = type): Promise<string> {
  const path = join(dir.path, `${FIXTURE}.${name}.gguf`);
  // --pure: every matrix in the block type under test (the presets give the head Q6_K/Q8_0).
  await writeQwen2GGUF(path, { config: folder.config, weights: weights ?? folder.weights, tokenizer: null, type, pure: true });
  return path;
}

/** The fixture's weights after our quantise → dequantise, as float32. */
async function dequantised(type: "q8_0" | "q4_0"): Promise<WeightSource> {
  const out = new Map<string, HostTensor>();
  for (const name of folder.weights.names()) {
    const src = await folder.weights.read(name);
    const n = src.shape.reduce((a, b) => a * b, 1);
    const stored: WeightDType = src.shape.length === 2 ? type : "f32";
    const values = weightToFloat32(stored, encodeTensor(src, stored), n);
    out.set(name, { name, dtype: "f32", shape: src.shape, data: new Uint8Array(values.buffer) });
  }
  return new MemoryWeights(out);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test("an F32 GGUF runs on the reference backend with Hugging Face's logits (1e-4)", { skip }, async () => {
  const path = await exportAs("f32");
  for (const c of cases) {
    const d = maxDiff(await lastLogits(path, c.input_ids[0]!), c.rows[0]!.last_logits.f64);
    assert.ok(d < 1e-4, `${c.name}: ${d}`);
  }
});

test("Q8_0 and Q4_0 GGUF models compute the logits of their dequantised weights, within the quantisation margin of float32", {
  skip,
}, async () => {
  // Margins: Q8_0 moves each weight by at most half its block's step (amax/254), Q4_0 by up
  // to a full step (amax/8 on the short side). Through this 2-layer hidden-64 model that
  // moves logits (magnitude ~6) by at most 0.2 for Q8_0 and 2.9 for Q4_0, measured with
  // llama.cpp's float32 path on the same dequantised weights; we allow 2.5x and 1.5x that.
  const margin = { q8_0: 0.5, q4_0: 4.5 };
  for (const type of ["q8_0", "q4_0"] as const) {
    const quant = await exportAs(type);
    const deq = await exportAs("f32", await dequantised(type), `${type}-dequantised`);
    for (const c of cases) {
      const ids = c.input_ids[0]!;
      const ours = await lastLogits(quant, ids);
      // Same values, same float32 arithmetic: only the order of decoding differs.
      assert.ok(maxDiff(ours, await lastLogits(deq, ids)) < 1e-5, `${type} ${c.name}: quantised file vs its dequantised copy`);
      const d = maxDiff(ours, c.rows[0]!.last_logits.f64);
      assert.ok(d < margin[type], `${type} ${c.name}: ${d} from float32`);
      assert.ok(d > 1e-4, `${type} ${c.name}: quantisation must change something (${d})`);
      // The most likely token survives Q8_0 where float32's top-1/top-2 margin exceeds twice the error.
      const want = c.rows[0]!.greedy.f64[0]!;
      if (type === "q8_0" && c.rows[0]!.greedy.margins_f64[0]! > 2 * d) {
        let best = 0;
        for (let i = 1; i < ours.length; i++) if (ours[i]! > ours[best]!) best = i;
        assert.equal(best, want, `${c.name}: top-1 under Q8_0`);
      }
    }
  }
});
