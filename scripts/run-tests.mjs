#!/usr/bin/env node
// Runs every compiled `*.test.js` under dist/test with Node's built-in test runner.
// Node 20 treats a directory argument as "every .js file in it", which would also run
// shared test helpers, so the file list is built here. Extra arguments filter by path
// substring: `node scripts/run-tests.mjs tokenizer` runs only tokenizer tests.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const root = "dist/test";
const filters = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const files = collect(root).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no test file under ${root} matches ${JSON.stringify(filters)}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
