/**
 * The README's TypeScript examples compile against the built package: each ```ts block that
 * imports qwen2-ts is written to a scratch folder inside the repository (so `qwen2-ts`
 * resolves through package.json `exports`, as in a user's project) and type-checked with the
 * repository's compiler. They are not run: they need a model folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/paths.js";

function readmeBlocks(): string[] {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "").filter((code) => /from "qwen2-ts(\/[\w-]+)?"/.test(code));
}

test("every TypeScript example in the README that imports qwen2-ts compiles", () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length > 0, "README.md has no ```ts block importing qwen2-ts");
  const dir = join(repoRoot, "tmp", `readme-examples-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    // Each block is a module of its own (`export {}`), so names do not clash between blocks.
    blocks.forEach((code, i) => writeFileSync(join(dir, `example_${i + 1}.ts`), `${code}\nexport {};\n`));
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023", "DOM"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: ["node"],
        typeRoots: [join(repoRoot, "node_modules/@types")],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      include: ["*.ts"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    assert.equal(tsc.status, 0, `README examples do not compile:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
