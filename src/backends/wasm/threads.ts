/**
 * How many compute threads the backend runs: what was asked for, checked against what this
 * runtime allows. Several threads need memory shared between workers (always in Node; in a
 * browser only on a cross-origin-isolated page); where it is missing the backend runs on one
 * thread and says why, once per JavaScript realm, in a console warning. The calling thread
 * need not be one that may block: the compute threads are workers and it only awaits them
 * (a page's main thread gets every core too).
 */
import { hardwareConcurrency, sharedMemoryAvailable } from "#platform";
import { InvalidArgumentError } from "../../errors.js";
import { MAX_THREADS } from "./control.js";

/** What the platform offers (a parameter so that tests can describe a browser). */
export interface ThreadFacts {
  readonly cores: number;
  readonly sharedMemory: boolean;
}

export function platformThreadFacts(): ThreadFacts {
  return { cores: hardwareConcurrency(), sharedMemory: sharedMemoryAvailable() };
}

export const NOT_ISOLATED_WARNING =
  "qwen2-ts: the wasm backend runs on one thread because this page is not cross-origin isolated, so threads cannot share memory. " +
  "Serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp to use every core.";

const warned = new Set<string>();

/** Compute threads for `requested` (undefined: every core). Throws on a request that is not a valid count. */
export function chooseThreads(
  requested: number | undefined,
  facts: ThreadFacts = platformThreadFacts(),
  warn: (message: string) => void = (m) => console.warn(m),
): number {
  const cores = Math.max(1, facts.cores);
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1)
      throw new InvalidArgumentError(`wasm backend: threads must be a positive integer, got ${requested}`);
    if (requested > cores)
      throw new InvalidArgumentError(
        `wasm backend: threads ${requested} exceeds the ${cores} cores of this machine (more compute threads than cores only slow down)`,
      );
    if (requested > MAX_THREADS) throw new InvalidArgumentError(`wasm backend: threads ${requested} exceeds the supported ${MAX_THREADS}`);
  }
  const threads = requested ?? Math.min(cores, MAX_THREADS);
  if (threads === 1) return 1;
  if (facts.sharedMemory) return threads;
  const why = NOT_ISOLATED_WARNING;
  if (!warned.has(why)) {
    warned.add(why);
    warn(why);
  }
  return 1;
}
