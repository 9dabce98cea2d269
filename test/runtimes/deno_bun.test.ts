/**
 * Deno and Bun run the universal entry (binaries from the opt-in peers in bench/): the
 * embedded tokenizer gives Node's ids, and a fixture model loaded from a file URL gives
 * Hugging Face's greedy tokens on the wasm and reference backends. Each runtime skips with
 * one line when its binary or the shared fixtures are missing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { type RuntimeName, runtimeBinary, runtimeSkipReason } from "../../bench/peers.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import type { CaseInput, Expected } from "../support/fixtures.js";
import { fixturesDir, repoRoot } from "../support/paths.js";
import type { SmokeInput, SmokeOutput } from "./smoke_script.js";

const FIXTURE = "a_tiny_f32";
const CASE = "short5";
const TEXT = "Hello, world! 你好 — tokens in Deno and Bun.";
const script = join(repoRoot, "dist/test/runtimes/smoke_script.js");
const modelDir = join(fixturesDir, "models", FIXTURE);
const fixtureMissing = existsSync(join(modelDir, "config.json"))
  ? undefined
  : `fixture ${FIXTURE} not found under ${fixturesDir} (the shared fixtures, QWEN2_FIXTURES)`;

/** How each runtime runs a script of this repository (Deno finds node_modules through package.json). */
const COMMANDS: Record<"deno" | "bun", (bin: string, arg: string) => string[]> = {
  deno: (bin, arg) => [bin, "run", "--node-modules-dir=manual", "--allow-read", "--allow-env", "--allow-sys", script, arg],
  bun: (bin, arg) => [bin, script, arg],
};

for (const runtime of ["deno", "bun"] as const satisfies readonly RuntimeName[]) {
  const skip = runtimeSkipReason(runtime) ?? fixtureMissing ?? false;
  test(`${runtime}: the universal entry tokenizes and decodes ${FIXTURE}/${CASE} greedily as Hugging Face does (wasm, reference)`, {
    skip,
    timeout: 180_000,
  }, async () => {
    const cases = JSON.parse(readFileSync(join(fixturesDir, "cases", `${FIXTURE}.json`), "utf8")) as CaseInput[];
    const expected = JSON.parse(readFileSync(join(fixturesDir, "expected", `${FIXTURE}.json`), "utf8")) as Expected;
    const c = cases.find((x) => x.name === CASE)!;
    const greedy = expected.cases.find((x) => x.name === CASE)!.rows[0]!.greedy!.f64;
    const input: SmokeInput = {
      text: TEXT,
      model: pathToFileURL(modelDir).href,
      ids: c.input_ids as number[],
      maxNewTokens: c.max_new_tokens,
    };
    const [bin, ...args] = COMMANDS[runtime](runtimeBinary(runtime)!, JSON.stringify(input));
    const r = spawnSync(bin!, args, { cwd: repoRoot, encoding: "utf8", timeout: 150_000, env: { ...process.env, NO_COLOR: "1" } });
    assert.equal(r.status, 0, `${runtime} exited with ${r.status ?? r.signal}:\n${r.stderr}`);
    const lastLine = r.stdout.trim().split("\n").at(-1)!;
    const out = JSON.parse(lastLine) as SmokeOutput;
    assert.deepEqual(out.encoded, (await Tokenizer.embedded()).encode(TEXT), "embedded tokenizer ids differ from Node's");
    assert.deepEqual(out.greedy.wasm, greedy, "wasm greedy tokens");
    assert.deepEqual(out.greedy.reference, greedy, "reference greedy tokens");
  });
}
