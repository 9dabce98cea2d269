import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromPretrained } from "../../src/runtime/load.js";
import { parseQwen2Config } from "../../src/formats/config_parse.js";
import { FormatError, InvalidArgumentError, UnsupportedError } from "../../src/errors.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";

test("fromPretrained names the path when it is missing or not a model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-load-"));
  try {
    await assert.rejects(fromPretrained(join(dir, "nope")), (e: unknown) => e instanceof FormatError && e.file.endsWith("nope"));
    const txt = join(dir, "weights.bin");
    writeFileSync(txt, "x");
    await assert.rejects(fromPretrained(txt), (e: unknown) => e instanceof FormatError && /\.gguf/.test(e.message));
    const gguf = join(dir, "m.gguf");
    writeFileSync(gguf, "GGUF");
    await assert.rejects(fromPretrained(dir, { backend: "gpu" as "wasm" }), InvalidArgumentError);
    await assert.rejects(fromPretrained(dir, { threads: 0 }), /threads/);
    // GGUF and backends that are not wired in say what is missing rather than failing deep inside.
    await assert.rejects(fromPretrained(gguf), (e: unknown) => e instanceof UnsupportedError || e instanceof FormatError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the random-weights label has one reading: config.json's field as the config parser reads it", () => {
  // fromPretrained's randomWeights, the demo's folder check and inspect all take it from here; a
  // GGUF file's qwen2_ts.random_weights key is mapped onto the same field by openGGUF.
  assert.equal(parseQwen2Config({ model_type: "qwen2", qwen2_ts_random_weights: true }).qwen2_ts_random_weights, true);
  assert.equal(parseQwen2Config({ model_type: "qwen2" }).qwen2_ts_random_weights, false);
  assert.throws(() => parseQwen2Config({ model_type: "qwen2", qwen2_ts_random_weights: "yes" }), /qwen2_ts_random_weights/);
});

test("backend auto without WebGPU (Node 20) takes wasm and says why; webgpu names what is missing", {
  skip: needsShared("fixtures"),
}, async () => {
  const dir = join(fixturesDir, "models", "a_tiny_f32");
  const m = await fromPretrained(dir, { backend: "auto", threads: 1 });
  try {
    assert.equal(m.backend, "wasm");
    assert.match(m.backendReason ?? "", /no WebGPU.*navigator\.gpu/);
  } finally {
    m.close();
  }
  const named = await fromPretrained(dir, { backend: "wasm", threads: 1 });
  assert.equal(named.backendReason, undefined);
  named.close();
  await assert.rejects(
    fromPretrained(dir, { backend: "webgpu" }),
    (e: unknown) => e instanceof UnsupportedError && /WebGPU/.test(e.message),
  );
});
