/**
 * The documentation imports what the package exports: every `import { ... } from "qwen2-ts..."`
 * in a TypeScript block of README.md or docs/*.md names an export of that entry (read from
 * the entry's compiled declaration file, as package.json `exports` maps it). Renaming or
 * moving a public name without updating the docs fails here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { declaredExports } from "../support/declared_exports.js";
import { repoRoot } from "../support/paths.js";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, string | { types?: string }>;
};

/** The declaration file behind a specifier: an entry's `types`, or the module a `/internal/*` path maps to. */
function declarationFile(specifier: string): string | null {
  const subpath = `.${specifier.slice(pkg.name.length)}`;
  const internal = `./internal/`;
  if (subpath.startsWith(internal)) return resolve(repoRoot, "dist/src", `${subpath.slice(internal.length)}.d.ts`);
  const target = pkg.exports[subpath];
  if (target === undefined || typeof target === "string" || target.types === undefined) return null;
  return resolve(repoRoot, target.types);
}

function docFiles(): string[] {
  const docs = readdirSync(join(repoRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join("docs", f));
  return ["README.md", ...docs];
}

test("every name the docs import from qwen2-ts is exported by that entry", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const doc of docFiles()) {
    const text = readFileSync(join(repoRoot, doc), "utf8");
    for (const block of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      for (const m of (block[1] ?? "").matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
        const specifier = m[2] ?? "";
        if (specifier !== pkg.name && !specifier.startsWith(`${pkg.name}/`)) continue;
        const file = declarationFile(specifier);
        if (file === null) {
          problems.push(`${doc}: "${specifier}" is not an entry in package.json exports`);
          continue;
        }
        const exported = declaredExports(file);
        for (const part of (m[1] ?? "").split(",")) {
          const name = part
            .trim()
            .replace(/^type\s+/, "")
            .split(/\s+as\s+/)[0]
            ?.trim();
          if (!name) continue;
          checked++;
          if (!exported.has(name)) problems.push(`${doc}: ${name} is not exported by "${specifier}"`);
        }
      }
    }
  }
  assert.ok(checked > 0, "no import from qwen2-ts found in the docs");
  assert.deepEqual(problems, []);
});
