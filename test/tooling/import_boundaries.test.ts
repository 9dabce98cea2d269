/**
 * The import-boundary rule in biome.json: imports flow down
 * cli → server → runtime → generation → models → backends → formats → tokenizer → io → platform → tensor → errors.
 * Probe files are written to a temporary tree linted with the repository's own biome.json, so the
 * rule is shown to fail on every upward import and to pass every downward one, without touching src/.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { repoRoot } from "../support/paths.js";

const LAYERS = [
  "cli",
  "server",
  "runtime",
  "generation",
  "models",
  "backends",
  "formats",
  "tokenizer",
  "io",
  "platform",
  "tensor",
  "errors",
];
const biome = join(repoRoot, "node_modules/.bin/biome");

/** Lints `files` (path → source) under a fresh root with the repository's rule set; returns the paths flagged by the boundary rule. */
function flagged(files: Record<string, string>): Set<string> {
  const root = mkdtempSync(join(tmpdir(), "qwen2-boundaries-"));
  try {
    const config = JSON.parse(readFileSync(join(repoRoot, "biome.json"), "utf8")) as Record<string, unknown>;
    delete config.$schema;
    writeFileSync(join(root, "biome.json"), JSON.stringify(config));
    for (const [path, source] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), source);
    }
    return lint(root, ["src"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function lint(cwd: string, paths: string[]): Set<string> {
  const r = spawnSync(biome, ["lint", "--only=style/noRestrictedImports", "--reporter=json", "--max-diagnostics=none", ...paths], {
    cwd,
    encoding: "utf8",
  });
  assert.ok(r.stdout.trim().startsWith("{"), `biome printed no JSON report (exit ${r.status}): ${r.stderr}`);
  const report = JSON.parse(r.stdout) as { diagnostics: { category: string; location?: { path?: string } }[] };
  const out = new Set<string>();
  for (const d of report.diagnostics) {
    assert.equal(d.category, "lint/style/noRestrictedImports", `unexpected diagnostic ${d.category} at ${d.location?.path}`);
    out.add(d.location?.path ?? "?");
  }
  return out;
}

test("every upward import between layers fails and every downward one passes", () => {
  const files: Record<string, string> = {};
  const expected: string[] = [];
  for (const [i, layer] of LAYERS.entries()) {
    if (layer === "errors") continue; // a single file: next test
    for (const [j, target] of LAYERS.entries()) {
      if (target === layer || target === "errors") continue;
      const path = `src/${layer}/probe_${target}.ts`;
      files[path] = `import { x } from "../${target}/thing.js";\nexport const y = x;\n`;
      if (j < i) expected.push(path);
    }
  }
  assert.equal(expected.length, 55);
  assert.deepEqual([...flagged(files)].sort(), expected.sort());
});

test("errors.ts imports nothing from the layers", () => {
  const files = { "src/errors.ts": `import { x } from "./tensor/dtype.js";\nexport const y = x;\n` };
  assert.deepEqual([...flagged(files)], ["src/errors.ts"]);
});

test("the rule sees nested files, re-exports, dynamic and type-only imports, and #platform", () => {
  const files = {
    "src/backends/wasm/deep.ts": `import { x } from "../../runtime/kv_cache.js";\nexport const y = x;\n`,
    "src/backends/wasm/same_layer.ts": `import { x } from "../ops.js";\nexport const y = x;\n`,
    "src/models/reexport.ts": `export { x } from "../generation/sampler.js";\n`,
    "src/formats/dynamic.ts": `export const m = await import("../server/server.js");\n`,
    "src/tokenizer/type_only.ts": `import type { X } from "../models/causal_lm.js";\nexport type Y = X;\n`,
    "src/tensor/platform.ts": `import { x } from "#platform";\nexport const y = x;\n`,
    "src/io/platform.ts": `import { x } from "#platform";\nexport const y = x;\n`,
    "src/runtime/node_entry.ts": `import { x } from "../node/index.js";\nexport const y = x;\n`,
    "src/generation/constraints/deep.ts": `import { x } from "../../server/server.js";\nexport const y = x;\n`,
  };
  const expected = [
    "src/backends/wasm/deep.ts",
    "src/formats/dynamic.ts",
    "src/generation/constraints/deep.ts",
    "src/models/reexport.ts",
    "src/runtime/node_entry.ts",
    "src/tensor/platform.ts",
    "src/tokenizer/type_only.ts",
  ];
  assert.deepEqual([...flagged(files)].sort(), expected);
});

test("src/ itself has no upward import beyond the exceptions listed in biome.json", () => {
  assert.deepEqual([...lint(repoRoot, ["src"])], []);
});
