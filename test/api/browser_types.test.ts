/**
 * A browser project type-checks against the universal entries with no Node types installed:
 * `qwen2-ts` and `qwen2-ts/formats` declare nothing from `node:*` or the `NodeJS` namespace.
 * The declarations are checked too (skipLibCheck off), since that is where such a leak shows.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { typeCheckProject } from "../support/typecheck.js";

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
  const tsc = typeCheckProject(
    "browser-types",
    { "page.ts": PAGE },
    {
      target: "ES2022",
      lib: ["ES2023", "DOM", "DOM.Iterable"],
      module: "ESNext",
      moduleResolution: "Bundler",
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
    },
  );
  assert.equal(tsc.status, 0, `a browser project does not type-check against qwen2-ts:\n${tsc.output}`);
});
