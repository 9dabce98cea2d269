/**
 * Block quantisation on worker threads, for `qwen2 quantize`: the K-quant scale searches cost
 * a few hundred nanoseconds per weight in JavaScript, so a large model is split into
 * row ranges of about a million weights, quantised in parallel and joined in order. The
 * result is the bytes a single-threaded `quantize` gives: blocks never straddle rows.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { QUANT_LAYOUT } from "../tensor/dtype.js";
import type { WritableQuantDType } from "../tensor/quant/index.js";

/** Weights per job: large enough to amortise a message, small enough to balance threads. */
const CHUNK_WEIGHTS = 1 << 20;

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(err: Error): void;
}

export class QuantizePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private next = 0;

  /**
   * `threads` workers (default: the machine's cores less one, at least one); each job covers
   * whole rows of about `chunkWeights` weights.
   */
  constructor(
    threads = Math.max(1, availableParallelism() - 1),
    private readonly chunkWeights = CHUNK_WEIGHTS,
  ) {
    const url = new URL("./quantize_worker.js", import.meta.url);
    for (let i = 0; i < threads; i++) {
      const w = new Worker(url);
      w.on("message", (m: { id: number; bytes?: Uint8Array; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.bytes!);
      });
      w.on("error", (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  private job(dtype: WritableQuantDType, values: Float32Array): Promise<Uint8Array> {
    const id = this.nextId++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, dtype, values }, [values.buffer as ArrayBuffer]);
    });
  }

  /** Quantises `values` (rows of `cols` weights) as `quantize(dtype, values)` would. */
  async quantize(dtype: WritableQuantDType, values: Float32Array, cols: number): Promise<Uint8Array> {
    const { blockSize, blockBytes } = QUANT_LAYOUT[dtype];
    const rows = values.length / cols;
    const rowsPerJob = Math.max(1, Math.floor(this.chunkWeights / cols));
    const parts: Promise<Uint8Array>[] = [];
    for (let r = 0; r < rows; r += rowsPerJob) {
      const end = Math.min(rows, r + rowsPerJob);
      parts.push(this.job(dtype, values.slice(r * cols, end * cols)));
    }
    const out = new Uint8Array((values.length / blockSize) * blockBytes);
    let o = 0;
    for (const part of await Promise.all(parts)) {
      out.set(part, o);
      o += part.length;
    }
    return out;
  }

  close(): Promise<void> {
    return Promise.all(this.workers.map((w) => w.terminate())).then(() => undefined);
  }
}
