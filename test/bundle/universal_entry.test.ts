/**
 * The universal entry (`qwen2-ts`, dist/src/index.js) bundled for the browser as a user's
 * bundler would: nothing it reaches may import a Node built-in, or the page fails at load.
 * The failure lists every offending import with the module that makes it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundleUniversal } from "../browser/support/bundle.js";

test("the browser bundle of the universal entry imports no Node built-in", async () => {
  const b = await bundleUniversal();
  try {
    const inputs = Object.keys(b.metafile.inputs);
    assert.ok(
      inputs.some((f) => f.endsWith("dist/src/index.js")),
      "the bundle holds the entry itself",
    );
    const lines = [...new Set(b.nodeImports.map((i) => `${i.importer} imports ${i.path}`))].sort();
    assert.deepEqual(lines, [], `Node built-ins reached from the universal entry:\n${lines.join("\n")}`);
  } finally {
    b.dispose();
  }
});
