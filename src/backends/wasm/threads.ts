/**
 * How many compute threads the backend runs: what was asked for, checked against what this
 * thread and runtime allow. Several threads need memory shared between workers (always in
 * Node; in a browser only on a cross-origin-isolated page) and a thread that may block in
 * Atomics.wait (not a page's main thread). Where either is missing the backend runs on one
 * thread and says why, once per JavaScript realm, in a console warning.
 */
import { canBlock, hardwareConcurrency, sharedMemoryAvailable } from "#platform";
import { InvalidArgumentError } from "../../errors.js";
import { MAX_THREADS } from "./control.js";

/** What the platform offers (a parameter so that tests can describe a browser). */
export interface ThreadFacts {
  readonly cores: number;
  readonly sharedMemory: boolean;
  readonly canBlock: boolean;
}

export function platformThreadFacts(): ThreadFacts {
  return { cores: hardwareConcurrency(), sharedMemory: sharedMemoryAvailable(), canBlock: canBlock() };
}

export const NOT_ISOLATED_WARNING =
  "qwen2-ts: the wasm backend runs on one thread because this page is not cross-origin isolated, so threads cannot share memory. " +
  "Serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp to use every core.";

export const MAIN_THREAD_WARNING =
  "qwen2-ts: the wasm backend runs on one thread because this is a page's main thread, which may not block in Atomics.wait " +
  "(and inference here freezes the page): run the model in a Worker, e.g. with WorkerEngine, to use every core.";

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
  const why = !facts.sharedMemory ? NOT_ISOLATED_WARNING : !facts.canBlock ? MAIN_THREAD_WARNING : null;
  if (why === null) return threads;
  if (!warned.has(why)) {
    warned.add(why);
    warn(why);
  }
  return 1;
}
