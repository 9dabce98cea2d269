/**
 * Downloads kept in the browser's Cache Storage, so a reload does not download a model
 * again. Each file is stored under its URL with a header naming the model (the folder or
 * `.gguf` URL it belongs to), which is what `listCachedModels()` groups by and
 * `deleteCachedModel()` removes. Cached weights are read back as the cached response's Blob,
 * which browsers keep on disk: ranges are sliced from it, never the whole file into the heap.
 */
import { FormatError } from "../errors.js";

/** The part of the Cache API used here (a browser's `caches`, or a test double). */
export interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
  delete(url: string): Promise<boolean>;
  keys(): Promise<readonly { readonly url: string }[]>;
}
export interface CacheStorageLike {
  open(name: string): Promise<CacheLike>;
}

export interface CacheOptions {
  /** The Cache Storage bucket. Default "qwen2-ts-models". */
  readonly cacheName?: string;
  /** Default: globalThis.caches (browsers, Deno). */
  readonly caches?: CacheStorageLike;
}

export const DEFAULT_CACHE_NAME = "qwen2-ts-models";
const MODEL_HEADER = "x-qwen2-ts-model";

/** A cached model: the URL it was loaded from, its files and their total size. */
export interface CachedModel {
  readonly model: string;
  readonly files: readonly { readonly url: string; readonly bytes: number }[];
  readonly bytes: number;
}

function storageOf(options: CacheOptions): CacheStorageLike {
  const storage = options.caches ?? (globalThis as { caches?: CacheStorageLike }).caches;
  if (storage === undefined) {
    throw new FormatError(
      "<cache>",
      "Cache Storage is not available here (it needs a browser page or worker in a secure context: https or localhost); load with cache: false",
    );
  }
  return storage;
}

/** The files of one model in the cache. */
export class ModelCache {
  private constructor(
    private readonly cache: CacheLike,
    /** The folder or `.gguf` URL the files belong to. */
    readonly model: string,
  ) {}

  static async open(model: string, options: CacheOptions = {}): Promise<ModelCache> {
    return new ModelCache(await storageOf(options).open(options.cacheName ?? DEFAULT_CACHE_NAME), model);
  }

  /** The cached body of `url`, or null. */
  async blob(url: string): Promise<Blob | null> {
    const res = await this.cache.match(url);
    return res === undefined ? null : res.blob();
  }

  async text(url: string): Promise<string | null> {
    const res = await this.cache.match(url);
    return res === undefined ? null : res.text();
  }

  async put(url: string, body: Blob | string): Promise<void> {
    const size = typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.size;
    await this.cache.put(url, new Response(body, { headers: { [MODEL_HEADER]: this.model, "content-length": String(size) } }));
  }
}

/** Every model in the cache, with its files and sizes. */
export async function listCachedModels(options: CacheOptions = {}): Promise<CachedModel[]> {
  const cache = await storageOf(options).open(options.cacheName ?? DEFAULT_CACHE_NAME);
  const models = new Map<string, { url: string; bytes: number }[]>();
  for (const req of await cache.keys()) {
    const res = await cache.match(req.url);
    if (res === undefined) continue;
    const model = res.headers.get(MODEL_HEADER) ?? req.url;
    const bytes = Number(res.headers.get("content-length") ?? 0);
    const files = models.get(model) ?? [];
    files.push({ url: req.url, bytes });
    models.set(model, files);
  }
  return [...models].map(([model, files]) => ({ model, files, bytes: files.reduce((n, f) => n + f.bytes, 0) }));
}

/** Removes every cached file of `model` (the URL it was loaded from); returns how many. */
export async function deleteCachedModel(model: string, options: CacheOptions = {}): Promise<number> {
  const cache = await storageOf(options).open(options.cacheName ?? DEFAULT_CACHE_NAME);
  let removed = 0;
  for (const req of await cache.keys()) {
    const res = await cache.match(req.url);
    if (res === undefined || (res.headers.get(MODEL_HEADER) ?? req.url) !== model) continue;
    if (await cache.delete(req.url)) removed++;
  }
  return removed;
}
