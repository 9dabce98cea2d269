/**
 * What the engine's worker loads a model with, and the options that cross to it. The
 * loading itself is the library's one entry (`fromPretrained` in runtime/load.ts); this module
 * only narrows it to what can be posted to a worker: no callbacks, no ModelFiles objects, no
 * custom fetch.
 */
import type { GenerationOptions } from "../../generation/sequence_generator.js";
import { fromPretrained, type BackendName, type LoadProgress, type LoadedModel } from "../load.js";

/**
 * Where the model comes from, in a form a worker can receive: a URL (or, in Node, a path) of
 * a Hugging Face folder or a `.gguf` file, one `File`/`Blob` (a `.gguf`), or the files of a folder.
 */
export type EngineModelSource = string | Blob | readonly Blob[];

export interface EngineLoadOptions {
  readonly backend?: BackendName;
  readonly threads?: number;
  /** Keep downloads in the browser's Cache Storage (see fromPretrained's `cache`). */
  readonly cache?: boolean;
}

export type EngineLoadProgress = LoadProgress;

/** Generation options that cross to the worker: the signal stays with the caller, processors and caches cannot travel. */
export type RemoteGenerateOptions = Omit<GenerationOptions, "signal" | "logitsProcessors" | "cache" | "keepCache">;

export async function loadForEngine(
  source: EngineModelSource,
  options: EngineLoadOptions,
  onProgress: (p: EngineLoadProgress) => void,
  signal: AbortSignal,
): Promise<LoadedModel> {
  return fromPretrained(source, {
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    onProgress,
    signal,
  });
}
