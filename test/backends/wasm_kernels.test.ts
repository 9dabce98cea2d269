/**
 * Every WebAssembly kernel against float64 reference arithmetic on random data with awkward
 * sizes (odd rows, columns off the SIMD width, one row and several), for 1 and 2 threads.
 * Runs the baseline SIMD build here; a child Node (with the flag where this Node hides relaxed
 * SIMD) reruns this file on the relaxed build (QWEN2_WASM_BUILD=relaxed).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runTestFileInChild } from "../support/child_test_run.js";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { WasmBackend, relaxedSimdAvailable, RELAXED_SIMD_NODE_FLAG } from "../../src/backends/wasm/index.js";
import type { WeightDType } from "../../src/tensor/dtype.js";
import { makeTensor, maxAbsDiff, quantizeActivations, randomFloats, refMatmul, rng } from "./wasm_support.js";

const wantRelaxed = process.env.QWEN2_WASM_BUILD === "relaxed";
const threadCounts = [1, Math.min(2, availableParallelism())].filter((t, i, a) => a.indexOf(t) === i);

for (const threads of threadCounts) {
  test(`wasm kernels (${wantRelaxed ? "relaxed" : "simd"}, ${threads} thread${threads > 1 ? "s" : ""})`, async (t) => {
    const be = await WasmBackend.create({ threads, relaxed: wantRelaxed });
    assert.equal(be.name, wantRelaxed ? "wasm-relaxed" : "wasm-simd");
    t.after(() => be.dispose());
    const rand = rng(1000 + threads);

    await t.test("matmul, float weights, awkward shapes, with and without bias", async () => {
      for (const dtype of ["f32", "bf16", "f16"] as const) {
        for (const [N, K, n] of [
          [7, 45, 1],
          [9, 64, 5],
          [33, 96, 3],
          [4, 31, 2],
          [130, 200, 7],
          [1, 3, 1],
        ] as const) {
          for (const withBias of [false, true]) {
            const { tensor, exact } = makeTensor("w", dtype, [N, K], randomFloats(N * K, rand));
            const w = await be.upload(tensor);
            const biasV = randomFloats(N, rand);
            const bias = withBias ? await be.upload(makeTensor("b", "f32", [N], biasV).tensor) : null;
            const xv = randomFloats(n * K, rand);
            const x = be.alloc(n + 1, K);
            const out = be.alloc(n + 1, N);
            be.write(x, xv);
            be.matmul(out, x, w, bias, n);
            const got = await be.read(out, 0, n);
            const want = refMatmul(xv, exact, withBias ? biasV : null, n, K, N);
            assert.ok(maxAbsDiff(got, want) < 1e-4, `${dtype} N=${N} K=${K} n=${n} bias=${withBias}: max diff ${maxAbsDiff(got, want)}`);
            // Rows past n are left alone.
            assert.ok((await be.read(out, n, 1)).every((v) => v === 0));
            for (const m of [x, out, w]) be.free(m);
            if (bias) be.free(bias);
          }
        }
      }
    });

    await t.test("matmul, Q8_0/Q4_0 weights on 8-bit activations", async () => {
      for (const dtype of ["q8_0", "q4_0"] as const) {
        // K = 160 and 224: a full group of four blocks and a tail (the paired layout's two paths).
        for (const [N, K, n] of [
          [7, 64, 1],
          [9, 96, 5],
          [5, 32, 2],
          [66, 256, 3],
          [3, 32, 1],
          [7, 160, 4],
          [10, 224, 3],
          // Q8_0's eight-token prefill tile, then the four-, two- and one-token kernels.
          [7, 160, 15],
          [9, 224, 10],
        ] as const) {
          const { tensor, exact } = makeTensor("w", dtype, [N, K], randomFloats(N * K, rand));
          const w = await be.upload(tensor);
          const biasV = randomFloats(N, rand);
          const bias = await be.upload(makeTensor("b", "bf16", [N], biasV).tensor);
          const biasExact = makeTensor("b", "bf16", [N], biasV).exact;
          const xv = randomFloats(n * K, rand, 3);
          const x = be.alloc(n, K);
          const out = be.alloc(n, N);
          be.write(x, xv);
          be.matmul(out, x, w, bias, n);
          const got = await be.read(out);
          // Exact: the integer path equals float64 arithmetic on the quantised activations.
          const want = refMatmul(quantizeActivations(xv), exact, biasExact, n, K, N);
          assert.ok(maxAbsDiff(got, want) < 1e-4, `${dtype} N=${N} K=${K} n=${n}: max diff ${maxAbsDiff(got, want)}`);
          // And close to the unquantised product (8-bit activations lose ~0.4% per element).
          const fp = refMatmul(xv, exact, biasExact, n, K, N);
          assert.ok(maxAbsDiff(got, fp) < 0.05 * Math.sqrt(K), `${dtype}: far from float product: ${maxAbsDiff(got, fp)}`);
          for (const m of [x, out, w, bias]) be.free(m);
        }
      }
    });

    await t.test("embed from every storage type, and bad ids are refused", async () => {
      for (const dtype of ["f32", "bf16", "f16", "q8_0", "q4_0"] as WeightDType[]) {
        const vocab = 11;
        const dim = dtype.startsWith("q") ? 224 : 37;
        const { tensor, exact } = makeTensor("emb", dtype, [vocab, dim], randomFloats(vocab * dim, rand));
        const table = await be.upload(tensor);
        const ids = Int32Array.from([3, 0, 10, 3, 7]);
        const out = be.alloc(6, dim);
        be.embed(out, table, ids);
        const got = await be.read(out, 0, ids.length);
        const want = new Float64Array(ids.length * dim);
        ids.forEach((id, i) => want.set(exact.subarray(id * dim, id * dim + dim), i * dim));
        assert.ok(maxAbsDiff(got, want) < 1e-6, `${dtype}: ${maxAbsDiff(got, want)}`);
        assert.throws(() => be.embed(out, table, Int32Array.from([1, 11])), /token id 11 at position 1/);
        assert.throws(() => be.embed(out, table, Int32Array.from([-1])), /token id -1/);
        be.free(out);
        be.free(table);
      }
    });

    await t.test("rmsnorm, swiglu, add (in place too), copyRows", async () => {
      for (const [n, K] of [
        [1, 7],
        [3, 64],
        [5, 133],
        [40, 896],
      ] as const) {
        const xv = randomFloats(n * K, rand, 2);
        const wv = randomFloats(K, rand);
        const { tensor, exact: wx } = makeTensor("norm", "bf16", [K], wv);
        const w = await be.upload(tensor);
        const x = be.alloc(n, K);
        const y = be.alloc(n, K);
        be.write(x, xv);
        const eps = 1e-6;
        be.rmsnorm(y, x, w, eps, n);
        const want = new Float64Array(n * K);
        for (let i = 0; i < n; i++) {
          let ss = 0;
          for (let k = 0; k < K; k++) ss += xv[i * K + k]! ** 2;
          const inv = 1 / Math.sqrt(ss / K + eps);
          for (let k = 0; k < K; k++) want[i * K + k] = xv[i * K + k]! * inv * wx[k]!;
        }
        assert.ok(maxAbsDiff(await be.read(y), want) < 1e-5, `rmsnorm n=${n} K=${K}`);
        be.rmsnorm(x, x, w, eps, n); // aliasing
        assert.ok(maxAbsDiff(await be.read(x), want) < 1e-5, `rmsnorm in place n=${n} K=${K}`);

        const gv = randomFloats(n * K, rand, 4);
        const uv = randomFloats(n * K, rand, 4);
        be.write(x, gv);
        be.write(y, uv);
        const z = be.alloc(n, K);
        be.swiglu(z, x, y, n);
        const sw = Float64Array.from(gv, (g, i) => (g / (1 + Math.exp(-g))) * uv[i]!);
        assert.ok(maxAbsDiff(await be.read(z), sw) < 1e-5, `swiglu n=${n} K=${K}`);
        be.swiglu(x, x, y, n);
        assert.ok(maxAbsDiff(await be.read(x), sw) < 1e-5, `swiglu in place`);
        be.write(x, gv);
        be.add(x, x, y, n);
        assert.ok(
          maxAbsDiff(
            await be.read(x),
            Float64Array.from(gv, (g, i) => Math.fround(g + uv[i]!)),
          ) === 0,
          `add n=${n} K=${K}`,
        );

        const rows = Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % n);
        be.copyRows(z, y, rows);
        const cr = new Float32Array(n * K);
        rows.forEach((r, i) => cr.set(uv.subarray(r * K, r * K + K), i * K));
        assert.deepEqual(await be.read(z), cr);
        // readInto: the same rows into a caller's array at an offset, the rest untouched.
        const dst = new Float32Array(n * K + 5).fill(-1);
        await be.readInto(z, 0, n, dst, 5);
        assert.deepEqual(dst.subarray(5), cr);
        assert.ok(dst.subarray(0, 5).every((v) => v === -1));
        await assert.rejects(() => be.readInto(z, 0, n, dst, 6), /do not fit|into a destination/);
        for (const m of [x, y, z, w]) be.free(m);
      }
    });

    await t.test("rope, rotate-half layout", async () => {
      for (const [n, heads, hd] of [
        [1, 3, 6],
        [4, 2, 64],
        [9, 5, 10],
      ] as const) {
        const h = hd / 2;
        const xv = randomFloats(n * heads * hd, rand);
        const cos = randomFloats(n * h, rand);
        const sin = randomFloats(n * h, rand);
        const x = be.alloc(n, heads * hd);
        be.write(x, xv);
        be.rope(x, n, heads, hd, cos, sin);
        const want = new Float64Array(xv);
        for (let i = 0; i < n; i++)
          for (let hh = 0; hh < heads; hh++)
            for (let d = 0; d < h; d++) {
              const base = i * heads * hd + hh * hd;
              const a = xv[base + d]!,
                b = xv[base + d + h]!;
              const c = cos[i * h + d]!,
                s = sin[i * h + d]!;
              want[base + d] = a * c - b * s;
              want[base + d + h] = b * c + a * s;
            }
        assert.ok(maxAbsDiff(await be.read(x), want) < 1e-6, `rope n=${n} heads=${heads} hd=${hd}`);
        be.free(x);
      }
    });

    await t.test("attention: prefill then decode, GQA, full and sliding windows over a ring, batched segments", async () => {
      const heads = 6,
        kvHeads = 2,
        hd = 20;
      const group = heads / kvHeads;
      const scale = 1 / Math.sqrt(hd);
      for (const window of [null, 5]) {
        // Two sequences: A prefilled with 7 tokens then decoding 4 (one at a time, batched with B);
        // B prefilled with 3. Sliding caches are rings smaller than the sequence.
        const capA = window === null ? 16 : window + 7 - 1;
        const capB = window === null ? 16 : window + 3 - 1;
        const seqs = [
          { cap: capA, steps: [7, 1, 1, 1, 1] },
          { cap: capB, steps: [3, 1, 1, 1, 1] },
        ];
        const kvs = seqs.map((s) => be.allocKV(kvHeads, s.cap, hd));
        const hist = seqs.map(() => ({ k: [] as Float32Array[], v: [] as Float32Array[] })); // per token [kvHeads*hd]
        const past = [0, 0];
        for (let step = 0; step < 5; step++) {
          const counts = seqs.map((s) => s.steps[step]!);
          const total = counts[0]! + counts[1]!;
          const q = be.alloc(total, heads * hd);
          const k = be.alloc(total, kvHeads * hd);
          const v = be.alloc(total, kvHeads * hd);
          const out = be.alloc(total, heads * hd);
          const qv = randomFloats(total * heads * hd, rand, 2);
          const kv = randomFloats(total * kvHeads * hd, rand, 2);
          const vv = randomFloats(total * kvHeads * hd, rand);
          be.write(q, qv);
          be.write(k, kv);
          be.write(v, vv);
          const segments = [];
          let row = 0;
          for (let s = 0; s < 2; s++) {
            be.storeKV(kvs[s]!, k, v, row, counts[s]!, past[s]!);
            for (let i = 0; i < counts[s]!; i++) {
              hist[s]!.k.push(kv.slice((row + i) * kvHeads * hd, (row + i + 1) * kvHeads * hd));
              hist[s]!.v.push(vv.slice((row + i) * kvHeads * hd, (row + i + 1) * kvHeads * hd));
            }
            segments.push({ kv: kvs[s]!, row, count: counts[s]!, past: past[s]! });
            row += counts[s]!;
          }
          be.attention(out, q, segments, { heads, kvHeads, headDim: hd, scale, window });
          const want = new Float64Array(total * heads * hd);
          for (const seg of segments) {
            const s = segments.indexOf(seg);
            for (let i = 0; i < seg.count; i++) {
              const pos = seg.past + i;
              const lo = window === null ? 0 : Math.max(0, pos - window + 1);
              for (let h = 0; h < heads; h++) {
                const kvh = Math.floor(h / group);
                const qo = (seg.row + i) * heads * hd + h * hd;
                const sc: number[] = [];
                for (let j = lo; j <= pos; j++) {
                  let d = 0;
                  for (let e = 0; e < hd; e++) d += qv[qo + e]! * hist[s]!.k[j]![kvh * hd + e]!;
                  sc.push(d * scale);
                }
                const mx = Math.max(...sc);
                const ex = sc.map((x) => Math.exp(x - mx));
                const sum = ex.reduce((a, b) => a + b, 0);
                for (let e = 0; e < hd; e++) {
                  let acc = 0;
                  for (let j = lo; j <= pos; j++) acc += (ex[j - lo]! / sum) * hist[s]!.v[j]![kvh * hd + e]!;
                  want[qo + e] = acc;
                }
              }
            }
          }
          assert.ok(maxAbsDiff(await be.read(out), want) < 1e-5, `window=${window} step=${step}: ${maxAbsDiff(await be.read(out), want)}`);
          past[0]! += counts[0]!;
          past[1]! += counts[1]!;
          for (const m of [q, k, v, out]) be.free(m);
        }
        for (const kv of kvs) be.free(kv);
      }
    });

    await t.test("upload reads a TensorReader in bounded pieces, equal to upload from memory", async () => {
      // Over 4 MiB each, so both go through more than one piece; 4001 rows, so the last
      // quantised row pair has a zero partner.
      for (const [dtype, rows, cols] of [
        ["q4_0", 4001, 2048],
        ["bf16", 1100, 2048],
      ] as const) {
        const { tensor, exact } = makeTensor("big", dtype, [rows, cols], randomFloats(rows * cols, rand));
        const asked: [number, number][] = [];
        const reader = {
          name: tensor.name,
          dtype: tensor.dtype,
          shape: tensor.shape,
          byteLength: tensor.data.byteLength,
          async readInto(dest: Uint8Array, offset: number): Promise<void> {
            asked.push([offset, dest.byteLength]);
            dest.set(tensor.data.subarray(offset, offset + dest.byteLength));
          },
        };
        const streamed = await be.upload(reader);
        assert.ok(asked.length > 1 && asked.every(([, len]) => len <= 4 << 20), `${dtype}: read in ${asked.length} pieces`);
        assert.equal(
          asked.reduce((s, [, len]) => s + len, 0),
          tensor.data.byteLength,
        );
        const ids = Int32Array.from([0, 1, rows >> 1, rows - 2, rows - 1]);
        const out = be.alloc(ids.length, cols);
        be.embed(out, streamed, ids);
        const want = new Float64Array(ids.length * cols);
        ids.forEach((id, i) => want.set(exact.subarray(id * cols, id * cols + cols), i * cols));
        assert.ok(maxAbsDiff(await be.read(out), want) < 1e-6, `${dtype}: streamed rows differ`);
        be.free(out);
        be.free(streamed);
      }
      const bad = { name: "short", dtype: "bf16" as const, shape: [4, 4], byteLength: 30, readInto: async (): Promise<void> => {} };
      await assert.rejects(() => be.upload(bad), /short \[4, 4\] bf16 has 30 bytes, expected 32/);
    });

    await t.test("argument errors name the problem", async () => {
      const x = be.alloc(2, 8);
      const out = be.alloc(2, 5);
      const w = await be.upload(makeTensor("w", "f32", [5, 9], randomFloats(45, rand)).tensor);
      assert.throws(() => be.matmul(out, x, w, null, 2), /matmul of x \[2, 8\] by weight \[5, 9\]/);
      assert.throws(() => be.matmul(out, x, w, null, 3), /3 rows/);
      await assert.rejects(() => be.upload({ name: "bad", dtype: "q4_0", shape: [2, 30], data: new Uint8Array(36) }), /bad.*30 columns/);
      await assert.rejects(() => be.upload({ name: "ints", dtype: "i32", shape: [2], data: new Uint8Array(8) }), /ints has dtype i32/);
    });
  });
}

test("wasm backend options and lifecycle", async () => {
  await assert.rejects(WasmBackend.create({ threads: availableParallelism() + 1 }), /exceeds the \d+ cores/);
  await assert.rejects(WasmBackend.create({ threads: 0 }), /positive integer/);
  await assert.rejects(WasmBackend.create({ maxMemoryMiB: 8192 }), /maxMemoryMiB/);
  const be = await WasmBackend.create({ threads: threadCounts.at(-1)!, relaxed: false, maxMemoryMiB: 64 });
  // Past the memory limit: a clear error naming what was being allocated.
  assert.throws(() => be.alloc(1024, 1024 * 32), /\[1024, 32768\] activation.*limit of 64 MiB/);
  // prefault touches pages ahead of the weights and gives them back: nothing stays allocated,
  // the memory has grown, and a request past the limit is trimmed rather than refused.
  const before = be.memoryBytes;
  be.prefault(8 << 20);
  assert.equal(be.memoryBytes, before);
  be.prefault(1 << 30);
  assert.equal(be.memoryBytes, before);
  const x = be.alloc(4, 4096);
  be.write(x, new Float32Array(4 * 4096).fill(1));
  be.add(x, x, x, 4);
  assert.equal((await be.read(x))[4095], 2);
  be.dispose();
  assert.throws(() => be.add(x, x, x, 4), /after dispose/);
});

test("relaxed SIMD build in a child Node (with the flag where this Node hides it)", { skip: wantRelaxed }, () => {
  const args = relaxedSimdAvailable() ? [] : [RELAXED_SIMD_NODE_FLAG];
  const child = runTestFileInChild(fileURLToPath(import.meta.url), args, { QWEN2_WASM_BUILD: "relaxed" });
  assert.match(child.stdout, /wasm kernels \(relaxed, /, "the child ran the relaxed build's kernel tests");
});
