/**
 * Which shared test data is present. The fixtures, tokenizer folders and conformance cases
 * live in ../shared beside the checkout (see docs/testing.md), which a plain clone does not
 * have: every test that reads them asks here first and skips with one line naming what is
 * missing and where it was looked for.
 *
 *   test("...", { skip: needsShared("fixtures") }, () => { ... });
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { skipReasonUnlessRequired } from "../../bench/peers.js";
import { fixturesDir, loraFixturesDir, tokenizerCasesFile, tokenizersDir } from "./paths.js";

export type SharedData = "fixtures" | "lora fixtures" | "tokenizers" | "tokenizer cases";

/** What proves each set is there, and the variable that moves it. */
const WHERE: Record<SharedData, { probe: string; shown: string; variable: string }> = {
  fixtures: { probe: join(fixturesDir, "MANIFEST.json"), shown: fixturesDir, variable: "QWEN2_FIXTURES" },
  "lora fixtures": { probe: join(loraFixturesDir, "MANIFEST.json"), shown: loraFixturesDir, variable: "QWEN2_LORA_FIXTURES" },
  tokenizers: { probe: join(tokenizersDir, "qwen2", "tokenizer.json"), shown: tokenizersDir, variable: "QWEN2_SHARED" },
  "tokenizer cases": { probe: tokenizerCasesFile, shown: tokenizerCasesFile, variable: "QWEN2_TOKENIZER_CASES" },
};

/** One line naming the shared data that is missing, or undefined when all of it is there. */
export function sharedMissing(...needs: SharedData[]): string | undefined {
  const missing = needs.filter((n) => !existsSync(WHERE[n].probe));
  if (missing.length === 0) return undefined;
  return skipReasonUnlessRequired(`needs the shared ${missing.map((n) => `${n} (${WHERE[n].shown}; set ${WHERE[n].variable})`).join(" and ")}, which a plain clone lacks`);
}

/** For a test's `skip` option: the reason, or false when the data is there. */
export function needsShared(...needs: SharedData[]): string | false {
  return sharedMissing(...needs) ?? false;
}
