/**
 * Cost of the sampler per token on the real Qwen2 vocabulary (151,936 logits), for the
 * settings people use. Run: `npm run build && node dist/bench/sampler.js`.
 * Prints a table and writes bench/results/sampler.json. The logits are synthetic (a
 * seeded spread with a few peaks), so top-p keeps a realistic handful of ids.
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { Sampler, type SamplingOptions } from "../src/generation/sampler.js";
import { Rng } from "../src/generation/rng.js";

const VOCAB = 151936;
const rng = new Rng(1);
const logits = new Float32Array(VOCAB);
for (let i = 0; i < VOCAB; i++) logits[i] = (rng.next() * 2 - 1) * 8 + (rng.next() < 0.001 ? 10 : 0);

const cases: [string, SamplingOptions][] = [
  ["greedy", {}],
  ["greedy + repetition_penalty 1.05", { repetitionPenalty: 1.05 }],
  ["temperature 0.7 (full vocabulary)", { temperature: 0.7, seed: 1 }],
  [
    "Qwen2.5-Instruct defaults (T 0.7, top_k 20, top_p 0.8, rep 1.05)",
    { temperature: 0.7, topK: 20, topP: 0.8, repetitionPenalty: 1.05, seed: 1 },
  ],
  ["top_p 0.9 alone", { temperature: 1, topP: 0.9, seed: 1 }],
  ["min_p 0.05", { temperature: 1, minP: 0.05, seed: 1 }],
  ["greedy + top_logprobs 5", { topLogprobs: 5 }],
];

const rows: { case: string; ms_per_token: number }[] = [];
for (const [name, options] of cases) {
  const s = new Sampler(VOCAB, options);
  s.setPrompt(Array.from({ length: 500 }, (_, i) => i * 7));
  for (let i = 0; i < 20; i++) s.sample(logits);
  const n = 200;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) s.sample(logits);
  const ms = (performance.now() - t0) / n;
  rows.push({ case: name, ms_per_token: Math.round(ms * 1000) / 1000 });
  console.log(`${name.padEnd(66)} ${ms.toFixed(3)} ms/token`);
}
mkdirSync("bench/results", { recursive: true });
writeFileSync(
  "bench/results/sampler.json",
  JSON.stringify(
    { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, vocab: VOCAB, rows },
    null,
    2,
  ) + "\n",
);
