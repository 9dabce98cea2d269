import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../src/errors.js";
import { MAX_HEADER_BYTES } from "../../src/formats/safetensors.js";
import { openSafetensorsPath, openShardedPath } from "../support/files.js";
import { safetensorsHeader } from "../../src/formats/safetensors_writer.js";
import { writeSafetensors } from "../../src/node/safetensors_writer.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";

const dir = mkdtempSync(join(tmpdir(), "qwen2-st-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

/** A raw file from a header object and a data section, for hand-made broken files. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): string {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(json.byteLength));
  const path = join(dir, `raw${counter++}.safetensors`);
  writeFileSync(path, Buffer.concat([prefix, json, data]));
  return path;
}

async function expectFormatError(fn: () => Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.detail, pattern);
    return true;
  });
}

test("writer and reader round-trip every dtype, with metadata and 8-byte alignment", async () => {
  const path = join(dir, "round.safetensors");
  const f32 = new Float32Array([1.5, -2, 3.25, 0, 7, 8]);
  const i64 = new BigInt64Array([1n, -2n, 3n]);
  const u8 = new Uint8Array([1, 2, 3, 4, 5]);
  const bf16 = new Uint16Array([0x3f80, 0xc000]);
  await writeSafetensors(
    path,
    [
      { name: "a.f32", dtype: "f32", shape: [2, 3], data: new Uint8Array(f32.buffer) },
      { name: "b.u8", dtype: "u8", shape: [5], data: () => u8 },
      { name: "c.bf16", dtype: "bf16", shape: [2], data: new Uint8Array(bf16.buffer) },
      { name: "d.i64", dtype: "i64", shape: [3], data: new Uint8Array(i64.buffer) },
      { name: "e.scalar", dtype: "f32", shape: [], data: new Uint8Array(new Float32Array([42]).buffer) },
      { name: "f.empty", dtype: "f16", shape: [0, 4], data: new Uint8Array(0) },
    ],
    { format: "pt" },
  );
  const headerLen = Number(readFileSync(path).readBigUInt64LE(0));
  assert.equal((8 + headerLen) % 8, 0, "data section starts 8-byte aligned");
  const st = await openSafetensorsPath(path);
  try {
    assert.deepEqual(st.metadata, { format: "pt" });
    assert.deepEqual(st.names(), ["a.f32", "b.u8", "c.bf16", "d.i64", "e.scalar", "f.empty"]);
    const a = await st.read("a.f32");
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.data.byteOffset % 8, 0);
    assert.deepEqual(Array.from(new Float32Array(a.data.buffer, a.data.byteOffset, 6)), Array.from(f32));
    assert.deepEqual(Array.from((await st.read("b.u8")).data), [1, 2, 3, 4, 5]);
    assert.deepEqual(Array.from(new Uint16Array((await st.read("c.bf16")).data.buffer)), [0x3f80, 0xc000]);
    assert.deepEqual(Array.from(new BigInt64Array((await st.read("d.i64")).data.buffer)), [1n, -2n, 3n]);
    assert.equal(new Float32Array((await st.read("e.scalar")).data.buffer)[0], 42);
    assert.equal(st.info("f.empty").byteLength, 0);
    const into = new Uint8Array(5);
    await st.readInto("b.u8", into);
    assert.deepEqual(Array.from(into), [1, 2, 3, 4, 5]);
    // A range of a tensor: what a backend streaming into its own memory reads.
    const part = new Uint8Array(3);
    await st.readInto("b.u8", part, 2);
    assert.deepEqual(Array.from(part), [3, 4, 5]);
    await assert.rejects(() => st.readInto("b.u8", new Uint8Array(6)), RangeError);
    await assert.rejects(() => st.readInto("b.u8", new Uint8Array(2), 4), RangeError);
    await expectFormatError(() => st.read("nope"), path, /tensor 'nope' not found/);
  } finally {
    st.close();
  }
});

test("writer rejects data of the wrong size and leaves no file behind", async () => {
  const path = join(dir, "bad-write.safetensors");
  await assert.rejects(writeSafetensors(path, [{ name: "x", dtype: "f32", shape: [3], data: new Uint8Array(8) }]), /\(12 bytes\)/);
  await assert.rejects(
    writeSafetensors(path, [{ name: "x", dtype: "f32", shape: [1], data: () => [new Uint8Array(4), new Uint8Array(4)] }]),
    /\(4 bytes\)/,
  );
  assert.throws(() => readFileSync(path));
  assert.throws(() => readFileSync(`${path}.partial`));
});

const okEntry = { dtype: "F32", shape: [2], data_offsets: [0, 8] };

test("broken files: truncated, bad JSON, huge header, dtype, shape, overlap, past end", async () => {
  const tiny = join(dir, "tiny.safetensors");
  writeFileSync(tiny, Buffer.from([1, 2, 3]));
  await expectFormatError(() => openSafetensorsPath(tiny), tiny, /truncated/);

  let p = rawFile({ w: okEntry }, new Uint8Array(8), 5000n);
  await expectFormatError(() => openSafetensorsPath(p), p, /truncated: header claims 5000 bytes/);

  p = rawFile("{not json", new Uint8Array(0));
  await expectFormatError(() => openSafetensorsPath(p), p, /not valid JSON/);

  p = rawFile("[1,2]", new Uint8Array(0));
  await expectFormatError(() => openSafetensorsPath(p), p, /must be a JSON object/);

  p = rawFile({ w: okEntry }, new Uint8Array(8), BigInt(MAX_HEADER_BYTES) + 1n);
  await expectFormatError(() => openSafetensorsPath(p), p, /exceeds the 100000000-byte limit/);

  p = rawFile({ w: { ...okEntry, dtype: "F8_E4M3" } }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'w': unsupported dtype 'F8_E4M3'/);

  p = rawFile({ w: { ...okEntry, shape: [3] } }, new Uint8Array(12));
  await expectFormatError(
    () => openSafetensorsPath(p),
    p,
    /tensor 'w': shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
  );

  p = rawFile({ w: { ...okEntry, shape: [-1, 2] } }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'w': shape must be a list of non-negative integers/);

  p = rawFile({ w: { ...okEntry, data_offsets: [8, 0] } }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'w': data_offsets \[8, 0\] end before begin/);

  p = rawFile({ a: okEntry, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'b'.*overlap tensor 'a'/);

  p = rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'w'.*past the end of the file/);

  p = rawFile({ __metadata__: { a: 1 }, w: okEntry }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /__metadata__\.a must be a string/);

  p = rawFile({ w: { dtype: "F32", shape: [2] } }, new Uint8Array(8));
  await expectFormatError(() => openSafetensorsPath(p), p, /tensor 'w': data_offsets must be/);

  const missing = join(dir, "does-not-exist.safetensors");
  await expectFormatError(() => openSafetensorsPath(missing), missing, /file not found/);
});

test("a file cut short inside its data section is reported at open, naming the tensor", async () => {
  const path = join(dir, "cut.safetensors");
  await writeSafetensors(path, [
    { name: "first", dtype: "f32", shape: [4], data: new Uint8Array(16) },
    { name: "second", dtype: "f32", shape: [4], data: new Uint8Array(16) },
  ]);
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.byteLength - 4));
  await expectFormatError(() => openSafetensorsPath(path), path, /tensor 'second'.*past the end/);
});

test("safetensorsHeader pads JSON to a multiple of 8 and refuses duplicate names", async () => {
  const h = safetensorsHeader([{ name: "x", dtype: "f32", shape: [1] }]);
  assert.equal(h.byteLength % 8, 0);
  assert.throws(
    () =>
      safetensorsHeader([
        { name: "x", dtype: "f32", shape: [1] },
        { name: "x", dtype: "f32", shape: [1] },
      ]),
    /repeated/,
  );
  assert.throws(() => safetensorsHeader([{ name: "q", dtype: "q8_0", shape: [32] }]), /cannot be stored/);
});

test("sharded fixture f_sharded: every weight_map entry reads from its shard", { skip: needsShared("fixtures") }, async () => {
  const index = join(fixturesDir, "models/f_sharded/model.safetensors.index.json");
  const raw = JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> };
  const sharded = await openShardedPath(index);
  try {
    assert.equal(sharded.shards.size, 2);
    assert.deepEqual(sharded.names().sort(), Object.keys(raw.weight_map).sort());
    for (const [name, shard] of Object.entries(raw.weight_map)) {
      assert.ok(sharded.fileOf(name).endsWith(shard));
      const t = await sharded.read(name);
      assert.equal(t.data.byteLength, sharded.info(name).byteLength);
    }
  } finally {
    sharded.close();
  }
});

test("sharded index errors name the index and the tensor", async () => {
  const d = mkdtempSync(join(dir, "shards-"));
  await writeSafetensors(join(d, "s1.safetensors"), [{ name: "a", dtype: "f32", shape: [1], data: new Uint8Array(4) }]);
  await writeSafetensors(join(d, "s2.safetensors"), [{ name: "b", dtype: "f32", shape: [1], data: new Uint8Array(4) }]);
  const index = join(d, "model.safetensors.index.json");

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s1.safetensors" } }));
  await expectFormatError(() => openShardedPath(index), index, /weight_map\['b'\] names shard 's1.safetensors', which has no tensor 'b'/);

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s1.safetensors" } }));
  const ok = await openShardedPath(index);
  ok.close();

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s3.safetensors" } }));
  await expectFormatError(
    () => openShardedPath(index),
    join(d, "s3.safetensors"),
    /file not found \(named by model.safetensors.index.json\)/,
  );

  writeFileSync(index, JSON.stringify({ weight_map: { a: "../x.safetensors" } }));
  await expectFormatError(() => openShardedPath(index), index, /outside the model folder/);

  writeFileSync(index, "{");
  await expectFormatError(() => openShardedPath(index), index, /not valid JSON/);

  writeFileSync(index, JSON.stringify({ metadata: {} }));
  await expectFormatError(() => openShardedPath(index), index, /weight_map: missing/);
});
