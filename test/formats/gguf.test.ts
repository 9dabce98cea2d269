import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { FormatError, UnsupportedError } from "../../src/errors.js";
import { openGGUFPath, isGGUFPath } from "../support/files.js";
import { GGUFValueType } from "../../src/formats/gguf_types.js";
import { GGUFWriter } from "../../src/formats/gguf_writer.js";
import { writeGGUF } from "../../src/node/gguf_writer.js";
import { f32ToBf16, f32ToF16 } from "../../src/tensor/convert.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../src/tensor/quant/index.js";
import { Bytes, TempDir, header } from "./gguf_test_support.js";

const dir = new TempDir();
after(() => dir.dispose());

function bytesOf(a: Float32Array | Uint16Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

test("every metadata type and every dtype we store survive a write and a read", async () => {
  const f = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 0.25 - 3);
  const half = Uint16Array.from({ length: 6 }, (_, i) => f32ToF16(i / 3));
  const bf = Uint16Array.from({ length: 64 }, (_, i) => f32ToBf16(Math.sin(i)));
  const q8 = quantizeQ8_0(Float32Array.from({ length: 64 }, (_, i) => Math.cos(i)));
  const q4 = quantizeQ4_0(Float32Array.from({ length: 96 }, (_, i) => Math.cos(i * 0.7)));
  const ints = Int32Array.from([1, -2, 3]);

  const w = new GGUFWriter(64)
    .string("general.architecture", "test")
    .set("u8", GGUFValueType.UINT8, 255)
    .set("i8", GGUFValueType.INT8, -128)
    .set("u16", GGUFValueType.UINT16, 65535)
    .set("i16", GGUFValueType.INT16, -32768)
    .u32("u32", 4294967295)
    .i32("i32", -2147483648)
    .f32("f32", 0.1)
    .set("f64", GGUFValueType.FLOAT64, 0.1)
    .bool("bool", true)
    .string("unicode", "héllo ✓ 𝄞")
    .set("u64", GGUFValueType.UINT64, 2n ** 63n + 5n)
    .set("i64", GGUFValueType.INT64, -(2n ** 62n))
    .strings("strings", ["a", "", "Ġthe"])
    .set("empty", GGUFValueType.ARRAY, [], GGUFValueType.FLOAT32);
  // The writer cannot type the items of inner arrays (the reader handles them, see below).
  assert.throws(() => w.set("nested", GGUFValueType.ARRAY, [[1, 2], [3]], GGUFValueType.ARRAY), /'nested'.*item type/);
  w.addTensor("f32.4d", "f32", [1, 2, 3, 4], () => bytesOf(f))
    .addTensor("f16.1d", "f16", [6], () => bytesOf(half))
    .addTensor("bf16.2d", "bf16", [2, 32], () => bytesOf(bf))
    .addTensor("q8.2d", "q8_0", [2, 32], () => q8)
    .addTensor("q4.3d", "q4_0", [1, 3, 32], () => q4)
    .addTensor("i32", "i32", [3], () => bytesOf(ints));
  const path = dir.file("all.gguf");
  await writeGGUF(path, w);

  const g = await openGGUFPath(path);
  try {
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 64);
    assert.equal(g.dataOffset % 64, 0);
    assert.equal(g.string("general.architecture"), "test");
    assert.equal(g.number("u8"), 255);
    assert.equal(g.number("i8"), -128);
    assert.equal(g.number("u16"), 65535);
    assert.equal(g.number("i16"), -32768);
    assert.equal(g.number("u32"), 4294967295);
    assert.equal(g.number("i32"), -2147483648);
    assert.equal(g.number("f32"), Math.fround(0.1));
    assert.equal(g.number("f64"), 0.1);
    assert.equal(g.bool("bool"), true);
    assert.equal(g.string("unicode"), "héllo ✓ 𝄞");
    assert.equal(g.entry("u64")?.value, 2n ** 63n + 5n);
    assert.throws(() => g.number("u64"), FormatError); // not exact in a double
    assert.equal(g.number("i64"), -(2 ** 62));
    assert.deepEqual(g.strings("strings"), ["a", "", "Ġthe"]);
    assert.deepEqual(g.entry("empty")?.value, []);
    assert.throws(() => g.string("u8"), /must be a string/);

    assert.deepEqual(
      g.tensors.map((t) => [t.name, t.type.name, t.shape, t.dims]),
      [
        ["f32.4d", "F32", [1, 2, 3, 4], [4, 3, 2, 1]],
        ["f16.1d", "F16", [6], [6]],
        ["bf16.2d", "BF16", [2, 32], [32, 2]],
        ["q8.2d", "Q8_0", [2, 32], [32, 2]],
        ["q4.3d", "Q4_0", [1, 3, 32], [32, 3, 1]],
        ["i32", "I32", [3], [3]],
      ],
    );
    for (const t of g.tensors) assert.equal((t.offset - g.dataOffset) % 64, 0, t.name);
    assert.deepEqual(await g.readTensorData(g.tensor("f32.4d")!), bytesOf(f));
    assert.deepEqual(await g.readTensorData(g.tensor("f16.1d")!), bytesOf(half));
    assert.deepEqual(await g.readTensorData(g.tensor("bf16.2d")!), bytesOf(bf));
    assert.deepEqual(await g.readTensorData(g.tensor("q8.2d")!), q8);
    assert.deepEqual(await g.readTensorData(g.tensor("q4.3d")!), q4);
    assert.deepEqual(await g.readTensorData(g.tensor("i32")!), bytesOf(ints));
    // Ranges, as a backend streaming a tensor into its own memory reads them.
    const q8info = g.tensor("q8.2d")!;
    const part = new Uint8Array(20);
    await g.readTensorInto(q8info, part, 7);
    assert.deepEqual(part, q8.subarray(7, 27));
    await assert.rejects(
      () => g.readTensorInto(q8info, new Uint8Array(8), q8info.byteLength - 4),
      /bytes \[\d+, \d+\) are outside its \d+ bytes/,
    );
  } finally {
    g.close();
  }
  assert.ok(await isGGUFPath(path));
  assert.ok(!(await isGGUFPath(dir.path)));
});

test("a hand-built version 2 file with a nested array and the default alignment reads", async () => {
  const data = Float32Array.from([1, 2, 3, 4]);
  const b = header(1, 2, 2)
    .str("general.architecture")
    .u32(GGUFValueType.STRING)
    .str("x")
    .str("nested")
    .u32(GGUFValueType.ARRAY)
    .u32(GGUFValueType.ARRAY)
    .u64(2)
    .u32(GGUFValueType.UINT8)
    .u64(2)
    .u8(1)
    .u8(2)
    .u32(GGUFValueType.BOOL)
    .u64(1)
    .u8(1)
    .str("t")
    .u32(2)
    .u64(2)
    .u64(2)
    .u32(0)
    .u64(0);
  b.pad(32).raw(bytesOf(data));
  const path = dir.file("v2.gguf", b.build());
  const g = await openGGUFPath(path);
  assert.equal(g.version, 2);
  assert.deepEqual(g.entry("nested")?.value, [[1, 2], [true]]);
  assert.deepEqual(g.tensor("t")?.shape, [2, 2]);
  assert.deepEqual(new Float32Array((await g.readTensorData(g.tensor("t")!)).buffer), data);
  g.close();
});

/** Writes `bytes` and expects opening it to fail with `kind` and a message matching `pattern`. */
async function rejects(
  name: string,
  bytes: Uint8Array,
  pattern: RegExp,
  kind: typeof FormatError | typeof UnsupportedError = FormatError,
): Promise<void> {
  const path = dir.file(name, bytes);
  await assert.rejects(
    () => openGGUFPath(path),
    (err: unknown) => {
      assert.ok(err instanceof kind, `${name}: expected ${kind.name}, got ${String(err)}`);
      assert.match((err as Error).message, pattern);
      assert.ok((err as Error).message.includes(path), `${name}: message names the file`);
      return true;
    },
  );
}

test("broken headers are reported with the file and the field", async () => {
  await rejects("magic.gguf", new Bytes().u32(0x46554746).u32(3).u64(0).u64(0).build(), /not a GGUF file/);
  await rejects("short.gguf", new Uint8Array(10), /too short/);
  await rejects("v1.gguf", header(0, 0, 1).build(), /version 1/, UnsupportedError);
  await rejects("v9.gguf", header(0, 0, 9).build(), /unknown GGUF version 9/);
  await rejects("bigendian.gguf", new Bytes().u32(0x46554747).u32(0x03000000).u64(0).u64(0).build(), /big-endian/, UnsupportedError);
  await rejects("counts.gguf", header(0, 2 ** 40).build(), /metadata count/);
  await rejects(
    "truncated-kv.gguf",
    header(0, 1).str("general.architecture").u32(GGUFValueType.STRING).u64(100).raw(Buffer.from("qwen2")).build(),
    /general\.architecture/,
  );
  await rejects("dup.gguf", header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).build(), /'k' appears twice/);
  await rejects("valtype.gguf", header(0, 1).str("k").u32(13).u32(1).build(), /'k': unknown value type 13/);
  await rejects("bool.gguf", header(0, 1).str("flag").u32(GGUFValueType.BOOL).u8(2).build(), /'flag'.*0 or 1/);
  await rejects(
    "utf8.gguf",
    header(0, 1)
      .str("s")
      .u32(GGUFValueType.STRING)
      .str(new Uint8Array([0x68, 0xff, 0x69]))
      .build(),
    /'s'.*UTF-8/,
  );
  await rejects("align.gguf", header(0, 1).str("general.alignment").u32(GGUFValueType.UINT32).u32(24).build(), /power of two/);
  await rejects("aligntype.gguf", header(0, 1).str("general.alignment").u32(GGUFValueType.UINT64).u64(32).build(), /must be uint32/);
});

/** A file with one metadata entry and the given tensor infos, plus `dataBytes` of data. */
function withTensors(infos: Array<{ name: string; dims: number[]; type: number; offset: number }>, dataBytes: number): Uint8Array {
  const b = header(infos.length, 1).str("general.architecture").u32(GGUFValueType.STRING).str("x");
  for (const t of infos) {
    b.str(t.name).u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  return b.pad(32).raw(new Uint8Array(dataBytes)).build();
}

test("broken tensor infos name the tensor", async () => {
  await rejects("ttype.gguf", withTensors([{ name: "w", dims: [4], type: 99, offset: 0 }], 16), /'w': unknown ggml type id 99/);
  await rejects("tdims.gguf", withTensors([{ name: "w", dims: [1, 1, 1, 1, 1], type: 0, offset: 0 }], 16), /'w': 5 dimensions/);
  await rejects("tblock.gguf", withTensors([{ name: "q", dims: [48, 2], type: 8, offset: 0 }], 256), /'q'.*divisible by 32/);
  await rejects("tmisaligned.gguf", withTensors([{ name: "w", dims: [4], type: 0, offset: 8 }], 64), /'w'.*offset 8 is not a multiple/);
  await rejects("tpast.gguf", withTensors([{ name: "w", dims: [64], type: 0, offset: 0 }], 100), /'w'.*runs past the end/);
  await rejects(
    "toverlap.gguf",
    withTensors(
      [
        { name: "a", dims: [16], type: 0, offset: 0 },
        { name: "b", dims: [4], type: 0, offset: 32 },
      ],
      128,
    ),
    /'a' and 'b' overlap/,
  );
  await rejects(
    "tdup.gguf",
    withTensors(
      [
        { name: "a", dims: [4], type: 0, offset: 0 },
        { name: "a", dims: [4], type: 0, offset: 32 },
      ],
      64,
    ),
    /'a' is listed twice/,
  );
});

test("a truncated copy of a valid file fails cleanly at every cut inside the header", async () => {
  const path = dir.file("ok.gguf");
  await writeGGUF(
    path,
    new GGUFWriter()
      .string("general.architecture", "x")
      .strings("list", ["alpha", "beta"])
      .addTensor("w", "f32", [8], () => new Uint8Array(32)),
  );
  const whole = readFileSync(path);
  const g = await openGGUFPath(path);
  const headerEnd = g.dataOffset;
  g.close();
  for (let cut = 0; cut < whole.length; cut += 3) {
    const p = dir.file("cut.gguf");
    writeFileSync(p, whole.subarray(0, cut));
    await assert.rejects(() => openGGUFPath(p), FormatError, `cut at ${cut} of ${whole.length} (header ends at ${headerEnd})`);
  }
});

test("a closed file refuses to read tensors, naming the tensor", async () => {
  const path = dir.file("closed.gguf");
  await writeGGUF(
    path,
    new GGUFWriter().addTensor("w", "f32", [8], () => new Uint8Array(32)),
  );
  const g = await openGGUFPath(path);
  g.close();
  await assert.rejects(() => g.readTensorData(g.tensor("w")!), /'w'.*closed/);
});

test("the writer checks values and tensor sizes, and leaves no partial file behind", async () => {
  assert.throws(() => new GGUFWriter().set("x", GGUFValueType.UINT8, 256), /'x'/);
  assert.throws(() => new GGUFWriter().u32("x", -1), /'x'/);
  assert.throws(() => new GGUFWriter().addTensor("q", "q8_0", [2, 31], () => new Uint8Array(0)), /divisible by 32/);
  const path = dir.file("bad-size.gguf");
  const w = new GGUFWriter().addTensor("w", "f32", [8], () => new Uint8Array(31));
  await assert.rejects(() => writeGGUF(path, w), /'w': expected 32 bytes/);
  assert.ok(!(await isGGUFPath(path)));
  assert.ok(!existsSync(`${path}.partial`), "no partial file either");
});
