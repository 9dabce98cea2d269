/** The names a compiled declaration file exports, read from its text (the TypeScript API is not needed). */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Every name a declaration file exports: `export { a, type B, c as d }`, `export declare ...`, `export *` followed. */
export function declaredExports(file: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  assert.ok(existsSync(file), `${file} is missing (run npm run build)`);
  const text = readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "");
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of (m[1] ?? "").split(",")) {
      const name = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (name) names.add(name);
    }
  }
  for (const m of text.matchAll(
    /export\s+(?:declare\s+)?(?:abstract\s+)?(?:const|let|var|function|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/g,
  )) {
    names.add(m[1]!);
  }
  for (const m of text.matchAll(/export\s+\*\s+from\s+"([^"]+)"/g)) {
    const target = resolve(dirname(file), m[1]!.replace(/\.js$/, ".d.ts"));
    for (const name of declaredExports(target, seen)) names.add(name);
  }
  return names;
}
