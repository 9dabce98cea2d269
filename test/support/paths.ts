/**
 * Where tests find the repository and the shared fixtures. The shared folder lies beside
 * the checkout (`../shared`); QWEN2_SHARED overrides it, and the fixture/case variables
 * named in the README override individual sets.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file compiles to dist/test/support/paths.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const sharedDir = process.env.QWEN2_SHARED ?? resolve(repoRoot, "../shared");
export const fixturesDir = process.env.QWEN2_FIXTURES ?? resolve(sharedDir, "fixtures/qwen2");
export const loraFixturesDir = process.env.QWEN2_LORA_FIXTURES ?? resolve(sharedDir, "fixtures/qwen2-lora");
export const tokenizersDir = resolve(sharedDir, "tokenizers");
export const tokenizerCasesFile = process.env.QWEN2_TOKENIZER_CASES ?? resolve(tokenizersDir, "public_cases.jsonl");
