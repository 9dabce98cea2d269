import { after, test } from "node:test";
import assert from "node:assert/strict";
import { QuantizePool } from "../../src/node/quantize_pool.js";
import { quantize } from "../../src/tensor/quant/index.js";

const pool = new QuantizePool(2, 600);
after(() => pool.close());

test("QuantizePool splits a tensor into row ranges on worker threads and joins the blocks into quantize()'s bytes", async () => {
  const cols = 512;
  const rows = 7; // 600-weight jobs: one row each, on two threads, finishing in any order
  const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 97) / 10));
  for (const dtype of ["q4_k", "q6_k", "q5_0", "q8_0"] as const) {
    const expected = quantize(dtype, values);
    assert.deepEqual(await pool.quantize(dtype, values.slice(), cols), expected, dtype);
  }
});

test("a quantiser error in a worker rejects with its message", async () => {
  await assert.rejects(pool.quantize("q4_k", new Float32Array(100), 100), /not a multiple of the block size 256/);
});
