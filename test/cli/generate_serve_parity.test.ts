/**
 * `qwen2 generate` and `qwen2 serve` resolve generation_config.json and the caller's fields
 * through one policy (generation/defaults.ts): from one folder, the same request with the
 * same seed gives the same text, whether it comes as flags or as an HTTP request.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../src/cli/main.js";
import { createRandomModel } from "../../src/node/random_model.js";
import { captureIO } from "../support/cli_io.js";
import { startServe, type ServeProcess } from "../support/serve_process.js";

let root = "";
let dir = "";
let server: ServeProcess | null = null;
let url = "";

before(async () => {
  root = mkdtempSync(join(tmpdir(), "qwen2-parity-"));
  dir = join(root, "tiny");
  await createRandomModel({ preset: "tiny", dtype: "f32", outDir: dir, seed: 5 });
  // A sampling generation_config.json, so the defaults matter.
  writeFileSync(
    join(dir, "generation_config.json"),
    JSON.stringify({ do_sample: true, temperature: 1.3, top_k: 40, top_p: 0.95, repetition_penalty: 1.1, eos_token_id: [151643, 151645] }),
  );
  server = await startServe(["--model", dir, "--backend", "reference", "--parallel", "1"]);
  url = server.url;
});

after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function viaGenerate(flags: string[]): Promise<string> {
  const t = captureIO();
  const code = await main(["generate", "--model", dir, "--backend", "reference", "--json", "--quiet", ...flags, "Once upon a time"], t.io);
  assert.equal(code, 0, t.err());
  return (JSON.parse(t.out()) as { text: string }).text;
}

async function viaServe(body: Record<string, unknown>): Promise<string> {
  const r = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "Once upon a time", ...body }),
  });
  const j = (await r.json()) as { choices: { text: string }[] };
  assert.equal(r.status, 200, JSON.stringify(j));
  return j.choices[0]!.text;
}

test("defaults from generation_config.json: same seed, same text from generate and serve", { timeout: 120_000 }, async () => {
  const a = await viaGenerate(["--seed", "11", "--max-new-tokens", "10"]);
  assert.equal(await viaServe({ seed: 11, max_tokens: 10 }), a);
  assert.notEqual(await viaGenerate(["--seed", "12", "--max-new-tokens", "10"]), a, "the seed matters: the folder samples");
});

test("fields override the defaults the same way as flags", { timeout: 120_000 }, async () => {
  const flags = [
    "--seed",
    "3",
    "--max-new-tokens",
    "10",
    "--temperature",
    "0.8",
    "--top-k",
    "5",
    "--min-p",
    "0.02",
    "--repetition-penalty",
    "1.3",
  ];
  const body = { seed: 3, max_tokens: 10, temperature: 0.8, top_k: 5, min_p: 0.02, repetition_penalty: 1.3 };
  assert.equal(await viaServe(body), await viaGenerate(flags));
  assert.equal(
    await viaServe({ max_tokens: 10, temperature: 0 }),
    await viaGenerate(["--max-new-tokens", "10", "--temperature", "0"]),
    "greedy",
  );
});
