#!/usr/bin/env node
// Installs the opt-in benchmark peers (bench/package.json) into bench/node_modules, exactly as
// bench/package-lock.json pins them, and only when that lockfile changed since the last
// install: `npm ci` wipes and rewrites 1.5 GB, which every `npm run bench*` should not repeat.
// --ignore-scripts: no peer may download or compile anything; bench/peers.ts finds the
// binaries in their platform packages instead.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bench = resolve(dirname(fileURLToPath(import.meta.url)), "../bench");
const stamp = join(bench, "node_modules", ".qwen2-peers.sha256");
const lock = createHash("sha256")
  .update(readFileSync(join(bench, "package-lock.json")))
  .digest("hex");
if (existsSync(stamp) && readFileSync(stamp, "utf8").trim() === lock) {
  console.log("bench peers: up to date (bench/node_modules)");
  process.exit(0);
}
console.log("bench peers: npm ci in bench/ (about 1.5 GB: llama.cpp builds, onnxruntime, deno, bun, node 24)");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const r = spawnSync(npm, ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: bench, stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stamp, `${lock}\n`);
