/**
 * Adapters through the runtime: fromPretrained's mergeAdapters gives transformers + PEFT's
 * logits (LoRA fixture, 1e-4) and scale 0 gives the base's; loadAdapter reads a dropped
 * folder's Files as it reads the path; a model that is not a Qwen2ForCausalLM is refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loraFixture } from "../support/lora.js";
import { loraFixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { maxAbsDiff, type Expected } from "../support/fixtures.js";
import { fromPretrained, type LoadedModel } from "../../src/runtime/load.js";
import { loadAdapter } from "../../src/runtime/adapters.js";
import type { AdapterChoice } from "../../src/models/lora.js";
import type { CausalLM } from "../../src/models/causal_lm.js";
import { UnsupportedError } from "../../src/errors.js";

const FIXTURE = "lb_rslora_qv_bf16"; // rsLoRA, rank/alpha patterns, bf16 tied base
const skip = needsShared("lora fixtures");

async function lastLogits(m: LoadedModel, ids: Int32Array, adapters: readonly AdapterChoice[] = []): Promise<Float32Array> {
  const cache = m.model.createCache(ids.length);
  try {
    return (await m.model.forward([{ ids, cache, adapters }]))[0]!;
  } finally {
    cache.dispose();
  }
}

test(`fromPretrained mergeAdapters (fixture ${FIXTURE}): Hugging Face + PEFT's logits; scale 0 is the base`, { skip }, async () => {
  const paths = loraFixture(FIXTURE);
  const expected = JSON.parse(readFileSync(join(loraFixturesDir, "expected", `${FIXTURE}.json`), "utf8")) as Expected;
  const c = expected.cases.find((e) => e.rows.length === 1)!;
  const ids = Int32Array.from(c.input_ids[0]!);
  const merged = await fromPretrained(paths.model, { backend: "reference", mergeAdapters: [paths.adapter] });
  const off = await fromPretrained(paths.model, { backend: "reference", mergeAdapters: [{ source: paths.adapter, scale: 0 }] });
  const base = await fromPretrained(paths.model, { backend: "reference" });
  try {
    const d = maxAbsDiff(await lastLogits(merged, ids), c.rows[0]!.last_logits.f64);
    assert.ok(d <= 1e-4, `merged at load: differs from f64 by ${d}`);
    // bf16 weights merged with a zero delta become their exact float32 values: the base's logits.
    assert.deepEqual(await lastLogits(off, ids), await lastLogits(base, ids));
  } finally {
    for (const m of [merged, off, base]) m.close();
  }
});

test(`loadAdapter reads a dropped folder's Files as it reads the path (fixture ${FIXTURE})`, { skip }, async () => {
  const paths = loraFixture(FIXTURE);
  const m = await fromPretrained(paths.model, { backend: "reference" });
  try {
    const files = readdirSync(paths.adapter).map((name) => new File([readFileSync(join(paths.adapter, name))], name));
    const fromFiles = await loadAdapter(m, files, { name: "dropped" });
    const fromPath = await loadAdapter(m, paths.adapter);
    assert.equal(fromFiles.name, "dropped");
    assert.equal(fromPath.name, paths.adapter);
    const ids = Int32Array.from([5, 9, 200, 31]);
    assert.deepEqual(await lastLogits(m, ids, [{ adapter: fromFiles }]), await lastLogits(m, ids, [{ adapter: fromPath }]));
    fromFiles.dispose();
    fromPath.dispose();
    await assert.rejects(lastLogits(m, ids, [{ adapter: fromPath }]), (e: Error) =>
      /LoRA adapter .* used after dispose\(\)/.test(e.message),
    );
  } finally {
    m.close();
  }
});

test("loadAdapter refuses a model that is not a Qwen2ForCausalLM", async () => {
  const other = { vocabSize: 4, maxContext: 8, createCache: () => null, forward: async () => [], dispose: () => {} } as unknown as CausalLM;
  await assert.rejects(
    loadAdapter(other, "/nowhere"),
    (e: unknown) => e instanceof UnsupportedError && /attach to a Qwen2ForCausalLM/.test(e.message),
  );
});
