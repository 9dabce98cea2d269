/**
 * Page code for test/browser/wasm_threads.test.ts: creates a WasmBackend here or in a module
 * Web Worker (wasm_probe_worker.ts), runs a float32 and a bf16 matrix product on it, and
 * reports the backend's name, its thread count and the largest difference from float64.
 */
import { spawnWorker } from "#platform";
import { WasmBackend } from "../../../src/backends/wasm/index.js";
import { f32ToBf16, bf16ToF32 } from "../../../src/tensor/convert.js";

export interface ProbeResult {
  readonly name: string;
  readonly threads: number;
  readonly maxDiff: number;
}

/** Runs the probe on this thread; `threads` undefined asks for every core. */
export async function probe(threads?: number): Promise<ProbeResult> {
  const be = await WasmBackend.create(threads === undefined ? {} : { threads });
  try {
    const N = 67;
    const K = 96;
    const n = 5;
    let maxDiff = 0;
    for (const dtype of ["f32", "bf16"] as const) {
      const w = new Float32Array(N * K).map((_, i) => Math.sin(i * 0.37));
      const stored = dtype === "f32" ? new Uint8Array(w.buffer.slice(0)) : new Uint8Array(Uint16Array.from(w, (v) => f32ToBf16(v)).buffer);
      const exact = dtype === "f32" ? w : Float32Array.from(w, (v) => bf16ToF32(f32ToBf16(v)));
      const x = new Float32Array(n * K).map((_, i) => Math.cos(i * 0.11));
      // (await: uploads become asynchronous with streamed weight reads)
      const weight = await be.upload({ name: `w.${dtype}`, dtype, shape: [N, K], data: stored });
      const xm = be.alloc(n, K);
      const out = be.alloc(n, N);
      be.write(xm, x);
      be.matmul(out, xm, weight, null, n);
      const got = await be.read(out);
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < N; o++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += x[i * K + k]! * exact[o * K + k]!;
          maxDiff = Math.max(maxDiff, Math.abs(s - got[i * N + o]!));
        }
      }
      be.free(xm);
      be.free(out);
      be.free(weight);
    }
    return { name: be.name, threads: be.threads, maxDiff };
  } finally {
    be.dispose();
  }
}

/** Runs the probe in a module Web Worker (where Atomics.wait is allowed). */
export function probeInWorker(threads?: number): Promise<ProbeResult> {
  const worker = spawnWorker(new URL("./wasm_probe_worker.js", import.meta.url), { name: "wasm probe" });
  return new Promise<ProbeResult>((resolve, reject) => {
    worker.onMessage((data) => {
      worker.terminate();
      const r = data as ProbeResult | { error: string };
      if ("error" in r) reject(new Error(r.error));
      else resolve(r);
    });
    worker.onError((err) => {
      worker.terminate();
      reject(err);
    });
    worker.postMessage(threads ?? null);
  });
}
