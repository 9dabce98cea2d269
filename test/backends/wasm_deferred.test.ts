/**
 * Deferred execution in the WebAssembly backend: ops record commands and a driver worker runs
 * them when a read asks for results, so the calling thread's event loop runs meanwhile. Each
 * hazard of recording is checked with several ops recorded before one read:
 * - data the caller passes (ids, rotary tables, staged writes, row indices) must be the data
 *   of each op, not of the last one recorded;
 * - JS-side copies (write, storeKV, copyRows, addScaledRows) must run in order with the kernels;
 * - a freed region (a model's free, an outgrown scratch area) must not be handed out and
 *   zero-filled before the commands that still use it have run;
 * - a kernel trap rejects the read naming the op; a disposed backend rejects; memory growth
 *   while commands are pending keeps them valid.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import type { Backend, Mat } from "../../src/backends/ops.js";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import { makeTensor, randomFloats, rng } from "./wasm_support.js";
import { createTinyModel } from "../models/tiny_model.js";
import { quantize } from "../../src/tensor/quant/index.js";

const threads = 2;

test("the event loop runs while a forward pass is pending on the wasm backend", async () => {
  const backend = await WasmBackend.create({ threads });
  const model = await createTinyModel({
    vocabSize: 512,
    seed: 3,
    backend,
    config: { hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2 },
  });
  try {
    const ids = Int32Array.from({ length: 128 }, (_, i) => (i * 37 + 5) % 512);
    const cache = model.createCache(ids.length);
    const order: string[] = [];
    const pass = model.forward([{ ids, cache }]).then(() => order.push("forward resolved"));
    // Ran on the calling thread, this forward pass would finish (and its promise settle,
    // microtasks only) before the event loop reached its next phase.
    setImmediate(() => order.push("setImmediate ran"));
    await pass;
    assert.deepEqual(order, ["setImmediate ran", "forward resolved"]);
    cache.dispose();
  } finally {
    model.dispose();
    backend.dispose();
  }
});

test("wasm backend: ops recorded before one read each see their own data and run in order", async () => {
  const be = await WasmBackend.create({ threads });
  const ref = new ReferenceBackend();
  const rand = rng(5);
  try {
    // Two embeds of different ids (large enough that the list's arena grows between them).
    const vocab = 64;
    const dim = 32;
    const { tensor } = makeTensor("table", "f32", [vocab, dim], randomFloats(vocab * dim, rand));
    const table = await be.upload(tensor);
    const rtable = await ref.upload(tensor);
    const ids1 = Int32Array.from({ length: 1500 }, (_, i) => (i * 7) % vocab);
    const ids2 = Int32Array.from({ length: 1500 }, (_, i) => (i * 11 + 3) % vocab);
    const e1 = be.alloc(1500, dim);
    const e2 = be.alloc(1500, dim);
    be.embed(e1, table, ids1);
    be.embed(e2, table, ids2);
    // Two ropes with different tables on the same input.
    const n = 4;
    const heads = 2;
    const hd = 8;
    const xs = randomFloats(n * heads * hd, rand);
    const cos1 = randomFloats(n * 4, rand);
    const sin1 = randomFloats(n * 4, rand);
    const cos2 = randomFloats(n * 4, rand);
    const sin2 = randomFloats(n * 4, rand);
    const r1 = be.alloc(n, heads * hd);
    const r2 = be.alloc(n, heads * hd);
    be.write(r1, xs);
    be.write(r2, xs);
    be.rope(r1, n, heads, hd, cos1, sin1);
    be.rope(r2, n, heads, hd, cos2, sin2);
    // A write, an op on it, then another write of the same matrix.
    const w = be.alloc(2, 16);
    const sum = be.alloc(2, 16);
    const v1 = randomFloats(32, rand);
    be.write(w, v1);
    be.add(sum, w, w, 2);
    be.write(w, randomFloats(32, rand));
    // copyRows and addScaledRows of results computed in the same list.
    const picked = be.alloc(2, 16);
    be.copyRows(picked, sum, Int32Array.of(1, 0));
    const acc = be.alloc(3, 16);
    const base = randomFloats(48, rand);
    be.write(acc, base);
    be.addScaledRows(acc, sum, Int32Array.of(2, 2), 0.37);

    const rcheck = async (f: (b: Backend, m: (r: number, c: number) => Mat) => Mat): Promise<Float32Array> => {
      const out = f(ref, (r, c) => ref.alloc(r, c));
      return ref.read(out);
    };
    const want1 = await rcheck((b, m) => {
      const o = m(1500, dim);
      b.embed(o, rtable, ids1);
      return o;
    });
    const want2 = await rcheck((b, m) => {
      const o = m(1500, dim);
      b.embed(o, rtable, ids2);
      return o;
    });
    const rope = (cos: Float32Array, sin: Float32Array) =>
      rcheck((b, m) => {
        const o = m(n, heads * hd);
        b.write(o, xs);
        b.rope(o, n, heads, hd, cos, sin);
        return o;
      });
    const wantSum = v1.map((v) => v + v);
    const wantAcc = await rcheck((b, m) => {
      const o = m(3, 16);
      const s = m(2, 16);
      b.write(o, base);
      b.write(s, wantSum);
      b.addScaledRows(o, s, Int32Array.of(2, 2), 0.37);
      return o;
    });

    assert.deepEqual(await be.read(e1), want1, "first embed: its own ids");
    assert.deepEqual(await be.read(e2), want2, "second embed");
    assert.deepEqual(await be.read(r1), await rope(cos1, sin1), "first rope: its own tables");
    assert.deepEqual(await be.read(r2), await rope(cos2, sin2), "second rope");
    assert.deepEqual(await be.read(sum), wantSum, "add saw the first write, not the second");
    assert.deepEqual(await be.read(picked), Float32Array.from([...wantSum.subarray(16), ...wantSum.subarray(0, 16)]), "copyRows");
    assert.deepEqual(await be.read(acc), wantAcc, "addScaledRows, bit for bit with the reference (repeated row)");
  } finally {
    be.dispose();
  }
});

test("wasm backend: storeKV copies keys and values computed earlier in the same list", async () => {
  const be = await WasmBackend.create({ threads });
  try {
    const heads = 2;
    const hd = 8;
    const kv = be.allocKV(heads, 4, hd);
    const k = be.alloc(1, heads * hd);
    const v = be.alloc(1, heads * hd);
    const vals = randomFloats(heads * hd, rng(9));
    be.write(k, vals);
    be.add(v, k, k, 1);
    be.storeKV(kv, k, v, 0, 1, 0);
    // One cached key: attention returns its value exactly.
    const q = be.alloc(1, heads * hd);
    be.write(q, randomFloats(heads * hd, rng(10)));
    const out = be.alloc(1, heads * hd);
    be.attention(out, q, [{ kv, row: 0, count: 1, past: 0 }], { heads, kvHeads: heads, headDim: hd, scale: 0.35, window: null });
    assert.deepEqual(await be.read(out), vals.map((x) => x + x));
  } finally {
    be.dispose();
  }
});

test("wasm backend: a region freed while commands are pending is not reused (and zeroed) before they run", async () => {
  const be = await WasmBackend.create({ threads });
  try {
    // A model's free, then an allocation of the same size in the same list.
    const a = be.alloc(4, 1024);
    const b = be.alloc(4, 1024);
    const vals = randomFloats(4096, rng(12));
    be.write(a, vals);
    be.add(b, a, a, 4);
    be.free(a);
    const c = be.alloc(4, 1024);
    assert.deepEqual(await be.read(b), vals.map((x) => x + x));
    assert.ok((await be.read(c)).every((x) => x === 0), "a new matrix is zeroed");

    // A scratch area outgrown in the list: the first product's quantised input must survive
    // an allocation of the old area's size recorded after it.
    const K = 256;
    const N = 8;
    const { tensor } = makeTensor("w", "q8_0", [N, K], randomFloats(N * K, rng(13)));
    const w = await be.upload(tensor);
    const x1 = be.alloc(1, K);
    const x2 = be.alloc(64, K);
    const xv = randomFloats(K, rng(14));
    be.write(x1, xv);
    be.write(x2, randomFloats(64 * K, rng(15)));
    const o1 = be.alloc(1, N);
    const o2 = be.alloc(64, N);
    be.matmul(o1, x1, w, null, 1);
    const alone = await be.read(o1);
    be.write(x1, xv);
    be.matmul(o1, x1, w, null, 1);
    be.matmul(o2, x2, w, null, 64);
    const fresh = [be.alloc(1, 1024), be.alloc(1, 1024)];
    assert.deepEqual(await be.read(o1), alone);
    for (const m of fresh) assert.ok((await be.read(m)).every((x) => x === 0), "a new matrix is zeroed, not the old scratch area");
  } finally {
    be.dispose();
  }
});

test("wasm backend: a kernel trap rejects the read naming the op; the backend stays usable; dispose rejects", async () => {
  const be = await WasmBackend.create({ threads });
  const good = be.alloc(1, 32768);
  // A matrix whose memory lies past the end of the memory: every kernel that touches it traps.
  const forged = (rows: number, cols: number): Mat =>
    Object.assign(Object.create(Object.getPrototypeOf(good) as object) as Mat, { rows, cols, ptr: 3 * 2 ** 30 });
  // Small: thread 0 alone; large: the helpers too.
  for (const cols of [16, 32768]) {
    const m = be.alloc(1, cols);
    be.add(m, forged(1, cols), forged(1, cols), 1);
    await assert.rejects(be.read(m), /operation Add failed/);
  }
  be.write(good, new Float32Array(32768).fill(2));
  be.add(good, good, good, 1);
  assert.equal((await be.read(good, 0, 1))[32767], 4);
  // Growth while commands are pending: a list whose room lands past the memory the driver saw.
  const big = be.alloc(8192, 1024);
  const z = be.alloc(1, 16);
  for (let i = 0; i < 300; i++) be.add(z, z, z, 1);
  be.add(big, big, big, 1);
  be.write(good, new Float32Array(32768).fill(3));
  be.add(good, good, good, 1);
  assert.equal((await be.read(good, 0, 1))[5], 6);
  be.add(good, good, good, 1);
  const pending = be.read(good);
  be.dispose();
  await assert.rejects(pending, /dispose/);
  await assert.rejects(be.read(good), /dispose/);
});

test("wasm backend: a new K/V cache is zeroed by a command (in order, off the calling thread), though its region held data", async () => {
  const be = await WasmBackend.create({ threads });
  const heapOf = (b: WasmBackend): Float32Array => (b as unknown as { heap: { f32: Float32Array } }).heap.f32;
  try {
    const heads = 2;
    const cap = 512;
    const hd = 64;
    const floats = heads * cap * hd;
    // Two matrices the size of K and V, filled and freed: the cache's allocations take their regions.
    const old = [be.alloc(1, floats), be.alloc(1, floats)];
    for (const m of old) be.write(m, randomFloats(floats, rng(21)));
    for (const m of old) await be.read(m);
    for (const m of old) be.free(m);
    await be.read(be.alloc(1, 1));
    const kv = be.allocKV(heads, cap, hd) as unknown as { k: number; v: number };
    const ptrs = old.map((m) => (m as unknown as { ptr: number }).ptr);
    assert.ok(ptrs.includes(kv.k) || ptrs.includes(kv.v), "the cache reuses a freed region");
    await be.read(be.alloc(1, 1));
    const f32 = heapOf(be);
    for (const p of [kv.k, kv.v]) assert.ok(f32.subarray(p / 4, p / 4 + floats).every((x) => x === 0), `the cache at ${p} reads as zeros`);
  } finally {
    be.dispose();
  }
});

test("wasm backend: products on one input share its quantisation and one command (at most three), bit for bit as separate ones", async () => {
  const be = await WasmBackend.create({ threads });
  const rand = rng(21);
  try {
    const K = 512;
    // q, k, v of a layer (N multiples of 4, two K-quant types on the one Q8_K input), then a
    // fourth product on the same input, one whose N is not a multiple of 4, and a Q8_0 one.
    const specs = [
      ["q4_k", 20],
      ["q6_k", 8],
      ["q4_k", 12],
      ["q6_k", 4],
      ["q4_k", 6],
      ["q8_0", 8],
    ] as const;
    const weights = [];
    for (const [dtype, N] of specs) {
      const data =
        dtype === "q8_0"
          ? makeTensor("w", dtype, [N, K], randomFloats(N * K, rand)).tensor.data
          : quantize(dtype, randomFloats(N * K, rand));
      weights.push(await be.upload({ name: `w ${dtype} ${N}`, dtype, shape: [N, K], data }));
    }
    const x = be.alloc(1, K);
    const xv = randomFloats(K, rand, 2);
    const outs = specs.map(([, N]) => be.alloc(1, N));
    // Separately: a read after each product, so nothing is shared.
    be.write(x, xv);
    const separate: Float32Array[] = [];
    for (let i = 0; i < specs.length; i++) {
      be.matmul(outs[i]!, x, weights[i]!, null, 1);
      separate.push(await be.read(outs[i]!));
    }
    // Joined: into fresh (zeroed) outputs, so that a row left out shows.
    const joined = specs.map(([, N]) => be.alloc(1, N));
    const before = be.commandsRecorded;
    for (let i = 0; i < specs.length; i++) be.matmul(joined[i]!, x, weights[i]!, null, 1);
    const recorded = be.commandsRecorded - before;
    for (let i = 0; i < specs.length; i++) {
      const got = await be.read(joined[i]!);
      for (let r = 0; r < got.length; r++)
        if (!Object.is(got[r], separate[i]![r]))
          assert.fail(`product ${i} (${specs[i]![0]}, N ${specs[i]![1]}) row ${r}: ${got[r]} joined, ${separate[i]![r]} alone`);
    }
    assert.equal(recorded, 6, "Q8_K, [q4_k 20, q6_k 8, q4_k 12], [q6_k 4], q4_k 6, Q8_0, q8_0 8");

    // The input changes between two products (a write, a product into it): quantised again.
    const y = be.alloc(1, K);
    const sq = await be.upload({ name: "square", dtype: "q4_k", shape: [K, K], data: quantize("q4_k", randomFloats(K * K, rand)) });
    be.write(x, xv);
    be.matmul(y, x, sq, null, 1);
    be.matmul(x, y, sq, null, 1);
    const xNew = await be.read(x);
    be.matmul(outs[0]!, x, weights[0]!, null, 1);
    const expected = await be.read(outs[0]!);
    be.write(x, xv);
    be.matmul(outs[1]!, x, weights[1]!, null, 1);
    be.matmul(y, x, sq, null, 1);
    be.matmul(x, y, sq, null, 1);
    be.matmul(outs[0]!, x, weights[0]!, null, 1);
    assert.deepEqual(await be.read(x), xNew);
    assert.deepEqual(await be.read(outs[0]!), expected, "a product after its input was overwritten by a product");
    be.write(x, randomFloats(K, rand));
    be.matmul(outs[0]!, x, weights[0]!, null, 1);
    const afterWrite = await be.read(outs[0]!);
    be.matmul(outs[1]!, x, weights[1]!, null, 1);
    be.write(x, xv);
    be.matmul(outs[0]!, x, weights[0]!, null, 1);
    assert.notDeepEqual(await be.read(outs[0]!), afterWrite, "a product after a write to its input");
    assert.deepEqual(await be.read(outs[0]!), separate[0], "a product after a write to its input");
  } finally {
    be.dispose();
  }
});

test("wasm backend: one long row is quantised by both threads, block by block, as one thread quantises it", async () => {
  const two = await WasmBackend.create({ threads });
  const one = await WasmBackend.create({ threads: 1 });
  const rand = rng(22);
  try {
    // K = 4608 (18 super-blocks, 144 blocks of 32): on two threads each quantises part of the
    // row's blocks; the products must equal those of one thread, bit for bit.
    const K = 4608;
    const N = 8;
    for (const dtype of ["q4_k", "q6_k", "q8_0", "q4_1"] as const) {
      const data =
        dtype === "q8_0"
          ? makeTensor("w", dtype, [N, K], randomFloats(N * K, rand)).tensor.data
          : quantize(dtype, randomFloats(N * K, rand));
      const xv = randomFloats(K, rand, 3);
      const results: Float32Array[] = [];
      for (const be of [one, two]) {
        const w = await be.upload({ name: `w ${dtype}`, dtype, shape: [N, K], data });
        const x = be.alloc(1, K);
        const o = be.alloc(1, N);
        be.write(x, xv);
        be.matmul(o, x, w, null, 1);
        results.push(await be.read(o));
        for (const m of [x, o, w]) be.free(m);
      }
      assert.deepEqual(results[1], results[0], dtype);
    }
  } finally {
    one.dispose();
    two.dispose();
  }
});
