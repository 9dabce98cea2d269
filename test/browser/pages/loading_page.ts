/**
 * Page code for test/browser/loading.test.ts: loads a model with fromPretrained (reference
 * backend, on the page's thread: loading is what is tested) from a URL, from the files of
 * an <input type=file>, or from the cache, and reports logits, progress and errors.
 */
import { deleteCachedModel, listCachedModels } from "../../../src/io/cache.js";
import type { LoadProgress } from "../../../src/io/progress.js";
import { fromPretrained, type LoadOptions } from "../../../src/runtime/load.js";

export interface LoadJob {
  /** A folder or .gguf URL; absent: the files picked in the page's <input type=file>. */
  readonly url?: string;
  readonly ids: readonly number[];
  readonly cache?: boolean;
  readonly maxWeightBytes?: number;
  /** Default "reference"; "wasm" where the wasm memory limit is what is tested. */
  readonly backend?: "reference" | "wasm";
  /** Abort when this many download events have arrived. */
  readonly abortAfterDownloads?: number;
}

export interface LoadResult {
  readonly logits?: number[];
  readonly error?: { readonly name: string; readonly message: string };
  readonly events: LoadProgress[];
}

export async function load(job: LoadJob): Promise<LoadResult> {
  const events: LoadProgress[] = [];
  const controller = new AbortController();
  let downloads = 0;
  const options: LoadOptions = {
    backend: job.backend ?? "reference",
    signal: controller.signal,
    onProgress: (e) => {
      events.push(e);
      if (e.phase === "download" && ++downloads === job.abortAfterDownloads) controller.abort(new Error("aborted by the page"));
    },
    ...(job.cache ? { cache: true } : {}),
    ...(job.maxWeightBytes !== undefined ? { maxWeightBytes: job.maxWeightBytes } : {}),
  };
  try {
    const input = (
      globalThis as unknown as { document: { querySelector(s: string): { files: ArrayLike<Blob> } | null } }
    ).document.querySelector("input[type=file]");
    const source = job.url ?? input!.files;
    const m = await fromPretrained(source, options);
    try {
      const cache = m.model.createCache(job.ids.length);
      const [logits] = await m.model.forward([{ ids: Int32Array.from(job.ids), cache }]);
      cache.dispose();
      return { logits: Array.from(logits!), events };
    } finally {
      m.close();
    }
  } catch (err) {
    const e = err as Error;
    return { error: { name: e.name, message: e.message }, events };
  }
}

export async function cached(): Promise<{ model: string; files: number; bytes: number }[]> {
  return (await listCachedModels()).map((m) => ({ model: m.model, files: m.files.length, bytes: m.bytes }));
}

export function forget(model: string): Promise<number> {
  return deleteCachedModel(model);
}
