/**
 * What the engine's worker loads a model with, and the options that cross to it. The
 * loading itself is the library's one entry, `fromPretrained` (runtime/load.ts); this module
 * narrows it to what can be posted to a worker: no callbacks, no ModelFiles objects, no
 * custom fetch or CacheStorage.
 */
import type { GenerationOptions } from "../../generation/sequence_generator.js";
import { type BackendName, fromPretrained, type LoadedModel, type LoadProgress } from "../load.js";

/**
 * Where the model comes from, in a form a worker can receive: a URL (or, in Node, Deno and
 * Bun, a path) of a Hugging Face folder or a `.gguf` file, one `File`/`Blob` (a `.gguf`), or
 * the files of a folder.
 */
export type EngineModelSource = string | Blob | readonly Blob[];

export interface EngineLoadOptions {
  readonly backend?: BackendName;
  readonly threads?: number;
  /** Keep URL downloads in Cache Storage (see fromPretrained's `cache`); a string names the bucket. */
  readonly cache?: boolean | string;
}

export type EngineLoadProgress = LoadProgress;

/** Generation options that cross to the worker: the signal stays with the caller, processors and caches cannot travel. */
export type RemoteGenerateOptions = Omit<GenerationOptions, "signal" | "logitsProcessors" | "cache" | "keepCache">;

export function loadForEngine(
  source: EngineModelSource,
  options: EngineLoadOptions,
  onProgress: (p: EngineLoadProgress) => void,
  signal: AbortSignal,
): Promise<LoadedModel> {
  return fromPretrained(source, {
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.cache !== undefined ? { cache: typeof options.cache === "string" ? { cacheName: options.cache } : options.cache } : {}),
    onProgress,
    signal,
  });
}
