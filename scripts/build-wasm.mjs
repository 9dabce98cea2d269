#!/usr/bin/env node
// Compiles the AssemblyScript kernels (src/backends/wasm/assembly) twice: a baseline
// WebAssembly SIMD build and a relaxed-SIMD build (fused multiply-add, 8-bit relaxed dot).
// Outputs go beside the compiled backend (dist/src/backends/wasm/kernels-*.wasm), where the
// backend loads them from. Skips a build whose output is newer than every source.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "src/backends/wasm/assembly");
const outDir = join(root, "dist/src/backends/wasm");
const asc = join(root, "node_modules/assemblyscript/bin/asc.js");

const common = [
  join(srcDir, "index.ts"),
  "-O3", "--noAssert", "--runtime", "stub", "--use", "abort=",
  // The host owns the memory: one shared memory, up to 4 GiB, imported by every instance
  // (the main thread's and each worker's).
  "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536",
  "--enable", "simd", "--enable", "threads",
];
const builds = [
  { out: "kernels-simd.wasm", flags: [] },
  { out: "kernels-relaxed.wasm", flags: ["--enable", "relaxed-simd"] },
];

const newestSource = Math.max(...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);
mkdirSync(outDir, { recursive: true });

function run(build) {
  const out = join(outDir, build.out);
  if (existsSync(out) && statSync(out).mtimeMs > newestSource) return Promise.resolve();
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [asc, ...common, ...build.flags, "-o", out], { stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? ok() : fail(new Error(`asc failed for ${build.out} (exit ${code})`))));
  });
}

await Promise.all(builds.map(run));
