/**
 * Reference backend speed on the Qwen2-0.5B shape (hidden 896, 24 layers, 14 heads / 2 KV
 * heads, intermediate 4864, vocab 151936, tied head) with random BF16 weights built in
 * memory. No target: the reference backend is the oracle, not the fast path; this records
 * what it costs.
 *
 *   node dist/bench/reference_speed.js [--prompt 32] [--decode 8]
 *
 * Prefill: one forward over `prompt` tokens (logits of the last one). Decode: `decode`
 * single-token steps after that prompt. Results: bench/results/reference_speed.{json,md}.
 * The machine may be shared with other jobs: figures are noisy; the load average is recorded.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ReferenceBackend } from "../src/backends/reference/index.js";
import { parseQwen2Config } from "../src/formats/config_parse.js";
import { randomPresetConfig } from "../src/formats/random_model.js";
import { Qwen2ForCausalLM } from "../src/models/qwen2.js";
import { RandomQwen2Weights } from "../src/models/random_qwen2.js";
import { benchPromptIds } from "../src/cli/bench_prompts.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    prompt: { type: "string", default: "32" },
    decode: { type: "string", default: "8" },
  },
});
const promptLen = Number(values.prompt);
const decodeSteps = Number(values.decode);

// The real Qwen2.5-0.5B shape, as `qwen2 create-random --preset qwen2.5-0.5b` writes it.
const config = parseQwen2Config(randomPresetConfig("qwen2.5-0.5b", "bf16", 151936, 0), "<qwen2.5-0.5b preset>");

const t0 = performance.now();
const model = await Qwen2ForCausalLM.load({ config, weights: new RandomQwen2Weights(config, 0, "bf16") }, new ReferenceBackend());
const loadS = (performance.now() - t0) / 1000;
console.log(`built and uploaded random bf16 weights in ${loadS.toFixed(1)} s`);

const ids = benchPromptIds(promptLen, 1, config.vocab_size);
const cache = model.createCache(promptLen + decodeSteps);
const t1 = performance.now();
const [last] = await model.forward([{ ids, cache }]);
const prefillS = (performance.now() - t1) / 1000;
console.log(`prefill ${promptLen} tokens: ${(promptLen / prefillS).toFixed(2)} tok/s`);

let next = 0;
for (let i = 1; i < last!.length; i++) if (last![i]! > last![next]!) next = i;
const t2 = performance.now();
for (let s = 0; s < decodeSteps; s++) {
  const [l] = await model.forward([{ ids: Int32Array.of(next), cache }]);
  next = 0;
  for (let i = 1; i < l!.length; i++) if (l![i]! > l![next]!) next = i;
}
const decodeS = (performance.now() - t2) / 1000;
console.log(`decode ${decodeSteps} tokens: ${(decodeSteps / decodeS).toFixed(2)} tok/s`);
model.dispose();

const result = {
  shape: "qwen2-0.5b (random bf16 weights)",
  backend: "reference",
  promptTokens: promptLen,
  decodeTokens: decodeSteps,
  prefillTokPerS: promptLen / prefillS,
  decodeTokPerS: decodeSteps / decodeS,
  loadSeconds: loadS,
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  loadAverage: loadavg(),
  date: new Date().toISOString(),
};
const out = join(repo, "bench/results");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "reference_speed.json"), JSON.stringify(result, null, 2) + "\n");
writeFileSync(
  join(out, "reference_speed.md"),
  `| backend | shape | prefill (${promptLen} tok) | decode (${decodeSteps} tok) |\n|---|---|---|---|\n` +
    `| reference | Qwen2-0.5B, random bf16 | ${result.prefillTokPerS.toFixed(2)} tok/s | ${result.decodeTokPerS.toFixed(2)} tok/s |\n\n` +
    `${result.cpu}, ${result.cores} cores, load average ${result.loadAverage.map((v) => v.toFixed(1)).join(" / ")} (shared machine: noisy), ${result.date}\n`,
);
