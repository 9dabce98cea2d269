/**
 * The README's TypeScript examples compile against the built package: each ```ts block that
 * imports qwen2-ts is written to a scratch folder inside the repository (so `qwen2-ts`
 * resolves through package.json `exports`, as in a user's project) and type-checked with the
 * repository's compiler. They are not run: they need a model folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/paths.js";
import { typeCheckProject } from "../support/typecheck.js";

function readmeBlocks(): string[] {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "").filter((code) => /from "qwen2-ts(\/[\w-]+)?"/.test(code));
}

test("every TypeScript example in the README that imports qwen2-ts compiles", () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length > 0, "README.md has no ```ts block importing qwen2-ts");
  // Each block is a module of its own (`export {}`), so names do not clash between blocks.
  const files = Object.fromEntries(blocks.map((code, i) => [`example_${i + 1}.ts`, `${code}\nexport {};\n`]));
  const tsc = typeCheckProject("readme-examples", files, {
    target: "ES2022",
    lib: ["ES2023", "DOM"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    types: ["node"],
    typeRoots: [join(repoRoot, "node_modules/@types")],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  assert.equal(tsc.status, 0, `README examples do not compile:\n${tsc.output}`);
});
