/**
 * The reference backend against independent, naive formulas on random data with awkward
 * sizes (odd widths, one row, tails), since every fast backend is in turn tested against it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import type { HostTensor } from "../../src/formats/weights.js";
import { f32ToBf16, f32ToF16, bf16ToF32, f16ToF32 } from "../../src/tensor/convert.js";
import { canQuantize, quantize, dequantize } from "../../src/tensor/quant/index.js";
import { QUANT_DTYPES } from "../../src/tensor/dtype.js";
import type { WeightDType } from "../../src/tensor/dtype.js";
import { InvalidArgumentError } from "../../src/errors.js";
import { mulberry32 } from "../../src/tensor/random.js";

/** Deterministic values in [-1, 1) from the project's PRNG. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => (next() / 4294967296) * 2 - 1;
}

function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
}

/** Encodes float32 values in a storage dtype, returning the tensor and the values it really holds. */
function tensorOf(name: string, dtype: WeightDType, shape: number[], values: Float32Array): { t: HostTensor; exact: Float32Array } {
  const n = values.length;
  switch (dtype) {
    case "f32":
      return { t: { name, dtype, shape, data: new Uint8Array(values.slice().buffer) }, exact: values };
    case "bf16":
    case "f16": {
      const bits = new Uint16Array(n);
      const exact = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        bits[i] = dtype === "bf16" ? f32ToBf16(values[i]!) : f32ToF16(values[i]!);
        exact[i] = dtype === "bf16" ? bf16ToF32(bits[i]!) : f16ToF32(bits[i]!);
      }
      return { t: { name, dtype, shape, data: new Uint8Array(bits.buffer) }, exact };
    }
    default: {
      if (!canQuantize(dtype)) throw new Error(`tensorOf: cannot write ${dtype}`);
      const data = quantize(dtype, values);
      return { t: { name, dtype, shape, data }, exact: dequantize(dtype, data, n) };
    }
  }
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    const diff = Math.abs(actual[i]! - e);
    if (!(diff <= tol * Math.max(1, Math.abs(e)))) assert.fail(`${what}: index ${i}: got ${actual[i]}, expected ${e} (diff ${diff})`);
  }
}

const be = new ReferenceBackend();

test("matmul and embed decode every ggml block type row by row (K-quants on 256-wide rows, legacy on 32-wide blocks)", async () => {
  const r = rng(5);
  const blockTypes = QUANT_DTYPES.filter((d) => d !== "q8_k" && canQuantize(d));
  assert.ok(blockTypes.length >= 10);
  for (const dtype of blockTypes) {
    const [n, inDim, outDim] = [2, 512, 3];
    const { t, exact } = tensorOf("w", dtype, [outDim, inDim], randn(outDim * inDim, r));
    const xv = randn(n * inDim, r);
    const w = await be.upload(t);
    const x = be.alloc(n, inDim);
    const out = be.alloc(n, outDim);
    be.write(x, xv);
    be.matmul(out, x, w, null, n);
    const expected = new Float64Array(n * outDim);
    for (let i = 0; i < n; i++)
      for (let o = 0; o < outDim; o++)
        for (let k = 0; k < inDim; k++) expected[i * outDim + o]! += xv[i * inDim + k]! * exact[o * inDim + k]!;
    assertClose(await be.read(out, 0, n), expected, 1e-5, `matmul ${dtype}`);
    const rows = be.alloc(2, inDim);
    be.embed(rows, w, new Int32Array([2, 0]));
    assert.deepEqual(
      [...(await be.read(rows, 0, 2))],
      [...exact.subarray(2 * inDim, 3 * inDim), ...exact.subarray(0, inDim)],
      `embed ${dtype}`,
    );
  }
});

test("matmul with bias matches a naive product for every weight dtype and awkward shapes", async () => {
  const r = rng(1);
  for (const dtype of ["f32", "f16", "bf16", "q8_0", "q4_0"] as const) {
    for (const [n, inDim, outDim] of [
      [1, 32, 1],
      [3, 96, 7],
      [5, 64, 13],
      [2, 160, 33],
    ] as const) {
      const wv = randn(outDim * inDim, r);
      const { t, exact } = tensorOf("w", dtype, [outDim, inDim], wv);
      const bias = tensorOf("b", "f32", [outDim], randn(outDim, r));
      const xv = randn(n * inDim, r);
      const w = await be.upload(t);
      const x = be.alloc(n + 1, inDim); // one spare row: ops must honour n
      const out = be.alloc(n + 1, outDim);
      be.write(x, xv);
      be.matmul(out, x, w, await be.upload(bias.t), n);
      const expected = new Float64Array(n * outDim);
      for (let i = 0; i < n; i++)
        for (let o = 0; o < outDim; o++) {
          let s = bias.exact[o]!;
          for (let k = 0; k < inDim; k++) s += xv[i * inDim + k]! * exact[o * inDim + k]!;
          expected[i * outDim + o] = s;
        }
      assertClose(await be.read(out, 0, n), expected, 1e-6, `matmul ${dtype} [${n}x${inDim}]x[${outDim}]`);
      assert.deepEqual([...(await be.read(out, n, 1))], new Array(outDim).fill(0), "spare row untouched");
    }
  }
  // Float types need no block alignment.
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    const { t, exact } = tensorOf("w", dtype, [5, 17], randn(85, r));
    const xv = randn(3 * 17, r);
    const x = be.alloc(3, 17);
    const out = be.alloc(3, 5);
    be.write(x, xv);
    be.matmul(out, x, await be.upload(t), null, 3);
    const expected: number[] = [];
    for (let i = 0; i < 3; i++)
      for (let o = 0; o < 5; o++) {
        let s = 0;
        for (let k = 0; k < 17; k++) s += xv[i * 17 + k]! * exact[o * 17 + k]!;
        expected.push(s);
      }
    assertClose(await be.read(out), expected, 1e-6, `matmul ${dtype} width 17`);
  }
});

test("quantised rows decode as GGUF defines them (low nibbles first, (q - 8) * d)", async () => {
  // One Q4_0 block built by hand: scale 0.5 (f16 0x3800), byte j = (j % 16) | (15 - j % 16) << 4.
  const block = new Uint8Array(18);
  block[0] = 0x00;
  block[1] = 0x38;
  for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
  const w = await be.upload({ name: "q4", dtype: "q4_0", shape: [1, 32], data: block });
  const table = await be.upload({ name: "t", dtype: "q4_0", shape: [1, 32], data: block });
  const out = be.alloc(1, 32);
  be.embed(out, table, new Int32Array([0]));
  const got = await be.read(out);
  for (let j = 0; j < 16; j++) {
    assert.equal(got[j], (j - 8) * 0.5);
    assert.equal(got[16 + j], (15 - j - 8) * 0.5);
  }
  // Q8_0: scale 0.25, quants -128..., signed.
  const q8 = new Uint8Array(34);
  q8[0] = 0x00;
  q8[1] = 0x34; // f16 0.25
  for (let j = 0; j < 32; j++) q8[2 + j] = (j * 9 - 128) & 0xff;
  be.embed(out, await be.upload({ name: "q8", dtype: "q8_0", shape: [1, 32], data: q8 }), new Int32Array([0]));
  const got8 = await be.read(out);
  for (let j = 0; j < 32; j++) assert.equal(got8[j], (((j * 9 - 128) << 24) >> 24) * 0.25);
  assert.ok(w.shape[1] === 32);
});

test("embed gathers rows and names an id outside the table", async () => {
  const r = rng(2);
  const { t, exact } = tensorOf("emb", "bf16", [11, 7], randn(77, r));
  const table = await be.upload(t);
  const out = be.alloc(4, 7);
  be.embed(out, table, new Int32Array([10, 0, 3, 10]));
  const expected = [10, 0, 3, 10].flatMap((id) => [...exact.subarray(id * 7, id * 7 + 7)]);
  assertClose(await be.read(out), expected, 0, "embed");
  assert.throws(
    () => be.embed(out, table, new Int32Array([11])),
    (e: unknown) => e instanceof InvalidArgumentError && /11/.test((e as Error).message),
  );
});

test("rmsnorm matches x / sqrt(mean(x^2) + eps) * w, in place too", async () => {
  const r = rng(3);
  const d = 37;
  const n = 3;
  const xv = randn(n * d, r, 5);
  const { t, exact: g } = tensorOf("g", "f32", [d], randn(d, r));
  const x = be.alloc(n, d);
  be.write(x, xv);
  const out = be.alloc(n, d);
  for (const eps of [1e-6, 0.5]) {
    be.rmsnorm(out, x, await be.upload(t), eps, n);
    const expected: number[] = [];
    for (let i = 0; i < n; i++) {
      let ss = 0;
      for (let k = 0; k < d; k++) ss += xv[i * d + k]! ** 2;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let k = 0; k < d; k++) expected.push(xv[i * d + k]! * inv * g[k]!);
    }
    assertClose(await be.read(out), expected, 1e-6, `rmsnorm eps ${eps}`);
  }
  be.rmsnorm(x, x, await be.upload(t), 0.5, n);
  assertClose(await be.read(x), await be.read(out), 0, "rmsnorm in place");
});

test("rope rotates each head's halves by the given cos/sin", async () => {
  const r = rng(4);
  const heads = 3;
  const hd = 10;
  const n = 2;
  const xv = randn(n * heads * hd, r);
  const ang = randn(n * 5, r, 3);
  const cos = ang.map(Math.cos);
  const sin = ang.map(Math.sin);
  const x = be.alloc(n, heads * hd);
  be.write(x, xv);
  be.rope(x, n, heads, hd, cos, sin);
  const expected = new Float64Array(n * heads * hd);
  for (let i = 0; i < n; i++)
    for (let h = 0; h < heads; h++)
      for (let j = 0; j < 5; j++) {
        const b = i * heads * hd + h * hd;
        const a1 = xv[b + j]!;
        const a2 = xv[b + j + 5]!;
        const th = ang[i * 5 + j]!;
        expected[b + j] = a1 * Math.cos(th) - a2 * Math.sin(th);
        expected[b + j + 5] = a2 * Math.cos(th) + a1 * Math.sin(th);
      }
  assertClose(await be.read(x), expected, 1e-6, "rope");
});

test("swiglu, add and copyRows", async () => {
  const r = rng(5);
  const a = randn(3 * 9, r, 4);
  const b = randn(3 * 9, r, 4);
  const A = be.alloc(3, 9);
  const B = be.alloc(3, 9);
  const O = be.alloc(3, 9);
  be.write(A, a);
  be.write(B, b);
  be.swiglu(O, A, B, 2);
  const expected = [...a].map((v, i) => (i < 18 ? (v / (1 + Math.exp(-v))) * b[i]! : 0));
  assertClose(await be.read(O), expected, 1e-6, "swiglu");
  be.add(O, A, B, 3);
  assertClose(
    await be.read(O),
    [...a].map((v, i) => v + b[i]!),
    1e-7,
    "add",
  );
  const C = be.alloc(2, 9);
  be.copyRows(C, A, new Int32Array([2, 0]));
  assertClose(await be.read(C), [...a.subarray(18, 27), ...a.subarray(0, 9)], 0, "copyRows");
  const into = new Float32Array(12).fill(-1);
  await be.readInto(C, 1, 1, into, 3);
  assertClose(into, [-1, -1, -1, ...a.subarray(0, 9)], 0, "readInto");
  await assert.rejects(() => be.readInto(C, 1, 1, into, 4), /do not fit/);
});

/** Naive GQA attention over explicit key/value lists (no ring), optionally windowed. */
function naiveAttention(
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  total: number,
  past: number,
  count: number,
  heads: number,
  kvHeads: number,
  hd: number,
  window: number | null,
  roundP: (p: number) => number = (p) => p,
): Float64Array {
  const out = new Float64Array(count * heads * hd);
  const scale = 1 / Math.sqrt(hd);
  for (let i = 0; i < count; i++) {
    const s = past + i;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor((h * kvHeads) / heads);
      const logits: number[] = [];
      const idx: number[] = [];
      for (let j = 0; j < total; j++) {
        const visible = j <= s && (window === null || s - j < window);
        if (!visible) continue;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[i * heads * hd + h * hd + d]! * keys[j * kvHeads * hd + g * hd + d]!;
        logits.push(dot * scale);
        idx.push(j);
      }
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((x, y) => x + y, 0);
      for (let t = 0; t < idx.length; t++)
        for (let d = 0; d < hd; d++) out[i * heads * hd + h * hd + d]! += roundP(e[t]! / z) * values[idx[t]! * kvHeads * hd + g * hd + d]!;
    }
  }
  return out;
}

test("attention: causal GQA and sliding windows over chunked ring caches equal the naive formula", async () => {
  const r = rng(6);
  const heads = 6;
  const kvHeads = 2;
  const hd = 6;
  const total = 23;
  const keys = randn(total * kvHeads * hd, r, 2);
  const values = randn(total * kvHeads * hd, r);
  const queries = randn(total * heads * hd, r, 2);
  for (const window of [null, 1, 4, 7]) {
    for (const chunk of [1, 5, 23]) {
      const capacity = window === null ? total : window + chunk - 1;
      const kv = be.allocKV(kvHeads, capacity, hd);
      const K = be.alloc(chunk, kvHeads * hd);
      const V = be.alloc(chunk, kvHeads * hd);
      const Q = be.alloc(chunk, heads * hd);
      const O = be.alloc(chunk, heads * hd);
      for (let past = 0; past < total; past += chunk) {
        const count = Math.min(chunk, total - past);
        be.write(K, keys.subarray(past * kvHeads * hd, (past + count) * kvHeads * hd));
        be.write(V, values.subarray(past * kvHeads * hd, (past + count) * kvHeads * hd));
        be.write(Q, queries.subarray(past * heads * hd, (past + count) * heads * hd));
        be.storeKV(kv, K, V, 0, count, past);
        be.attention(O, Q, [{ kv, row: 0, count, past }], { heads, kvHeads, headDim: hd, scale: 1 / Math.sqrt(hd), window });
        const expected = naiveAttention(queries.subarray(past * heads * hd), keys, values, total, past, count, heads, kvHeads, hd, window);
        assertClose(await be.read(O, 0, count), expected, 1e-6, `attention window ${window} chunk ${chunk} past ${past}`);
      }
    }
  }
});

test('kvCache "f16" (llama.cpp\'s F16 cache): attention equals the naive formula on f16-rounded q, k, v and f16-rounded probabilities', async () => {
  const r = rng(16);
  const [heads, kvHeads, hd, total] = [4, 2, 8, 11];
  const toF16 = (x: number): number => f16ToF32(f32ToF16(x));
  const keys = randn(total * kvHeads * hd, r, 2);
  const values = randn(total * kvHeads * hd, r);
  const queries = randn(total * heads * hd, r, 2);
  const f16 = new ReferenceBackend({ kvCache: "f16" });
  const kv = f16.allocKV(kvHeads, total, hd);
  const [K, V, Q, O] = [
    f16.alloc(total, kvHeads * hd),
    f16.alloc(total, kvHeads * hd),
    f16.alloc(total, heads * hd),
    f16.alloc(total, heads * hd),
  ];
  f16.write(K, keys);
  f16.write(V, values);
  f16.write(Q, queries);
  f16.storeKV(kv, K, V, 0, total, 0);
  f16.attention(O, Q, [{ kv, row: 0, count: total, past: 0 }], { heads, kvHeads, headDim: hd, scale: 1 / Math.sqrt(hd), window: null });
  const [qh, kh, vh] = [queries, keys, values].map((a) => a.map(toF16));
  const want = naiveAttention(qh!, kh!, vh!, total, 0, total, heads, kvHeads, hd, null, toF16);
  assertClose(await f16.read(O), want, 1e-6, "f16 cache attention");
  // The rounding is there: the plain float32 formula is further off than the bound.
  const plain = naiveAttention(queries, keys, values, total, 0, total, heads, kvHeads, hd, null);
  assert.ok(
    (await f16.read(O)).some((x, i) => Math.abs(x - plain[i]!) > 1e-4),
    "f16 cache rounds",
  );
  assert.throws(() => new ReferenceBackend({ kvCache: "bf16" as "f16" }), /kvCache must be "f32" or "f16", got bf16/);
});

test("attention handles several segments in one call and refuses a ring that lost needed keys", async () => {
  const r = rng(7);
  const hd = 4;
  const kvA = be.allocKV(1, 8, hd);
  const kvB = be.allocKV(1, 8, hd);
  const kA = randn(3 * hd, r);
  const kB = randn(2 * hd, r);
  const vA = randn(3 * hd, r);
  const vB = randn(2 * hd, r);
  const q = randn(5 * 2 * hd, r);
  const K = be.alloc(5, hd);
  const V = be.alloc(5, hd);
  be.write(K, new Float32Array([...kA, ...kB]));
  be.write(V, new Float32Array([...vA, ...vB]));
  be.storeKV(kvA, K, V, 0, 3, 0);
  be.storeKV(kvB, K, V, 3, 2, 0);
  const Q = be.alloc(5, 2 * hd);
  be.write(Q, q);
  const O = be.alloc(5, 2 * hd);
  const params = { heads: 2, kvHeads: 1, headDim: hd, scale: 0.5, window: null };
  be.attention(
    O,
    Q,
    [
      { kv: kvA, row: 0, count: 3, past: 0 },
      { kv: kvB, row: 3, count: 2, past: 0 },
    ],
    params,
  );
  // params.scale 0.5 = 1/sqrt(4), the scale naiveAttention uses.
  const expectA = naiveAttention(q.subarray(0, 3 * 2 * hd), kA, vA, 3, 0, 3, 2, 1, hd, null);
  const expectB = naiveAttention(q.subarray(3 * 2 * hd), kB, vB, 2, 0, 2, 2, 1, hd, null);
  assertClose(await be.read(O), [...expectA, ...expectB], 1e-6, "two sequences in one call");
  // A full-attention query at slot 9 in a ring of 8 has lost slots 0 and 1.
  const small = be.allocKV(1, 8, hd);
  const Kt = be.alloc(10, hd);
  const Vt = be.alloc(10, hd);
  be.storeKV(small, Kt, Vt, 0, 8, 0);
  be.storeKV(small, Kt, Vt, 8, 2, 8);
  const Q1 = be.alloc(1, 2 * hd);
  assert.throws(() => be.attention(Q1, Q1, [{ kv: small, row: 0, count: 1, past: 9 }], params), /slot/);
});

test("shape mismatches are named errors, not crashes", async () => {
  const w = await be.upload({ name: "w", dtype: "f32", shape: [4, 6], data: new Uint8Array(96) });
  const x = be.alloc(2, 5);
  const out = be.alloc(2, 4);
  assert.throws(
    () => be.matmul(out, x, w, null, 2),
    (e: unknown) => e instanceof InvalidArgumentError && /x has 5 columns, expected 6/.test((e as Error).message),
  );
  await assert.rejects(() => be.upload({ name: "bad", dtype: "f32", shape: [4, 6], data: new Uint8Array(95) }), /bad/);
  await assert.rejects(() => be.upload({ name: "q", dtype: "q8_0", shape: [2, 20], data: new Uint8Array(0) }), /q/);
  await assert.rejects(() => be.upload({ name: "i", dtype: "i32", shape: [2], data: new Uint8Array(8) }), /i32/);
});
