import { test } from "node:test";
import assert from "node:assert/strict";
import { main } from "../../src/cli/main.js";
import { PassThrough } from "node:stream";
import { captureIO as io } from "../support/cli_io.js";

test("unknown command exits 2 and names the command", async () => {
  const t = io();
  assert.equal(await main(["frobnicate"], t.io), 2);
  assert.match(t.err(), /unknown command 'frobnicate'/);
});

test("--help lists usage and exits 0; no command exits 1", async () => {
  const t = io();
  assert.equal(await main(["--help"], t.io), 0);
  assert.match(t.out(), /Usage: qwen2 <command>/);
  assert.equal(await main([], io().io), 1);
});

test("--version prints the package version", async () => {
  const t = io();
  assert.equal(await main(["--version"], t.io), 0);
  assert.match(t.out(), /^\d+\.\d+\.\d+/);
});

test("quantize without --type says what is missing and lists the types", async () => {
  const t = io();
  assert.equal(await main(["quantize", "--model", "m", "--out", "x.gguf"], t.io), 2);
  assert.match(t.err(), /--type is required: one of f32, f16, bf16, q8_0, q6_k, q5_k_m, .*q4_k_m.*q2_k/);
  const bad = io();
  assert.equal(await main(["quantize", "--model", "m", "--out", "x.gguf", "--type", "q5"], bad.io), 2);
  assert.match(bad.err(), /--type must be one of .*q4_0, .*q2_k, got "q5"/);
});

test("tokenize and detokenize with nothing to read on a terminal say how to use them instead of waiting", async () => {
  for (const command of ["tokenize", "detokenize"]) {
    const t = io();
    const terminal = Object.assign(new PassThrough(), { isTTY: true });
    assert.equal(await main([command], { ...t.io, stdin: terminal }), 2);
    assert.match(t.err(), new RegExp(`qwen2 ${command}: give .* as arguments or pipe`));
  }
});

test("every command reports a mistyped flag with a suggestion and exit 2", async () => {
  for (const [args, hint] of [
    [["tokenize", "--cont", "x"], "--count"],
    [["create-random", "--prest", "tiny"], "--preset"],
    [["serve", "--model", "m", "--paralel", "2"], "--parallel"],
    [["chat", "--model", "m", "--max-tokens", "9"], "--max-new-tokens"],
    [["bench", "--model", "m", "--gen-token", "9"], "--gen-tokens"],
  ] as const) {
    const t = io();
    assert.equal(await main([...args], t.io), 2, args.join(" "));
    assert.match(t.err(), new RegExp(`did you mean ${hint}\\?`), args.join(" "));
  }
});
