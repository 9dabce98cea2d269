/**
 * A worker thread of `QuantizePool`: quantises the float32 rows it is sent with the reference
 * quantisers (src/tensor/quant/) and sends the blocks back, both buffers transferred.
 */
import { parentPort } from "node:worker_threads";
import { quantize, type WritableQuantDType } from "../tensor/quant/index.js";

interface Job {
  readonly id: number;
  readonly dtype: WritableQuantDType;
  readonly values: Float32Array;
}

parentPort!.on("message", (job: Job) => {
  try {
    const bytes = quantize(job.dtype, job.values);
    parentPort!.postMessage({ id: job.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message });
  }
});
