import { test } from "node:test";
import assert from "node:assert/strict";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, toFloat32 } from "../../src/tensor/convert.js";

test("f16 round trip is exact for every finite half value", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const exp = (bits >> 10) & 0x1f;
    if (exp === 0x1f && (bits & 0x3ff) !== 0) continue; // NaN payloads need not survive
    const back = f32ToF16(f16ToF32(bits));
    assert.equal(back, bits, `bits 0x${bits.toString(16)}`);
  }
});

test("f16 rounding: nearest even, overflow to infinity, tiny values to zero", () => {
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // halfway, ties to even (down)
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // halfway, ties to even (up)
  assert.equal(f32ToF16(65520), 0x7c00);
  assert.equal(f32ToF16(-1e-10), 0x8000);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
});

test("bf16 conversion rounds to nearest even and keeps NaN", () => {
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(bf16ToF32(0x3f80), 1);
  // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to even gives 1.
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
});

test("toFloat32 decodes little-endian bytes, also from unaligned views", () => {
  const values = [0, 1, -2.5, 65504, 2 ** -24];
  const half = new Uint16Array(values.map(f32ToF16));
  const raw = new Uint8Array(half.byteLength + 1);
  raw.set(new Uint8Array(half.buffer), 1);
  assert.deepEqual(Array.from(toFloat32("f16", raw.subarray(1))), values);
  const bf = new Uint16Array(values.slice(0, 3).map(f32ToBf16));
  assert.deepEqual(Array.from(toFloat32("bf16", new Uint8Array(bf.buffer))), values.slice(0, 3));
  const f = new Float32Array([3.25, -7]);
  assert.deepEqual(Array.from(toFloat32("f32", new Uint8Array(f.buffer))), [3.25, -7]);
});
