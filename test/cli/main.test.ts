import { test } from "node:test";
import assert from "node:assert/strict";
import { main } from "../../src/cli/main.js";
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
