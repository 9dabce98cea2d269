/**
 * Runs llama.cpp's llama_model_quantize for a list of jobs (JSON in argv[2]), so that its
 * per-tensor log goes to this process's stderr, which the parent keeps only on failure.
 *
 *   node dist/bench/llama_quantize_child.js '[{"input":"a.gguf","output":"b.gguf","ftype":15}]'
 */
import { type LlamaQuantizeJob, llamaModelQuantize } from "./ggml.js";

const jobs = JSON.parse(process.argv[2] ?? "[]") as LlamaQuantizeJob[];
for (const job of jobs) {
  const status = llamaModelQuantize(job.input, job.output, job.ftype);
  if (status !== 0) {
    process.stderr.write(`llama_model_quantize(${job.input} -> ${job.output}, ftype ${job.ftype}) returned ${status}\n`);
    process.exit(1);
  }
}
