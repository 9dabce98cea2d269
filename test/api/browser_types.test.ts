/**
 * A browser project type-checks against the universal entries with no Node types installed:
 * `qwen2-ts` and `qwen2-ts/formats` declare nothing from `node:*` or the `NodeJS` namespace.
 * The declarations are checked too (skipLibCheck off), since that is where such a leak shows.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../support/paths.js";

const PAGE = `import { fromPretrained, Tokenizer, WorkerEngine, type LoadProgress } from "qwen2-ts";
import { openGGUF } from "qwen2-ts/formats";
const onProgress = (p: LoadProgress): void => console.log(p.phase, p.loaded, p.total);
export async function run(file: File): Promise<string> {
  const tok = await Tokenizer.embedded();
  const m = await fromPretrained(file, { onProgress, cache: true });
  const engine = await WorkerEngine.create({ model: [file], onProgress });
  engine.dispose();
  m.close();
  void openGGUF;
  return tok.decode(tok.encode("hi"));
}
`;

test("the universal entries type-check in a browser project without @types/node", () => {
  const dir = join(repoRoot, "tmp", `browser-types-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, "page.ts"), PAGE);
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023", "DOM", "DOM.Iterable"],
        module: "ESNext",
        moduleResolution: "Bundler",
        types: [],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      include: ["page.ts"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    assert.equal(tsc.status, 0, `a browser project does not type-check against qwen2-ts:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
