/**
 * What `npm pack` ships: the license, and source maps that resolve. The maps point at
 * `src/*.ts`, which is not in the package, so each map must carry its sources inline
 * (tsconfig `inlineSources`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/paths.js";

interface PackListing {
  files: { path: string }[];
}

function packedFiles(): string[] {
  // --ignore-scripts: list what `files` selects from the dist/ already built, without prepack's rebuild.
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(r.status, 0, `npm pack --dry-run failed: ${r.stderr}`);
  const [listing] = JSON.parse(r.stdout) as PackListing[];
  assert.ok(listing, "npm pack --dry-run printed no package");
  return listing.files.map((f) => f.path);
}

test("the package ships LICENSE, NOTICE and the compiled entry", () => {
  const files = new Set(packedFiles());
  for (const name of ["LICENSE", "NOTICE", "README.md", "package.json", "dist/src/index.js", "dist/src/index.d.ts"]) {
    assert.ok(files.has(name), `${name} is not in the packed file list`);
  }
  assert.ok(![...files].some((f) => f.startsWith("dist/test/") || f.startsWith("dist/bench/")), "tests or benchmarks are packed");
});

test("every shipped source map resolves: each source is packed or inlined", () => {
  const files = packedFiles();
  const shipped = new Set(files);
  const maps = files.filter((f) => f.endsWith(".map"));
  assert.ok(maps.length > 0, "no source maps packed");
  for (const mapPath of maps) {
    const map = JSON.parse(readFileSync(join(repoRoot, mapPath), "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
    map.sources.forEach((source, i) => {
      const target = join(mapPath, "..", source);
      const inlined = typeof map.sourcesContent?.[i] === "string";
      assert.ok(inlined || shipped.has(target), `${mapPath}: source ${source} is neither inlined nor packed`);
    });
  }
});
