/**
 * LoRA next to a quantised base: the fixture base re-encoded as Q8_0 blocks, the adapter in
 * float32 beside it (unmerged). On the reference backend (which decodes weight rows and keeps
 * activations in float32), Q8_0 + LoRA equals the dequantised float32 base + LoRA within 1e-5:
 * the adapter path adds no error of its own. On the wasm backend (activations quantised to
 * Q8_0 as ggml does), Q8_0 + LoRA stays within 5% of the largest logit of our float path
 * (float32 base + LoRA on the reference backend) and gives its greedy tokens, and the adapter
 * moves the logits as it does in float (its effect within 5% of its own size). On this random
 * model the Q8_0 base alone is 0.33 from the float base (largest logit 7): the base's
 * quantisation, not the adapter, sets the tolerance.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loraFixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { argmax, maxAbsDiff } from "../support/fixtures.js";
import { openFolder } from "../support/files.js";
import { QuantizedSource } from "../support/quantized_source.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import type { Backend } from "../../src/backends/ops.js";
import type { WeightSource } from "../../src/formats/weights.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { LoraAdapter, type AdapterChoice } from "../../src/models/lora.js";
import { openPeftAdapter } from "../../src/formats/peft_adapter.js";
import { localFolder } from "../../src/platform/node_files.js";

const FIXTURE = "la_all_modules_r4"; // every linear layer adapted, f32 base
const PROMPT = Int32Array.from([418, 37, 402, 40, 261, 502, 191, 250, 43]);
const STEPS = 6;

/** Greedy decoding of PROMPT (or feeding `forced` tokens instead): every step's logits and the argmax tokens. */
async function decode(
  lm: Qwen2ForCausalLM,
  adapters: readonly AdapterChoice[],
  forced?: readonly number[],
): Promise<{ logits: Float32Array[]; tokens: number[] }> {
  const cache = lm.createCache(PROMPT.length + STEPS);
  try {
    const logits: Float32Array[] = [];
    const tokens: number[] = [];
    let ids = PROMPT;
    for (let s = 0; s < STEPS; s++) {
      const [l] = await lm.forward([{ ids, cache, adapters }]);
      logits.push(l!);
      tokens.push(argmax(l!));
      ids = Int32Array.from([forced?.[s] ?? tokens.at(-1)!]);
    }
    return { logits, tokens };
  } finally {
    cache.dispose();
  }
}

test(`LoRA fixture ${FIXTURE} on a Q8_0 base, unmerged`, { skip: needsShared("lora fixtures") }, async (t) => {
  const folder = await openFolder(join(loraFixturesDir, "models", `${FIXTURE}_base`));
  t.after(() => folder.weights.close());
  const load = async (backend: Backend, weights: WeightSource) => {
    const model = await Qwen2ForCausalLM.load({ config: folder.config, weights }, backend);
    const peft = await openPeftAdapter(localFolder(join(loraFixturesDir, "adapters", FIXTURE)), folder.config);
    const adapter = await LoraAdapter.load(peft, folder.config, backend);
    peft.close();
    t.after(() => {
      adapter.dispose();
      model.dispose();
    });
    return { model, lora: [{ adapter }] };
  };
  const reference = new ReferenceBackend();
  const wasm = await WasmBackend.create({ threads: 2 });
  t.after(() => wasm.dispose());

  const float = await load(reference, folder.weights);
  const floatRun = await decode(float.model, float.lora);
  const floatBase = await decode(float.model, [], floatRun.tokens);

  await t.test("reference backend: Q8_0 + LoRA equals the dequantised base + LoRA (1e-5)", async () => {
    const q8 = await load(reference, new QuantizedSource(folder.weights, "q8_0"));
    const deq = await load(reference, new QuantizedSource(folder.weights, "q8_0", true));
    const a = await decode(q8.model, q8.lora);
    const b = await decode(deq.model, deq.lora);
    a.logits.forEach((l, s) => assert.ok(maxAbsDiff(l, b.logits[s]!) <= 1e-5, `step ${s}: differs by ${maxAbsDiff(l, b.logits[s]!)}`));
    assert.deepEqual(a.tokens, b.tokens);
  });

  await t.test("wasm backend: Q8_0 + LoRA within 5% of the float path, same greedy tokens", async () => {
    const q8 = await load(wasm, new QuantizedSource(folder.weights, "q8_0"));
    const run = await decode(q8.model, q8.lora);
    const base = await decode(q8.model, [], floatRun.tokens);
    assert.deepEqual(run.tokens, floatRun.tokens, "greedy tokens");
    // Equal tokens (and the base runs fed the same ones), so step s compares the same context.
    const largest = (x: Float32Array) => maxAbsDiff(x, new Float32Array(x.length));
    run.logits.forEach((l, s) => {
      const d = maxAbsDiff(l, floatRun.logits[s]!);
      assert.ok(d <= 0.05 * largest(floatRun.logits[s]!), `step ${s}: Q8_0 + LoRA differs from float by ${d}`);
      const delta = l.map((v, i) => v - base.logits[s]![i]!);
      const floatDelta = floatRun.logits[s]!.map((v, i) => v - floatBase.logits[s]![i]!);
      assert.ok(largest(floatDelta) > 1, "the adapter changes the float logits");
      const dd = maxAbsDiff(delta, floatDelta);
      assert.ok(
        dd <= 0.05 * largest(floatDelta),
        `step ${s}: the adapter's effect differs from float by ${dd} (its size ${largest(floatDelta)})`,
      );
    });
  });
});
