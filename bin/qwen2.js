#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli/main.js (built by `npm run build`).
import v8 from "node:v8";

// Node 20 and 21 hide relaxed SIMD behind a V8 flag. Turning it on here, before any
// WebAssembly is compiled, lets the wasm backend pick its relaxed kernels; that is safe
// because the backend validates the module and self-tests every relaxed instruction it
// uses against the reference kernels, falling back to baseline SIMD on any mismatch.
// QWEN2_RELAXED_SIMD=0 keeps the flag off.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22 && process.env.QWEN2_RELAXED_SIMD !== "0") v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

// A closed pipe (`qwen2 ... | head`) ends the command quietly, as Unix tools do.
process.stdout.on("error", (err) => {
  if (err && err.code === "EPIPE") process.exit(0);
  throw err;
});

const { main } = await import("../dist/src/cli/main.js");

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`qwen2: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
