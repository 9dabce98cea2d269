import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../src/errors.js";
import { layerWindows } from "../../src/formats/config.js";
import { loadQwen2Config, parseGenerationConfig, parseQwen2Config, QWEN2_DEFAULTS } from "../../src/formats/config_parse.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared, sharedMissing } from "../support/shared.js";
import { localFolder } from "../../src/platform/node_files.js";

interface ManifestEntry {
  name: string;
  model: string;
  expected: string;
  sliding_layers: number[];
}

const manifest = sharedMissing("fixtures") ? [] : (JSON.parse(readFileSync(join(fixturesDir, "MANIFEST.json"), "utf8")) as ManifestEntry[]);

function expectFieldError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
    assert.equal(err.file, "config.json");
    assert.match(err.detail, pattern);
    return true;
  });
}

test("every fixture config resolves to the expected head_dim, windows and rope type", { skip: needsShared("fixtures") }, async () => {
  assert.ok(manifest.length > 0);
  for (const entry of manifest) {
    const expected = JSON.parse(readFileSync(join(fixturesDir, entry.expected), "utf8")) as {
      model: {
        head_dim: number;
        layer_windows: (number | null)[];
        vocab_size: number;
        num_key_value_heads: number;
        rms_norm_eps: number;
        tie_word_embeddings: boolean;
        rope: { rope_type: string; rope_theta: number };
      };
    };
    const warnings: string[] = [];
    const c = await loadQwen2Config(localFolder(join(fixturesDir, entry.model)), warnings);
    const m = expected.model;
    assert.equal(c.head_dim, m.head_dim, entry.name);
    assert.deepEqual(c.layer_windows, m.layer_windows, entry.name);
    assert.deepEqual(
      c.layer_types.flatMap((t, i) => (t === "sliding_attention" ? [i] : [])),
      entry.sliding_layers,
      entry.name,
    );
    assert.equal(c.vocab_size, m.vocab_size);
    assert.equal(c.num_key_value_heads, m.num_key_value_heads);
    assert.equal(c.rms_norm_eps, m.rms_norm_eps);
    assert.equal(c.tie_word_embeddings, m.tie_word_embeddings);
    assert.equal(c.rope_theta, m.rope.rope_theta);
    assert.equal(c.rope_scaling?.rope_type ?? "default", m.rope.rope_type, entry.name);
    assert.deepEqual(warnings, [], entry.name);
  }
});

test("an empty config gets every Hugging Face default", async () => {
  const w: string[] = [];
  const c = parseQwen2Config({ model_type: "qwen2" }, "config.json", w);
  assert.equal(c.vocab_size, 151936);
  assert.equal(c.hidden_size, 4096);
  assert.equal(c.intermediate_size, 22016);
  assert.equal(c.num_hidden_layers, 32);
  assert.equal(c.num_attention_heads, 32);
  assert.equal(c.num_key_value_heads, 32, "kv heads default to heads");
  assert.equal(c.head_dim, 128);
  assert.equal(c.max_position_embeddings, 32768);
  assert.equal(c.rms_norm_eps, 1e-6);
  assert.equal(c.rope_theta, 10000);
  assert.equal(c.rope_scaling, null);
  assert.equal(c.tie_word_embeddings, false);
  assert.equal(c.use_sliding_window, false);
  assert.equal(c.sliding_window, null, "HF drops the window when use_sliding_window is false");
  assert.equal(c.max_window_layers, 28);
  assert.equal(c.initializer_range, 0.02);
  assert.equal(c.use_cache, true);
  assert.equal(c.attention_dropout, 0);
  assert.deepEqual(c.eos_token_id, []);
  assert.equal(c.bos_token_id, null);
  assert.equal(layerWindows(c).length, 32);
  assert.ok(layerWindows(c).every((x) => x === null));
  assert.deepEqual(w, []);
  assert.equal(QWEN2_DEFAULTS.sliding_window, 4096);
});

test("sliding windows: layer i slides iff use_sliding_window and i >= max_window_layers; explicit layer_types wins", async () => {
  const base = { model_type: "qwen2", num_hidden_layers: 4, hidden_size: 64, num_attention_heads: 4 };
  let c = parseQwen2Config({ ...base, use_sliding_window: true, sliding_window: 16, max_window_layers: 1 });
  assert.deepEqual(c.layer_windows, [null, 16, 16, 16]);
  c = parseQwen2Config({ ...base, use_sliding_window: false, sliding_window: 16, max_window_layers: 1 });
  assert.deepEqual(c.layer_windows, [null, null, null, null]);
  c = parseQwen2Config({
    ...base,
    use_sliding_window: true,
    sliding_window: 16,
    max_window_layers: 0,
    layer_types: ["full_attention", "sliding_attention", "full_attention", "full_attention"],
  });
  assert.deepEqual(c.layer_windows, [null, 16, null, null]);
  const w: string[] = [];
  c = parseQwen2Config(
    { ...base, use_sliding_window: false, layer_types: ["sliding_attention", "full_attention", "full_attention", "full_attention"] },
    "config.json",
    w,
  );
  assert.deepEqual(c.layer_windows, [null, null, null, null]);
  assert.match(w.join("\n"), /layer_types marks sliding layers but use_sliding_window is false/);
  expectFieldError(
    () => parseQwen2Config({ ...base, layer_types: ["full_attention"] }),
    /layer_types: has 1 entries but num_hidden_layers is 4/,
  );
  expectFieldError(
    () => parseQwen2Config({ ...base, layer_types: ["full_attention", "x", "full_attention", "full_attention"] }),
    /layer_types\[1\]/,
  );
  expectFieldError(
    () => parseQwen2Config({ ...base, use_sliding_window: true, sliding_window: 0 }),
    /sliding_window: must be a positive integer/,
  );
});

test("head_dim given explicitly wins over hidden_size / heads", async () => {
  const w: string[] = [];
  const c = parseQwen2Config({ model_type: "qwen2", hidden_size: 64, num_attention_heads: 4, head_dim: 32 }, "config.json", w);
  assert.equal(c.head_dim, 32);
  assert.match(w.join("\n"), /head_dim 32 x num_attention_heads 4 = 128 differs from hidden_size 64/);
  expectFieldError(
    () => parseQwen2Config({ model_type: "qwen2", hidden_size: 66, num_attention_heads: 4 }),
    /hidden_size: 66 is not divisible by num_attention_heads 4/,
  );
});

test("rope scaling: type or rope_type, rope_parameters, required fields, contradictions", async () => {
  const base = { model_type: "qwen2", hidden_size: 64, num_attention_heads: 4, max_position_embeddings: 128 };
  assert.deepEqual(parseQwen2Config({ ...base, rope_scaling: { type: "linear", factor: 2 } }).rope_scaling, {
    rope_type: "linear",
    factor: 2,
  });
  assert.deepEqual(parseQwen2Config({ ...base, rope_scaling: { rope_type: "dynamic", factor: 2 } }).rope_scaling, {
    rope_type: "dynamic",
    factor: 2,
  });
  assert.deepEqual(parseQwen2Config({ ...base, rope_scaling: { rope_type: "default" } }).rope_scaling, null);
  const yarn = parseQwen2Config({
    ...base,
    rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32, attention_factor: 1.5 },
  }).rope_scaling;
  assert.deepEqual(yarn, {
    rope_type: "yarn",
    factor: 4,
    original_max_position_embeddings: 32,
    beta_fast: 32,
    beta_slow: 1,
    truncate: true,
    attention_factor: 1.5,
  });

  const v5 = parseQwen2Config({ ...base, rope_parameters: { rope_type: "default", rope_theta: 1e6 } });
  assert.equal(v5.rope_theta, 1e6);
  assert.equal(v5.rope_scaling, null);
  expectFieldError(
    () => parseQwen2Config({ ...base, rope_theta: 1e4, rope_parameters: { rope_type: "default", rope_theta: 1e6 } }),
    /rope_theta: 10000 contradicts rope_parameters.rope_theta 1000000/,
  );

  expectFieldError(
    () => parseQwen2Config({ ...base, rope_scaling: { type: "linear" } }),
    /rope_scaling.factor: required for rope_type 'linear'/,
  );
  expectFieldError(
    () => parseQwen2Config({ ...base, rope_scaling: { type: "longrope", factor: 2 } }),
    /rope_scaling.rope_type: unsupported 'longrope'/,
  );
  expectFieldError(
    () => parseQwen2Config({ ...base, rope_scaling: { type: "yarn", rope_type: "linear", factor: 2 } }),
    /'linear' contradicts type 'yarn'/,
  );
  expectFieldError(() => parseQwen2Config({ ...base, rope_scaling: { factor: 2 } }), /rope_scaling.rope_type: missing/);
  expectFieldError(() => parseQwen2Config({ ...base, rope_scaling: { type: "linear", factor: -1 } }), /rope_scaling.factor: must be > 0/);
  expectFieldError(() => parseQwen2Config({ ...base, rope_scaling: "yarn" }), /rope_scaling: expected an object/);

  const w: string[] = [];
  const y = parseQwen2Config({ ...base, rope_scaling: { type: "yarn", factor: 2, foo: 1 } }, "config.json", w).rope_scaling;
  assert.equal(y?.original_max_position_embeddings, 128);
  assert.match(w.join("\n"), /original_max_position_embeddings is missing for yarn/);
  assert.match(w.join("\n"), /keys foo are not used/);
  const w2: string[] = [];
  parseQwen2Config({ ...base, rope_scaling: { type: "yarn", factor: 2, original_max_position_embeddings: 32 } }, "config.json", w2);
  assert.match(w2.join("\n"), /factor 2 differs from max_position_embeddings \/ original_max_position_embeddings = 4/);
});

test("bad values give errors naming config.json and the field", async () => {
  expectFieldError(() => parseQwen2Config({ model_type: "llama" }), /model_type: 'llama' is not a Qwen2 model/);
  expectFieldError(() => parseQwen2Config({ model_type: "qwen2", hidden_size: "64" }), /hidden_size: expected a number/);
  expectFieldError(() => parseQwen2Config({ model_type: "qwen2", num_hidden_layers: 0 }), /num_hidden_layers: must be a positive integer/);
  expectFieldError(() => parseQwen2Config({ model_type: "qwen2", vocab_size: 1.5 }), /vocab_size: expected an integer/);
  expectFieldError(
    () => parseQwen2Config({ model_type: "qwen2", num_attention_heads: 32, num_key_value_heads: 5 }),
    /num_key_value_heads: 5 does not divide/,
  );
  expectFieldError(() => parseQwen2Config({ model_type: "qwen2", hidden_act: "gelu" }), /hidden_act: 'gelu' is not supported/);
  expectFieldError(
    () => parseQwen2Config({ model_type: "qwen2", tie_word_embeddings: "yes" }),
    /tie_word_embeddings: expected true or false/,
  );
  expectFieldError(() => parseQwen2Config({ model_type: "qwen2", eos_token_id: ["a"] }), /eos_token_id: expected a token id/);
  expectFieldError(() => parseQwen2Config("{oops"), /not valid JSON/);
  expectFieldError(() => parseQwen2Config([1]), /must be a JSON object/);
  const w: string[] = [];
  const c = parseQwen2Config(
    { hidden_size: 64, num_attention_heads: 4, eos_token_id: [1, 2], vocab_size: 10, bos_token_id: 12 },
    "config.json",
    w,
  );
  assert.deepEqual(c.eos_token_id, [1, 2]);
  assert.match(w.join("\n"), /model_type is missing/);
  assert.match(w.join("\n"), /bos_token_id 12 is outside the vocabulary/);
  const missing = join(fixturesDir, "no-such-model");
  assert.ok(!existsSync(missing));
  await assert.rejects(
    () => loadQwen2Config(localFolder(missing)),
    (e: unknown) => e instanceof FormatError && /config\.json$/.test(e.file) && /file not found/.test(e.detail),
  );
});

test("generation_config.json: eos as number or list, sampling fields, validation", async () => {
  assert.deepEqual(parseGenerationConfig({ bos_token_id: 1, eos_token_id: 2, do_sample: false }), {
    bos_token_id: 1,
    eos_token_id: [2],
    do_sample: false,
  });
  const g = parseGenerationConfig({
    eos_token_id: [151645, 151643],
    pad_token_id: 151643,
    do_sample: true,
    temperature: 0.7,
    top_p: 0.8,
    top_k: 20,
    repetition_penalty: 1.05,
    max_new_tokens: 512,
    transformers_version: "4.37.0",
  });
  assert.deepEqual(g, {
    eos_token_id: [151645, 151643],
    pad_token_id: 151643,
    do_sample: true,
    temperature: 0.7,
    top_p: 0.8,
    top_k: 20,
    repetition_penalty: 1.05,
    max_new_tokens: 512,
  });
  assert.throws(() => parseGenerationConfig({ top_p: 1.5 }, "generation_config.json"), /generation_config.json: top_p: must be within/);
  assert.throws(() => parseGenerationConfig({ temperature: -1 }), /temperature: must be >= 0/);
  const w: string[] = [];
  parseGenerationConfig({ do_sample: false, temperature: 0.7 }, "generation_config.json", w);
  assert.equal(w.length, 1);
});
