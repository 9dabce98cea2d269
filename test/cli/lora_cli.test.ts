/**
 * The --lora flags: `qwen2 generate --lora DIR[:SCALE]` gives the library's adapted tokens
 * (and scale 0 the base's); `qwen2 quantize --lora DIR` bakes the adapter into a GGUF whose
 * logits match Hugging Face + PEFT's (the LoRA fixture's expected f64 values, 1e-4); the flag
 * syntax of generate/quantize (DIR[:SCALE]) and serve (NAME=DIR[:SCALE]).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/cli_io.js";
import { loraFixture } from "../support/lora.js";
import { loraFixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { maxAbsDiff, type Expected } from "../support/fixtures.js";
import { openQwen2GGUFPath } from "../support/files.js";
import { readLoraFlags } from "../../src/cli/lora_flags.js";
import { UsageError } from "../../src/cli/command.js";
import { fromPretrained } from "../../src/runtime/load.js";
import { loadAdapter } from "../../src/runtime/adapters.js";
import { generate } from "../../src/generation/generate.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";

const FIXTURE = "la_all_modules_r4";
const skip = needsShared("lora fixtures");
// Single digits and spaces: ids below the fixture model's 512-token vocabulary in the embedded Qwen2.5 tokenizer.
const PROMPT = "1 2 3";

test("--lora flag syntax: DIR[:SCALE], NAME=DIR[:SCALE], Windows paths", () => {
  assert.deepEqual(readLoraFlags({ lora: ["a/b", "a/b:0.5", "C:\\x\\y", "C:\\x:2", "d:-1e-1"] }, false), [
    { path: "a/b", scale: 1 },
    { path: "a/b", scale: 0.5 },
    { path: "C:\\x\\y", scale: 1 },
    { path: "C:\\x", scale: 2 },
    { path: "d", scale: -0.1 },
  ]);
  assert.deepEqual(readLoraFlags({ lora: ["sql=/ad/sql:1.5"] }, true), [{ name: "sql", path: "/ad/sql", scale: 1.5 }]);
  assert.throws(() => readLoraFlags({ lora: ["/ad/sql"] }, true), (e) => e instanceof UsageError && /expected NAME=DIR\[:SCALE\]/.test(e.message));
  assert.deepEqual(readLoraFlags({}, false), []);
});

test(`qwen2 generate --lora (fixture ${FIXTURE}): the library's adapted tokens; scale 0 gives the base's`, { skip }, async () => {
  const paths = loraFixture(FIXTURE);
  const run = async (...extra: string[]) => {
    const r = await runCli([
      "generate",
      "--model",
      paths.model,
      "--backend",
      "reference",
      "--max-new-tokens",
      "6",
      "--temperature",
      "0",
      "--json",
      "--quiet",
      ...extra,
      PROMPT,
    ]);
    assert.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { ids: number[] }).ids;
  };
  const base = await run();
  const adapted = await run("--lora", paths.adapter);
  const off = await run("--lora", `${paths.adapter}:0`);
  assert.notDeepEqual(adapted, base, "the adapter changes the tokens");
  assert.deepEqual(off, base, "scale 0 is the base model");

  const m = await fromPretrained(paths.model, { backend: "reference" });
  try {
    const adapter = await loadAdapter(m, paths.adapter);
    const r = await generate(m.model, m.tokenizer, PROMPT, { maxNewTokens: 6, temperature: 0, eosIds: m.eosIds, adapters: [{ adapter }] });
    assert.deepEqual(adapted, r.ids, "CLI and library");
    adapter.dispose();
  } finally {
    m.close();
  }
});

test(`qwen2 quantize --lora (fixture ${FIXTURE}) bakes the adapter: the GGUF gives Hugging Face + PEFT's logits`, { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-lora-quantize-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const paths = loraFixture(FIXTURE);
  const out = join(dir, "merged.f32.gguf");
  const r = await runCli(["quantize", "--model", paths.model, "--type", "f32", "--out", out, "--lora", paths.adapter, "--quiet"]);
  assert.equal(r.code, 0, r.err);
  const g = await openQwen2GGUFPath(out);
  const model = await Qwen2ForCausalLM.load({ config: g.config, weights: g.weights }, new ReferenceBackend());
  g.close();
  try {
    const expected = JSON.parse(readFileSync(join(loraFixturesDir, "expected", `${FIXTURE}.json`), "utf8")) as Expected;
    for (const c of expected.cases.filter((e) => e.rows.length === 1)) {
      const row = c.rows[0]!;
      const ids = Int32Array.from(row.real_positions.map((p) => c.input_ids[0]![p]!));
      const cache = model.createCache(ids.length);
      const [logits] = await model.forward([{ ids, cache }]);
      cache.dispose();
      const d = maxAbsDiff(logits!, row.last_logits.f64);
      assert.ok(d <= 1e-4, `${c.name}: merged GGUF logits differ from f64 by ${d}`);
    }
  } finally {
    model.dispose();
  }
});
