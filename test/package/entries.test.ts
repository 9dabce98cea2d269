/**
 * The package's entries as a user reaches them by name: `qwen2-ts`, its subpaths, and
 * require() of the ESM entries (Node >= 20.19 loads ES modules from require() when they use
 * no top-level await, which keeps CommonJS callers working without a second build).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../support/paths.js";

const ENTRIES = ["qwen2-ts", "qwen2-ts/formats", "qwen2-ts/node", "qwen2-ts/server", "qwen2-ts/internal/tensor/convert"];

/** Runs `code` in a fresh Node whose node_modules holds this repository as `qwen2-ts`. */
function runAsUser(code: string, type: "module" | "commonjs"): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-entries-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(repoRoot, join(dir, "node_modules", "qwen2-ts"), "dir");
    const flag = type === "module" ? "--input-type=module" : "--input-type=commonjs";
    return spawnSync(process.execPath, [flag, "-e", code], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("every entry imports by the package's name", () => {
  const code = `${ENTRIES.map((e, i) => `import * as m${i} from ${JSON.stringify(e)};`).join("")} console.log(JSON.stringify([${ENTRIES.map((_, i) => `Object.keys(m${i}).length`).join(",")}]));`;
  const r = runAsUser(code, "module");
  assert.equal(r.status, 0, r.stderr);
  const counts = JSON.parse(r.stdout) as number[];
  counts.forEach((n, i) => assert.ok(n > 0, `${ENTRIES[i]} exports nothing`));
});

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
const requireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);

test("require() loads the entries (Node >= 20.19, 22.12)", {
  skip: requireEsm ? false : `Node ${process.versions.node} cannot require() ES modules`,
}, () => {
  const code = `const q = require("qwen2-ts"); const s = require("qwen2-ts/server"); console.log(typeof q.fromPretrained, typeof q.Tokenizer, typeof s.createServer);`;
  const r = runAsUser(code, "commonjs");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "function function function");
});
