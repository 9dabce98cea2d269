/**
 * Page code for test/browser/webgpu_kernels.test.ts: every WebGPU kernel against the
 * reference backend, on the same random inputs with awkward sizes (odd rows and columns, one
 * row, K off the block size where the dtype allows, rings that wrap under a sliding window,
 * weights split across buffers). Returns each case's largest absolute difference; the test
 * compares them with the tolerance in Node.
 */
import { ReferenceBackend } from "../../../src/backends/reference/index.js";
import { WebGPUBackend } from "../../../src/backends/webgpu/index.js";
import type { AttentionSegment, KVBuffer, Mat } from "../../../src/backends/ops.js";
import type { WeightDType } from "../../../src/tensor/dtype.js";
import { makeTensor, maxAbsDiff, randomFloats, rng } from "../../backends/wasm_support.js";

export interface KernelCase {
  readonly name: string;
  readonly diff: number;
}

export interface KernelReport {
  readonly adapter: string;
  readonly cases: KernelCase[];
  /** Weight parts of the tensors uploaded under a lowered buffer limit (each should be > 1). */
  readonly splitParts: number[];
  readonly shaderF16: boolean;
}

type B = ReferenceBackend | WebGPUBackend;

const DTYPES: readonly WeightDType[] = ["f32", "f16", "bf16", "q8_0", "q4_0"];

async function readAll(b: B, m: Mat, rows?: number): Promise<Float32Array> {
  return await b.read(m, 0, rows ?? m.rows);
}

export async function runKernelChecks(): Promise<KernelReport> {
  const ref = new ReferenceBackend();
  const gpu = await WebGPUBackend.create();
  // Both decode-time matrix-vector kernels, whichever this adapter defaults to.
  const other = await WebGPUBackend.create({ matvec: gpu.matvecKernel === "rows" ? "lanes" : "rows" });
  const cases: KernelCase[] = [];
  const rand = rng(20261205);
  /** Runs `run` on both backends and records the largest difference. */
  async function compare(name: string, run: (b: B) => Promise<Float32Array>, both = false): Promise<void> {
    const want = await run(ref);
    for (const g of both ? [gpu, other] : [gpu]) {
      cases.push({ name: `${name}${both ? ` (${g.matvecKernel})` : ""}`, diff: maxAbsDiff(await run(g), want) });
    }
  }
  try {
    // Matrix products: matrix-vector (n <= 8) and tiled (n > 8) kernels, with and without bias.
    const shapes: [number, number, number][] = [
      [7, 45, 1],
      [9, 64, 5],
      [33, 96, 3],
      [4, 31, 2],
      [1, 3, 1],
      [130, 200, 8],
      [70, 96, 9],
      [131, 64, 67],
      [65, 300, 130],
    ];
    for (const dtype of DTYPES) {
      for (const [N, K0, n] of shapes) {
        const K = dtype === "q8_0" || dtype === "q4_0" ? Math.ceil(K0 / 32) * 32 : K0;
        const w = makeTensor("w", dtype, [N, K], randomFloats(N * K, rand)).tensor;
        const bias = makeTensor("b", "bf16", [N], randomFloats(N, rand)).tensor;
        const xv = randomFloats(n * K, rand);
        for (const withBias of [false, true]) {
          await compare(
            `matmul ${dtype} N=${N} K=${K} n=${n}${withBias ? " +bias" : ""}`,
            async (b) => {
              const wt = await b.upload(w);
              const bt = withBias ? await b.upload(bias) : null;
              const x = b.alloc(n + 1, K);
              const out = b.alloc(n + 1, N);
              b.write(x, xv);
              b.matmul(out, x, wt, bt, n);
              // Row n must stay zero: the kernels touch only n rows.
              return readAll(b, out);
            },
            n <= 8,
          );
        }
      }
    }

    // Embedding lookup in every dtype (first and last rows included).
    for (const dtype of DTYPES) {
      const V = 37;
      const D = dtype === "q8_0" || dtype === "q4_0" ? 64 : 45;
      const table = makeTensor("embed", dtype, [V, D], randomFloats(V * D, rand)).tensor;
      const ids = Int32Array.from([0, 36, 5, 5, 17, 1, 36]);
      await compare(`embed ${dtype} V=${V} D=${D}`, async (b) => {
        const t = await b.upload(table);
        const out = b.alloc(ids.length, D);
        b.embed(out, t, ids);
        return readAll(b, out);
      });
    }

    // Splitting: a lowered buffer limit forces weights across several buffers.
    const small = await WebGPUBackend.create({ maxBufferBytes: 1024 });
    const splitParts: number[] = [];
    try {
      for (const dtype of DTYPES) {
        const [N, K, n] = [75, 64, 3];
        const wv = makeTensor("w", dtype, [N, K], randomFloats(N * K, rand)).tensor;
        const xv = randomFloats(12 * K, rand);
        for (const rows of [n, 12]) {
          const want = await (async () => {
            const w = await ref.upload(wv);
            const x = ref.alloc(rows, K);
            const out = ref.alloc(rows, N);
            ref.write(x, xv.subarray(0, rows * K));
            ref.matmul(out, x, w, null, rows);
            const e = ref.alloc(4, K);
            ref.embed(e, w, Int32Array.from([0, 74, 40, 13]));
            return [await ref.read(out), await ref.read(e)];
          })();
          const w = await small.upload(wv);
          splitParts.push((w as unknown as { parts: unknown[] }).parts.length);
          const x = small.alloc(rows, K);
          const out = small.alloc(rows, N);
          small.write(x, xv.subarray(0, rows * K));
          small.matmul(out, x, w, null, rows);
          const e = small.alloc(4, K);
          small.embed(e, w, Int32Array.from([0, 74, 40, 13]));
          cases.push({ name: `split ${dtype} [${N}, ${K}] matmul n=${rows}`, diff: maxAbsDiff(await small.read(out), want[0]!) });
          cases.push({ name: `split ${dtype} [${N}, ${K}] embed n=${rows}`, diff: maxAbsDiff(await small.read(e), want[1]!) });
        }
      }
    } finally {
      small.dispose();
    }

    // RMSNorm: in place and not, rows wider than a workgroup.
    for (const [n, D] of [
      [1, 1],
      [3, 45],
      [5, 300],
      [2, 896],
    ] as const) {
      const xv = randomFloats(n * D, rand, 3);
      const g = makeTensor("g", "bf16", [D], randomFloats(D, rand)).tensor;
      for (const inPlace of [false, true]) {
        await compare(`rmsnorm n=${n} D=${D}${inPlace ? " in place" : ""}`, async (b) => {
          const w = await b.upload(g);
          const x = b.alloc(n, D);
          b.write(x, xv);
          const out = inPlace ? x : b.alloc(n, D);
          b.rmsnorm(out, x, w, 1e-6, n);
          return readAll(b, out);
        });
      }
    }

    // RoPE on odd head counts and row counts.
    for (const [n, heads, hd] of [
      [1, 1, 2],
      [5, 3, 10],
      [7, 2, 64],
    ] as const) {
      const xv = randomFloats(n * heads * hd, rand);
      const cos = randomFloats((n * hd) / 2, rand);
      const sin = randomFloats((n * hd) / 2, rand);
      await compare(`rope n=${n} heads=${heads} headDim=${hd}`, async (b) => {
        const x = b.alloc(n + 1, heads * hd);
        b.write(x, xv);
        b.rope(x, n, heads, hd, cos, sin);
        b.rope(x, n, heads, hd, cos, sin); // the same table again (staged once per submit)
        return readAll(b, x);
      });
    }

    // SwiGLU and add, in every aliasing.
    for (const op of ["swiglu", "add"] as const) {
      for (const alias of ["none", "a", "b", "ab"] as const) {
        const [n, D] = [3, 37];
        const av = randomFloats(n * D, rand, 4);
        const bv = randomFloats(n * D, rand, 4);
        await compare(`${op} out=${alias}`, async (b) => {
          const a = b.alloc(n, D);
          const c = alias === "ab" ? a : b.alloc(n, D);
          b.write(a, av);
          if (c !== a) b.write(c, bv);
          const out = alias === "a" || alias === "ab" ? a : alias === "b" ? c : b.alloc(n, D);
          if (op === "swiglu") b.swiglu(out, a, c, n);
          else b.add(out, a, c, n);
          return readAll(b, out);
        });
      }
    }

    // copyRows, write at a row and readInto at an offset.
    {
      const xv = randomFloats(6 * 11, rand);
      await compare("copyRows / write at row / readInto", async (b) => {
        const x = b.alloc(8, 11);
        b.write(x, xv, 2);
        const out = b.alloc(4, 11);
        b.copyRows(out, x, Int32Array.from([7, 2, 2, 5]));
        const dst = new Float32Array(3 + 2 * 11);
        await b.readInto(out, 1, 2, dst, 3);
        return Float32Array.from([...(await b.read(out)), ...dst]);
      });
    }

    // addScaledRows, a row listed twice included.
    {
      const ov = randomFloats(5 * 300, rand);
      const xv = randomFloats(4 * 300, rand);
      await compare("addScaledRows", async (b) => {
        const out = b.alloc(5, 300);
        const x = b.alloc(4, 300);
        b.write(out, ov);
        b.write(x, xv);
        b.addScaledRows(out, x, Int32Array.from([4, 0, 4, 2]), 0.375);
        return readAll(b, out);
      });
    }

    // Attention: several sequences in one call, GQA, full and sliding windows with rings that
    // wrap, decoding after prefill, head dimensions around the kernel's 64-thread split.
    for (const [heads, kvHeads, hd] of [
      [4, 2, 10],
      [2, 2, 64],
      [6, 3, 130],
      [2, 1, 256],
    ] as const) {
      for (const window of [null, 5] as const) {
        // Per sequence: [capacity, prefill tokens, then decode steps]
        const seqs =
          window === null
            ? [
                [40, 13, 4],
                [70, 1, 3],
              ]
            : [
                [15, 11, 6],
                [12, 3, 9],
              ];
        const width = kvHeads * hd;
        const qw = heads * hd;
        const steps = Math.max(...seqs.map((s) => s[2]!)) + 1;
        const inputs = Array.from({ length: steps }, () =>
          seqs.map(([, pre]) => {
            const rows = pre!;
            return { q: randomFloats(rows * qw, rand), k: randomFloats(rows * width, rand), v: randomFloats(rows * width, rand) };
          }),
        );
        await compare(`attention heads=${heads}/${kvHeads} headDim=${hd} window=${window}`, async (b) => {
          const caches: KVBuffer[] = seqs.map(([cap]) => b.allocKV(kvHeads, cap!, hd));
          const lengths = seqs.map(() => 0);
          const outs: number[] = [];
          for (let step = 0; step < steps; step++) {
            // Step 0: each sequence's prefill rows; later steps: one token each while it has decode steps.
            const counts = seqs.map(([, pre, dec]) => (step === 0 ? pre! : step <= dec! ? 1 : 0));
            const total = counts.reduce((a, c) => a + c, 0);
            if (total === 0) continue;
            const q = b.alloc(total, qw);
            const k = b.alloc(total, width);
            const v = b.alloc(total, width);
            const out = b.alloc(total, qw);
            const segments: AttentionSegment[] = [];
            let row = 0;
            seqs.forEach((_, i) => {
              const count = counts[i]!;
              if (count === 0) return;
              const src = inputs[step]![i]!;
              b.write(q, src.q.subarray(0, count * qw), row);
              b.write(k, src.k.subarray(0, count * width), row);
              b.write(v, src.v.subarray(0, count * width), row);
              b.storeKV(caches[i]!, k, v, row, count, lengths[i]!);
              segments.push({ kv: caches[i]!, row, count, past: lengths[i]! });
              lengths[i]! += count;
              row += count;
            });
            b.attention(out, q, segments, { heads, kvHeads, headDim: hd, scale: 1 / Math.sqrt(hd), window });
            outs.push(...(await b.read(out)));
            for (const m of [q, k, v, out]) b.free(m);
          }
          return Float32Array.from(outs);
        });
      }
    }

    // Unsupported dtypes are refused at upload, naming the tensor.
    let refused = "";
    try {
      await gpu.upload({ name: "model.layers.0.mlp.up_proj.weight", dtype: "i8", shape: [2, 2], data: new Uint8Array(4) });
    } catch (err) {
      refused = (err as Error).message;
    }
    cases.push({
      name: `refuses i8: ${refused}`,
      diff: refused.includes("model.layers.0.mlp.up_proj.weight") && refused.includes("i8") ? 0 : 1,
    });

    return { adapter: gpu.adapterDescription, cases, splitParts, shaderF16: gpu.shaderF16 };
  } finally {
    gpu.dispose();
    other.dispose();
  }
}

/** A device lost mid-use: the pending read rejects, and later calls throw, instead of hanging. */
export async function checkDeviceLoss(): Promise<{ readError: string; opError: string }> {
  const gpu = await WebGPUBackend.create();
  const x = gpu.alloc(4, 4);
  gpu.write(x, new Float32Array(16).fill(1));
  gpu.add(x, x, x, 4);
  gpu.device.destroy();
  let readError = "";
  try {
    await gpu.read(x);
  } catch (err) {
    readError = (err as Error).message;
  }
  let opError = "";
  try {
    gpu.add(x, x, x, 4);
  } catch (err) {
    opError = (err as Error).message;
  }
  gpu.dispose();
  return { readError, opError };
}
