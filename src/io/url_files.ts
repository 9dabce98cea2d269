/**
 * A model at a URL: a Hugging Face-layout folder (files resolved against the folder URL) or
 * one `.gguf` file. With a ModelCache, files come from Cache Storage when present; weight
 * files not yet cached are read by range requests until `download()` stores them whole
 * (fromPretrained calls it once the headers are checked and the model is known to fit).
 */
import { FormatError } from "../errors.js";
import { blobSource } from "./blob_source.js";
import type { ByteSource, ModelFiles } from "./byte_source.js";
import type { ModelCache } from "./cache.js";
import { bodyToBlob, type HttpOptions, httpError, openUrlIfPresent, request, type WholeSource } from "./http.js";

export interface UrlFilesOptions extends HttpOptions {
  /** Where downloads are kept (Cache Storage); null or absent: no cache. */
  readonly cache?: ModelCache | null;
}

/** A source that can be downloaded whole ahead of its reads (into the cache). */
export interface Downloadable {
  download(signal?: AbortSignal): Promise<void>;
}

export function isDownloadable(source: ByteSource): source is ByteSource & Downloadable {
  return typeof (source as Partial<Downloadable>).download === "function";
}

/** A folder URL ends with "/", so relative names resolve inside it. */
export function folderUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u.href;
}

/** A folder at a URL as ModelFiles. */
export function urlFiles(url: string, options: UrlFilesOptions = {}): ModelFiles {
  const base = folderUrl(url);
  return {
    location: base,
    open: (name) => openUrlFile(new URL(name, base).href, options),
    async text(name: string): Promise<string | null> {
      const fileUrl = new URL(name, base).href;
      const cached = await options.cache?.text(fileUrl);
      if (cached !== undefined && cached !== null) return cached;
      const res = await request(fileUrl, options);
      if (res.status === 404) {
        void res.body?.cancel().catch(() => {});
        return null;
      }
      if (!res.ok) {
        void res.body?.cancel().catch(() => {});
        throw httpError(fileUrl, res);
      }
      const text = await res.text();
      await options.cache?.put(fileUrl, text);
      return text;
    },
  };
}

/**
 * One file at a URL: from the cache when it is there, else by range requests (or one whole
 * download where the server ignores ranges). Null for a 404.
 */
export async function openUrlFile(url: string, options: UrlFilesOptions = {}): Promise<(ByteSource & Partial<Downloadable>) | null> {
  const cache = options.cache ?? null;
  if (cache !== null) {
    const blob = await cache.blob(url);
    if (blob !== null) {
      options.onProgress?.({ phase: "download", file: url, loaded: blob.size, total: blob.size });
      return blobSource(blob, url);
    }
  }
  if (cache === null) return openUrlIfPresent(url, options);
  // Until the file is downloaded whole, its header reads report no download progress: the
  // download reports the file from 0 to its size, once.
  const onProgress = options.onProgress;
  const quiet: HttpOptions = { ...options, onProgress: (p) => (p.phase === "warning" ? onProgress?.(p) : undefined) };
  const remote = await openUrlIfPresent(url, quiet);
  if (remote === null) return null;
  return cachingSource(url, remote, cache, options);
}

/** Reads by range until download() stores the whole file in the cache; then from the cached Blob. */
function cachingSource(url: string, remote: ByteSource, cache: ModelCache, options: HttpOptions): ByteSource & Downloadable {
  let local: ByteSource | null = null;
  return {
    name: url,
    size: remote.size,
    readInto: (dest, offset, signal) => (local ?? remote).readInto(dest, offset, signal),
    async download(signal = options.signal): Promise<void> {
      if (local !== null) return;
      let blob: Blob;
      const whole = (remote as Partial<WholeSource>).wholeBody;
      if (whole !== undefined) {
        blob = await whole();
      } else {
        const opts = { ...options, ...(signal ? { signal } : {}) };
        const res = await request(url, opts);
        if (!res.ok) {
          void res.body?.cancel().catch(() => {});
          throw httpError(url, res);
        }
        blob = await bodyToBlob(url, res, remote.size, signal, (loaded) =>
          options.onProgress?.({ phase: "download", file: url, loaded, total: remote.size }),
        );
      }
      if (blob.size !== remote.size) throw new FormatError(url, `truncated download: got ${blob.size} of ${remote.size} bytes`);
      await cache.put(url, blob);
      // Read back what the cache holds: in browsers that Blob lives on disk, not in memory.
      local = blobSource((await cache.blob(url)) ?? blob, url);
      remote.close();
    },
    close(): void {
      remote.close();
      local?.close();
    },
  };
}
