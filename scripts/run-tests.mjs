#!/usr/bin/env node
// Runs compiled `*.test.js` files under dist/test with Node's built-in test runner.
// Node 20 treats a directory argument as "every .js file in it", which would also run
// shared test helpers, so the file list is built here.
//   node scripts/run-tests.mjs              every unit test (all but dist/test/browser)
//   node scripts/run-tests.mjs --browser    the browser tests (Chromium); one line and exit 0 without it
//   node scripts/run-tests.mjs tokenizer    any test (browser ones included) whose path contains a filter
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const root = "dist/test";
const browserRoot = join(root, "browser");
const args = process.argv.slice(2);
const browser = args.includes("--browser");
const filters = args.filter((a) => a !== "--browser");

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const isBrowserTest = (f) => f.startsWith(browserRoot + "/");
let files = collect(root);
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
else files = files.filter((f) => isBrowserTest(f) === browser);
if (browser) files = files.filter(isBrowserTest);

if (files.length === 0) {
  console.error(`run-tests: no test file under ${browser ? browserRoot : root} matches ${JSON.stringify(filters)}`);
  process.exit(1);
}
const chromium = process.env.QWEN2_CHROMIUM ?? "/usr/bin/chromium";
if (files.every(isBrowserTest) && !existsSync(chromium)) {
  console.log(
    `run-tests: Chromium not found at ${chromium} (apt-get install -y chromium, or set QWEN2_CHROMIUM): ${files.length} browser test files skipped`,
  );
  // Under QWEN2_REQUIRE_PEERS=1 (CI) a missing browser fails the run instead of skipping it.
  process.exit(process.env.QWEN2_REQUIRE_PEERS === "1" ? 1 : 0);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
