/** qwen2-ts/node's file sources: a fixture folder read through them as every reader reads sources. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { loadModelFolder } from "../../src/formats/model_folder.js";
import { SafetensorsFile } from "../../src/formats/safetensors.js";
import { fileSource, folderFiles } from "../../src/node/files.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";

const MODEL = "a_tiny_f32";

test(`fileSource and folderFiles read fixture ${MODEL} as the bytes on disk`, { skip: needsShared("fixtures") }, async () => {
  const dir = join(fixturesDir, "models", MODEL);
  const files = folderFiles(dir);
  assert.equal(await files.text("config.json"), readFileSync(join(dir, "config.json"), "utf8"));
  assert.equal(await files.text("no-such-file.json"), null);
  assert.equal(await files.open("no-such-file.bin"), null);

  const onDisk = readFileSync(join(dir, "model.safetensors"));
  const source = await fileSource(join(dir, "model.safetensors"));
  assert.equal(source.size, onDisk.byteLength);
  const tail = new Uint8Array(64);
  await source.readInto(tail, source.size - 64);
  assert.deepEqual(tail, new Uint8Array(onDisk.subarray(onDisk.byteLength - 64)));
  const st = await SafetensorsFile.open(source);
  assert.ok(st.names().length > 0);
  st.close();

  const folder = await loadModelFolder(files);
  assert.equal(
    folder.config.hidden_size,
    (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { hidden_size: number }).hidden_size,
  );
  folder.weights.close();
});

test("fileSource names the path it cannot open", async () => {
  await assert.rejects(fileSource("/nonexistent/qwen2-ts/model.safetensors"), (err: unknown) => {
    assert.ok(err instanceof FormatError);
    assert.match(err.message, /\/nonexistent\/qwen2-ts\/model\.safetensors/);
    return true;
  });
});
