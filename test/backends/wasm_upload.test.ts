/**
 * How the wasm backend reads a streamed tensor at upload: in pieces of at most 4 MiB, with the
 * next piece's read already started while one is awaited (over HTTP, two requests in flight),
 * and the result equal to an upload from memory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import type { TensorReader } from "../../src/formats/weights.js";
import { makeTensor, maxAbsDiff, randomFloats, rng } from "./wasm_support.js";

test("upload starts reading the next piece before the current one is done, and uploads the same rows", async () => {
  const be = await WasmBackend.create({ threads: 1, relaxed: false });
  try {
    const rows = 2600;
    const cols = 2048; // bf16: 4 KiB a row, so 1024 rows a piece and three pieces
    const { tensor, exact } = makeTensor("w", "bf16", [rows, cols], randomFloats(rows * cols, rng(7)));
    const events: string[] = [];
    const reader: TensorReader = {
      name: tensor.name,
      dtype: tensor.dtype,
      shape: tensor.shape,
      byteLength: tensor.data.byteLength,
      async readInto(dest: Uint8Array, offset: number): Promise<void> {
        events.push(`start ${offset}`);
        await Promise.resolve();
        dest.set(tensor.data.subarray(offset, offset + dest.byteLength));
        events.push(`end ${offset}`);
      },
    };
    const w = await be.upload(reader);
    const piece = 1024 * cols * 2;
    assert.deepEqual(events.slice(0, 3), ["start 0", `start ${piece}`, "end 0"], "the second read starts before the first ends");
    assert.deepEqual(
      events.filter((e) => e.startsWith("start")),
      ["start 0", `start ${piece}`, `start ${2 * piece}`],
      "each piece read once, in order",
    );
    const ids = Int32Array.from([0, 1023, 1024, 2047, 2048, rows - 1]);
    const out = be.alloc(ids.length, cols);
    be.embed(out, w, ids);
    const want = new Float64Array(ids.length * cols);
    ids.forEach((id, i) => want.set(exact.subarray(id * cols, id * cols + cols), i * cols));
    assert.ok(maxAbsDiff(await be.read(out), want) < 1e-6);
    be.free(out);
    be.free(w);
  } finally {
    be.dispose();
  }
});

test("a failed read rejects the upload with its error, and the read in flight beside it does not go unhandled", async () => {
  const be = await WasmBackend.create({ threads: 1, relaxed: false });
  try {
    const rows = 2600;
    const cols = 2048;
    const failing: TensorReader = {
      name: "w",
      dtype: "bf16",
      shape: [rows, cols],
      byteLength: rows * cols * 2,
      async readInto(_dest: Uint8Array, offset: number): Promise<void> {
        await Promise.resolve();
        throw new Error(`read at ${offset} failed`);
      },
    };
    await assert.rejects(be.upload(failing), /read at 0 failed/);
  } finally {
    be.dispose();
  }
});
