/** The benchmark prompts as plain arrays (for node-llama-cpp); see src/cli/bench_prompts.ts. */
import { benchPromptIds as ids } from "../src/cli/bench_prompts.js";

export function benchPromptIds(n: number, seed: number): number[] {
  return Array.from(ids(n, seed));
}
