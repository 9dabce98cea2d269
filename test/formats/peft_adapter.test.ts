/**
 * PEFT adapter folders: which modules an adapter_config.json adapts and with what scale
 * (PEFT's matching rules, one case each), and every refusal with its message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import { parseLoraConfig, loraModuleParams } from "../../src/formats/peft_config.js";
import { openPeftAdapter, resolveLoraModules } from "../../src/formats/peft_adapter.js";
import { safetensorsChunks } from "../../src/formats/safetensors_writer.js";
import { memoryFiles } from "../../src/io/byte_source.js";
import { FormatError, UnsupportedError } from "../../src/errors.js";

/** A 4-layer model: hidden 32, 4 heads of 8 (2 KV heads: k/v out 16), intermediate 48. */
const base = parseQwen2Config({
  model_type: "qwen2",
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});

const config = (fields: Record<string, unknown>) =>
  parseLoraConfig({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj"], ...fields }, "adapter_config.json");
const adapted = (fields: Record<string, unknown>) => resolveLoraModules(config(fields), base).map((m) => m.module);
const layer = (l: number, m: string) => `model.layers.${l}.${m}`;

test("target_modules as a list: an entry matches a whole name or its .suffix", () => {
  assert.deepEqual(
    adapted({ target_modules: ["o_proj"] }),
    [0, 1, 2, 3].map((l) => layer(l, "self_attn.o_proj")),
  );
  assert.deepEqual(adapted({ target_modules: ["mlp.down_proj", "model.layers.2.self_attn.k_proj"] }), [
    layer(0, "mlp.down_proj"),
    layer(1, "mlp.down_proj"),
    layer(2, "self_attn.k_proj"),
    layer(2, "mlp.down_proj"),
    layer(3, "mlp.down_proj"),
  ]);
  // "proj" is no module's last segment: nothing matches, which PEFT refuses too.
  assert.throws(
    () => adapted({ target_modules: ["proj"] }),
    (e) => e instanceof FormatError && /matches no linear layer/.test(e.message),
  );
});

test("target_modules as a string: a regex over the whole name; all-linear; null is PEFT's qwen2 default", () => {
  assert.deepEqual(adapted({ target_modules: String.raw`.*\.1\.self_attn\.(q|v)_proj` }), [
    layer(1, "self_attn.q_proj"),
    layer(1, "self_attn.v_proj"),
  ]);
  // A bare name as a regex must match the whole module name, so it matches nothing.
  assert.throws(() => adapted({ target_modules: "q_proj" }), /matches no linear layer/);
  assert.equal(adapted({ target_modules: "all-linear" }).length, 4 * 7);
  assert.deepEqual(adapted({ target_modules: null }).slice(0, 2), [layer(0, "self_attn.q_proj"), layer(0, "self_attn.v_proj")]);
  assert.equal(adapted({ target_modules: null }).length, 8);
});

test("layers_to_transform (index or list), layers_pattern, a full name skipping the layer filter, exclude_modules", () => {
  assert.deepEqual(adapted({ layers_to_transform: 2 }), [layer(2, "self_attn.q_proj")]);
  assert.deepEqual(adapted({ layers_to_transform: [1, 3] }), [layer(1, "self_attn.q_proj"), layer(3, "self_attn.q_proj")]);
  assert.deepEqual(adapted({ layers_to_transform: [1], layers_pattern: "layers" }), [layer(1, "self_attn.q_proj")]);
  assert.throws(() => adapted({ layers_to_transform: [1], layers_pattern: "h" }), /matches no linear layer/);
  assert.deepEqual(adapted({ target_modules: ["q_proj", layer(0, "mlp.up_proj")], layers_to_transform: [1] }), [
    layer(0, "mlp.up_proj"),
    layer(1, "self_attn.q_proj"),
  ]);
  assert.deepEqual(
    adapted({ target_modules: "all-linear", exclude_modules: ["mlp.gate_proj", "up_proj", "down_proj", "k_proj", "v_proj", "o_proj"] })
      .length,
    4,
  );
  assert.deepEqual(adapted({ exclude_modules: String.raw`model\.layers\.[0-2]\..*` }), [layer(3, "self_attn.q_proj")]);
  assert.throws(() => config({ target_modules: ".*q_proj", layers_to_transform: [1] }), /cannot be used when target_modules is a regex/);
  assert.throws(() => config({ layers_pattern: "layers" }), /layers_pattern is given without layers_to_transform/);
});

test("scale: alpha / r, alpha / sqrt(r) with use_rslora, rank_pattern and alpha_pattern by name suffix", () => {
  const plain = config({});
  assert.deepEqual(loraModuleParams(plain, layer(0, "self_attn.q_proj")), { r: 4, alpha: 8, scale: 2 });
  const rs = config({ use_rslora: true, r: 16, lora_alpha: 8 });
  assert.equal(loraModuleParams(rs, layer(0, "self_attn.q_proj")).scale, 2);
  const patterned = config({
    rank_pattern: { "layers.1.self_attn.q_proj": 2, [layer(3, "self_attn.q_proj")]: 8 },
    alpha_pattern: { "self_attn.q_proj": 3, q_proj: 5 },
  });
  assert.deepEqual(loraModuleParams(patterned, layer(1, "self_attn.q_proj")), { r: 2, alpha: 3, scale: 1.5 });
  assert.deepEqual(loraModuleParams(patterned, layer(3, "self_attn.q_proj")), { r: 8, alpha: 3, scale: 3 / 8 });
  // The pattern must match after a '.': "1.self_attn.q_proj" does not match "layers.11...": only whole segments.
  const segments = config({ rank_pattern: { "1.self_attn.q_proj": 2 } });
  assert.equal(loraModuleParams(segments, layer(1, "self_attn.q_proj")).r, 2);
  assert.equal(loraModuleParams(segments, "model.layers.21.self_attn.q_proj").r, 4);
});

/** An adapter folder in memory: adapter_config.json and a safetensors file of zero-filled f32 tensors. */
async function adapterFolder(
  fields: Record<string, unknown>,
  tensors: [name: string, shape: number[]][],
  extra: Record<string, string | Uint8Array> = {},
) {
  const chunks: Uint8Array[] = [];
  for await (const c of safetensorsChunks(
    tensors.map(([name, shape]) => ({ name, dtype: "f32" as const, shape, data: new Uint8Array(shape[0]! * shape[1]! * 4) })),
  ))
    chunks.push(c);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return memoryFiles(
    {
      "adapter_config.json": JSON.stringify({
        peft_type: "LORA",
        r: 4,
        lora_alpha: 8,
        target_modules: ["q_proj"],
        layers_to_transform: [0],
        ...fields,
      }),
      ...(tensors.length > 0 ? { "adapter_model.safetensors": bytes } : {}),
      ...extra,
    },
    "/adapters/test",
  );
}
const key = (module: string, ab: "A" | "B") => `base_model.model.${module}.lora_${ab}.weight`;
const q0: [string, number[]][] = [
  [key(layer(0, "self_attn.q_proj"), "A"), [4, 32]],
  [key(layer(0, "self_attn.q_proj"), "B"), [32, 4]],
];

test("an adapter folder opens: modules with their tensor names and shapes", async () => {
  const a = await openPeftAdapter(await adapterFolder({}, q0), base);
  try {
    assert.equal(a.modules.length, 1);
    assert.deepEqual(
      { ...a.modules[0]! },
      {
        module: layer(0, "self_attn.q_proj"),
        layer: 0,
        key: "q",
        r: 4,
        alpha: 8,
        scale: 2,
        inFeatures: 32,
        outFeatures: 32,
        a: q0[0]![0],
        b: q0[1]![0],
      },
    );
    assert.deepEqual(a.warnings, []);
  } finally {
    a.close();
  }
  const partial = await openPeftAdapter(await adapterFolder({ layers_to_transform: [0, 1] }, q0), base);
  assert.match(partial.warnings.join("\n"), /no tensors for model\.layers\.1\.self_attn\.q_proj/);
  partial.close();
});

/** Every refusal: [what, config fields, tensors, extra files, error class, message]. */
const refusals: [
  string,
  Record<string, unknown>,
  [string, number[]][],
  Record<string, string>,
  typeof FormatError | typeof UnsupportedError,
  RegExp,
][] = [
  ["another peft_type", { peft_type: "PREFIX_TUNING" }, q0, {}, UnsupportedError, /peft_type "PREFIX_TUNING" is not supported/],
  ["DoRA", { use_dora: true }, q0, {}, UnsupportedError, /use_dora true: DoRA/],
  ["modules_to_save", { modules_to_save: ["lm_head"] }, q0, {}, UnsupportedError, /modules_to_save \["lm_head"\]/],
  ["bias all", { bias: "all" }, q0, {}, UnsupportedError, /bias "all" is not supported/],
  ["bias lora_only", { bias: "lora_only" }, q0, {}, UnsupportedError, /bias "lora_only" is not supported/],
  ["lora_bias", { lora_bias: true }, q0, {}, UnsupportedError, /lora_bias true/],
  ["target_parameters", { target_parameters: ["mlp.experts.down_proj"] }, q0, {}, UnsupportedError, /target_parameters/],
  ["lm_head target", { target_modules: ["q_proj", "lm_head"] }, q0, {}, UnsupportedError, /target_modules matches lm_head \(the LM head\)/],
  [
    "embedding target",
    { target_modules: ["embed_tokens"], layers_to_transform: null },
    q0,
    {},
    UnsupportedError,
    /target_modules matches model\.embed_tokens \(the token embedding\)/,
  ],
  [
    "all-linear leaves the head out, a regex does not",
    { target_modules: ".*", layers_to_transform: null },
    q0,
    {},
    UnsupportedError,
    /matches model\.embed_tokens/,
  ],
  [
    "a pickle only",
    {},
    [],
    { "adapter_model.bin": "\u0080\u0002" },
    UnsupportedError,
    /adapter_model\.bin: PyTorch pickle adapters are not loaded/,
  ],
  ["no weights", {}, [], {}, FormatError, /\/adapters\/test: no adapter_model\.safetensors/],
  [
    "an embedding LoRA tensor",
    {},
    [...q0, ["base_model.model.model.embed_tokens.lora_embedding_A", [4, 64]]],
    {},
    UnsupportedError,
    /lora_embedding_A is a LoRA on an embedding/,
  ],
  [
    "a DoRA tensor",
    {},
    [...q0, [`base_model.model.${layer(0, "self_attn.q_proj")}.lora_magnitude_vector`, [1, 32]]],
    {},
    UnsupportedError,
    /DoRA/,
  ],
  [
    "a trained bias",
    {},
    [...q0, [`base_model.model.${layer(0, "self_attn.q_proj")}.bias`, [1, 32]]],
    {},
    UnsupportedError,
    /fully trained tensor/,
  ],
  [
    "an untargeted module",
    {},
    [...q0, [key(layer(1, "self_attn.q_proj"), "A"), [4, 32]]],
    {},
    FormatError,
    /adapts model\.layers\.1\.self_attn\.q_proj, which adapter_config\.json does not target/,
  ],
  ["a wrong shape", { r: 8 }, q0, {}, FormatError, /lora_A\.weight has shape \[4, 32\], expected \[8, 32\]/],
  ["A without B", {}, [q0[0]!], {}, FormatError, /has lora_A but no .*lora_B\.weight/],
  [
    "a bad regex",
    { target_modules: "(?P<x>q_proj)", layers_to_transform: null },
    q0,
    {},
    FormatError,
    /target_modules: .* is not a regular expression JavaScript reads/,
  ],
];

for (const [what, fields, tensors, extra, kind, message] of refusals) {
  test(`refuses ${what}, naming the field or tensor`, async () => {
    await assert.rejects(
      async () => (await openPeftAdapter(await adapterFolder(fields, tensors, extra), base)).close(),
      (e: unknown) => {
        assert.ok(e instanceof kind, `${what}: ${String(e)}`);
        assert.match((e as Error).message, message);
        return true;
      },
    );
  });
}

test("refuses a model folder given as an adapter", async () => {
  await assert.rejects(
    openPeftAdapter(memoryFiles({ "config.json": "{}" }, "/models/base"), base),
    /\/models\/base: no adapter_config\.json: this looks like a model folder/,
  );
});
