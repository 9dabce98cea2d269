import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../src/errors.js";
import { f16ToF32, f32ToF16 } from "../../src/tensor/convert.js";
import { byteSize } from "../../src/tensor/dtype.js";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0, weightToFloat32 } from "../../src/tensor/quant/index.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function scaleOf(bytes: Uint8Array, block: number, blockBytes: number): number {
  return f16ToF32(bytes[block * blockBytes]! | (bytes[block * blockBytes + 1]! << 8));
}

test("Q8_0: scale is amax/127 stored as f16, quants round(x/d)", () => {
  const x = Float32Array.from({ length: 32 }, (_, i) => i - 16); // -16 .. 15
  const q = quantizeQ8_0(x);
  assert.equal(q.length, byteSize("q8_0", [32]));
  const d = Math.fround(16 / 127);
  assert.equal(q[0]! | (q[1]! << 8), f32ToF16(d));
  const quants = Int8Array.from(q.subarray(2));
  assert.equal(quants[0], -127); // -16 * 127/16
  assert.equal(quants[31], 119); // 15 * 7.9375 = 119.06
  assert.equal(quants[17], 8); // 1 * 7.9375 rounds up
  assert.equal(quants[16], 0);
});

test("Q8_0 rounds halves away from zero, as C's roundf (not to even, not towards +inf)", () => {
  const x = new Float32Array(32);
  x[0] = 127; // d = 1 exactly, so x * id is x itself
  x[1] = 2.5;
  x[2] = -2.5;
  x[3] = 0.5;
  x[4] = -0.5;
  x[5] = 3.5;
  const quants = Int8Array.from(quantizeQ8_0(x).subarray(2));
  assert.deepEqual([...quants.subarray(0, 6)], [127, 3, -3, 1, -1, 4]);
});

test("Q4_0 scales by the signed value of largest magnitude and packs j | j+16 << 4", () => {
  const x = new Float32Array(32);
  x[0] = -8; // largest magnitude, negative: d = -8 / -8 = 1
  x[1] = 7;
  x[2] = 7.6; // 16.1 truncated, clamped to 15
  x[3] = 0.49; // trunc(8.99) = 8
  x[4] = 0.5; // trunc(9.0) = 9
  x[16] = -3;
  x[17] = 2;
  const q = quantizeQ4_0(x);
  assert.equal(q.length, 18);
  assert.equal(scaleOf(q, 0, 18), 1);
  const nib = (j: number): number => (j < 16 ? q[2 + j]! & 0xf : q[2 + j - 16]! >> 4);
  assert.deepEqual([0, 1, 2, 3, 4, 16, 17, 5].map(nib), [0, 15, 15, 8, 9, 5, 10, 8]);

  // A positive maximum gives a negative scale; that value maps to quant 0.
  const y = new Float32Array(32);
  y[5] = 8;
  y[6] = -8;
  const p = quantizeQ4_0(y);
  assert.equal(scaleOf(p, 0, 18), -1);
  assert.equal(p[2 + 5]! & 0xf, 0);
  assert.equal(p[2 + 6]! & 0xf, 15); // -8 * -1 + 8.5 = 16.5 → clamped
  const back = dequantizeQ4_0(p, 32);
  assert.equal(back[5], 8);
  assert.equal(back[6], -7);
});

test("the first value of the largest magnitude sets the Q4_0 scale (ties keep the earlier one)", () => {
  const x = new Float32Array(32);
  x[3] = 4;
  x[9] = -4;
  assert.equal(scaleOf(quantizeQ4_0(x), 0, 18), -0.5);
  x[3] = -4;
  x[9] = 4;
  assert.equal(scaleOf(quantizeQ4_0(x), 0, 18), 0.5);
});

test("all-zero blocks quantise to a zero scale and dequantise to zeros", () => {
  const zero = new Float32Array(64);
  assert.deepEqual([...dequantizeQ8_0(quantizeQ8_0(zero), 64)], [...zero]);
  const q4 = quantizeQ4_0(zero);
  // ggml computes d = 0 / -8 = -0, stored as the f16 bits of -0.
  assert.equal(q4[0]! | (q4[1]! << 8), 0x8000);
  assert.equal(q4[2], 0x88);
  assert.ok(dequantizeQ4_0(q4, 64).every((v) => v === 0));
});

test("dequantised values stay within half a step of the input (random blocks of varied scale)", () => {
  const r = rng(7);
  const n = 32 * 200;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (r() - 0.5) * 10 ** Math.floor(((i / 32) % 7) - 3);
  const q8 = quantizeQ8_0(x);
  const q4 = quantizeQ4_0(x);
  const b8 = dequantizeQ8_0(q8, n);
  const b4 = dequantizeQ4_0(q4, n);
  for (let b = 0; b < n / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d8 = amax / 127;
    const d8h = Math.abs(scaleOf(q8, b, 34));
    const d4 = Math.abs(scaleOf(q4, b, 18));
    for (let j = 0; j < 32; j++) {
      const i = b * 32 + j;
      // Half a step from rounding, plus the f16 rounding of the scale times the largest quant.
      assert.ok(Math.abs(x[i]! - b8[i]!) <= 0.5 * d8 * (1 + 1e-6) + 127 * Math.abs(d8 - d8h), `q8_0 element ${i}`);
      // Q4_0 has 8 steps on the side of the maximum and 7 on the other: clamping costs up to one step there.
      assert.ok(Math.abs(x[i]! - b4[i]!) <= d4 * (1 + 1e-3), `q4_0 element ${i}`);
    }
  }
});

test("quantising what was dequantised gives the same bytes back (Q8_0 and Q4_0 are fixed points)", () => {
  const r = rng(11);
  const x = Float32Array.from({ length: 32 * 16 }, () => r() * 2 - 1);
  const q8 = quantizeQ8_0(x);
  assert.deepEqual(quantizeQ8_0(dequantizeQ8_0(q8, x.length)), q8);
  const q4 = quantizeQ4_0(x);
  assert.deepEqual(quantizeQ4_0(dequantizeQ4_0(q4, x.length)), q4);
});

test("lengths that are not whole blocks, and short buffers, are rejected", () => {
  assert.throws(() => quantizeQ8_0(new Float32Array(33)), InvalidArgumentError);
  assert.throws(() => quantizeQ4_0(new Float32Array(31)), InvalidArgumentError);
  assert.throws(() => dequantizeQ8_0(new Uint8Array(33), 32), /need 34 bytes/);
  assert.throws(() => weightToFloat32("q4_0", new Uint8Array(18), 64), InvalidArgumentError);
});

test("weightToFloat32 reads float storage and block storage alike", () => {
  const x = Float32Array.from({ length: 32 }, (_, i) => i / 4);
  assert.deepEqual([...weightToFloat32("f32", new Uint8Array(x.buffer), 32)], [...x]);
  assert.deepEqual([...weightToFloat32("q8_0", quantizeQ8_0(x), 32)], [...dequantizeQ8_0(quantizeQ8_0(x), 32)]);
});
