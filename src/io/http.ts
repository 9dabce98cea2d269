/**
 * Files over HTTP, read with range requests. Opening a URL asks for its first bytes with
 * `Range: bytes=0-…`: a 206 answer gives the size (Content-Range) and the bytes every format
 * header starts with; later reads fetch only the ranges asked for and stream them straight
 * into the caller's buffer (a WebAssembly memory at upload). Reads beyond that go through
 * aligned windows of the file, and each read also starts fetching the windows after it: a
 * model loads tensor by tensor in file order, so the next bytes are usually on their way
 * before they are asked for, and a run of small tensors costs one request, not one each.
 * (A request's round trip, not its bandwidth, is what a page pays most for.)
 *
 * A server that ignores Range (a 200 with the whole body) still works: the file is
 * downloaded once into a Blob (kept out of the JS heap; browsers spill large Blobs to disk)
 * and read from there, with a `warning` progress event saying so.
 *
 * Every failure names the URL and what to do: HTTP 404/403, a cross-origin refusal (fetch's
 * bare TypeError), missing CORS headers, a download cut short.
 */
import { FormatError } from "../errors.js";
import { blobSource } from "./blob_source.js";
import { type ByteSource, checkRange, shortRead, throwIfAborted } from "./byte_source.js";
import type { ProgressListener } from "./progress.js";

/** The part of `fetch` used here (tests inject their own). */
export type FetchLike = (
  url: string,
  init?: { headers?: Record<string, string>; signal?: AbortSignal; method?: string },
) => Promise<Response>;

export interface HttpOptions {
  /** Default: globalThis.fetch. Pass one that adds an Authorization header for gated models. */
  readonly fetch?: FetchLike;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  /** Bytes asked for when a file is opened (default PROBE_BYTES). */
  readonly probeBytes?: number;
  /** Size of the aligned windows reads are fetched in (default WINDOW_BYTES). */
  readonly windowBytes?: number;
}

/** Bytes asked for when opening: enough for a config file and most safetensors/GGUF headers. */
export const PROBE_BYTES = 1 << 20;
/** Reads are fetched in aligned windows of this size. */
export const WINDOW_BYTES = 8 << 20;
/** Windows fetched ahead of the last one a read needs. */
const READ_AHEAD = 2;
/** Windows kept (fetched or on their way), the least recently used dropped first: reads jump back within a layer. */
const KEPT_WINDOWS = 4;
/** A fallback download is gathered in Blob parts of this size, so the JS heap never holds more. */
const BLOB_PART_BYTES = 16 << 20;

const CORS_HINT =
  "a network error, or a cross-origin request the server refused: serve the model from this page's origin, or have the server send Access-Control-Allow-Origin (and, for range requests, allow the Range header and expose Content-Range, Content-Length and Accept-Ranges)";

function fetchOf(options: HttpOptions): FetchLike {
  if (options.fetch) return options.fetch;
  if (typeof globalThis.fetch !== "function")
    throw new FormatError("<fetch>", "this JavaScript environment has no fetch(); pass options.fetch");
  return (url, init) => globalThis.fetch(url, init);
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === "AbortError");
}

/** fetch(), with a network or CORS failure turned into an error naming the URL. */
export async function request(url: string, options: HttpOptions, headers: Record<string, string> = {}): Promise<Response> {
  throwIfAborted(options.signal);
  try {
    return await fetchOf(options)(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    if (isAbort(err, options.signal)) throw options.signal?.reason ?? err;
    throw new FormatError(url, `request failed (${(err as Error).message}): ${CORS_HINT}`);
  }
}

/** The error for a response that is not a success, naming the URL and the status. */
export function httpError(url: string, res: Response): FormatError {
  const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  switch (res.status) {
    case 404:
      return new FormatError(url, `${status}: no file at this URL (check the model URL and the file name)`);
    case 401:
    case 403:
      return new FormatError(
        url,
        `${status}: the server refuses access (a gated or private model needs credentials: pass a fetch that adds an Authorization header)`,
      );
    case 416:
      return new FormatError(url, `${status}: the server refused the byte range asked for (the file is shorter than expected, or empty)`);
    default:
      return new FormatError(url, `${status}`);
  }
}

/** Parses `bytes a-b/total`; null when the header is missing or unreadable. */
function contentRange(res: Response): { start: number; end: number; total: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range")?.trim() ?? "");
  return m ? { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) } : null;
}

/** The next chunk of a body; a connection that breaks mid-body is a truncated download naming the URL. */
async function readChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  url: string,
  got: number,
  expected: number | null,
  signal: AbortSignal | undefined,
): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>> {
  try {
    return await reader.read();
  } catch (err) {
    if (isAbort(err, signal)) throw signal?.reason ?? err;
    throw new FormatError(
      url,
      `truncated download: the connection failed after ${got}${expected !== null ? ` of ${expected}` : ""} bytes (${(err as Error).message})`,
    );
  }
}

/** Reads a body into dest, failing when it ends early; extra bytes are dropped. */
async function bodyInto(
  url: string,
  res: Response,
  dest: Uint8Array,
  offset: number,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<void> {
  if (res.body === null) {
    if (dest.byteLength > 0) throw shortRead(url, offset, dest.byteLength, 0);
    return;
  }
  const reader = res.body.getReader();
  let got = 0;
  try {
    while (got < dest.byteLength) {
      throwIfAborted(signal);
      const { done, value } = await readChunk(reader, url, got, dest.byteLength, signal);
      if (done) break;
      const n = Math.min(value.byteLength, dest.byteLength - got);
      dest.set(value.subarray(0, n), got);
      got += n;
      onBytes(n);
    }
  } finally {
    if (got >= dest.byteLength) void reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  if (got < dest.byteLength) throw shortRead(url, offset, dest.byteLength, got);
}

/**
 * A whole body into a Blob, in parts, so the JS heap holds at most one part. Fails when the
 * body ends before `expected` bytes (a download cut short).
 */
export async function bodyToBlob(
  url: string,
  res: Response,
  expected: number | null,
  signal: AbortSignal | undefined,
  onBytes: (loaded: number) => void,
): Promise<Blob> {
  const parts: Blob[] = [];
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let loaded = 0;
  if (res.body !== null) {
    const reader = res.body.getReader();
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await readChunk(reader, url, loaded, expected, signal);
      if (done) break;
      batch.push(value);
      batchBytes += value.byteLength;
      loaded += value.byteLength;
      onBytes(loaded);
      if (batchBytes >= BLOB_PART_BYTES) {
        parts.push(new Blob(batch));
        batch = [];
        batchBytes = 0;
      }
    }
  }
  if (batch.length > 0) parts.push(new Blob(batch));
  if (expected !== null && loaded < expected) {
    throw new FormatError(url, `truncated download: got ${loaded} of ${expected} bytes (the connection closed early; try again)`);
  }
  return new Blob(parts);
}

/**
 * Opens a URL for reads. One request answers both questions: does the server honour ranges
 * (206), and how big is the file (Content-Range, else Content-Length).
 */
export async function openUrl(url: string, options: HttpOptions = {}): Promise<ByteSource> {
  const source = await openUrlIfPresent(url, options);
  if (source === null) throw new FormatError(url, "HTTP 404 Not Found: no file at this URL (check the model URL and the file name)");
  return source;
}

/** openUrl(), or null when the server says 404 (a folder without that file). */
export async function openUrlIfPresent(url: string, options: HttpOptions = {}): Promise<ByteSource | null> {
  const probe = options.probeBytes ?? PROBE_BYTES;
  const res = await request(url, options, { Range: `bytes=0-${probe - 1}` });
  if (res.status === 404) {
    void res.body?.cancel().catch(() => {});
    return null;
  }
  if (res.status === 206) {
    const range = contentRange(res);
    if (range === null || range.start !== 0) {
      void res.body?.cancel().catch(() => {});
      throw new FormatError(
        url,
        `answered a range request (HTTP 206) without a readable Content-Range header: a cross-origin server must send Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges`,
      );
    }
    const head = new Uint8Array(Math.min(range.end + 1, range.total));
    const progress = downloadProgress(url, range.total, options);
    await bodyInto(url, res, head, 0, options.signal, progress);
    return new RangeSource(url, range.total, head, options, progress);
  }
  if (!res.ok) {
    void res.body?.cancel().catch(() => {});
    throw httpError(url, res);
  }
  // A 200: the server ignores Range and is sending the whole file.
  const length = res.headers.get("content-length");
  const size = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  options.onProgress?.({
    phase: "warning",
    file: url,
    message: `${url}: the server ignores HTTP range requests (it answered 200, not 206), so the whole file${size !== null ? ` (${size} bytes)` : ""} is downloaded once and read from memory outside the JS heap`,
  });
  return wholeBodySource(url, res, size, options);
}

/** Progress for one file: loaded bytes (counted once each), never above the total. */
function downloadProgress(url: string, total: number, options: HttpOptions): (n: number) => void {
  let loaded = 0;
  return (n) => {
    loaded = Math.min(total, loaded + n);
    options.onProgress?.({ phase: "download", file: url, loaded, total });
  };
}

/** A file behind a server that honours ranges. */
class RangeSource implements ByteSource {
  /** Windows by index (offset / windowBytes), fetched or on their way, least recently used first. */
  private readonly windows = new Map<number, Promise<Uint8Array>>();
  private open = true;

  constructor(
    readonly name: string,
    readonly size: number,
    private readonly head: Uint8Array,
    private readonly options: HttpOptions,
    private readonly onBytes: (n: number) => void,
  ) {}

  async readInto(dest: Uint8Array, offset: number, signal = this.options.signal): Promise<void> {
    throwIfAborted(signal);
    if (!this.open) throw new FormatError(this.name, "read after close()");
    checkRange(this.name, this.size, offset, dest.byteLength);
    const end = offset + dest.byteLength;
    if (end <= this.head.byteLength) {
      dest.set(this.head.subarray(offset, end));
      return;
    }
    const size = this.options.windowBytes ?? WINDOW_BYTES;
    const first = Math.floor(offset / size);
    const last = Math.floor((end - 1) / size);
    // Taken before anything is dropped, so a read's own windows stay in reach whatever later reads evict.
    const parts: [number, Promise<Uint8Array>][] = [];
    for (let k = first; k <= last; k++) parts.push([k, this.window(k, size)]);
    for (let k = last + 1; k <= last + READ_AHEAD && k * size < this.size; k++) this.window(k, size);
    for (const k of this.windows.keys()) {
      if (this.windows.size <= KEPT_WINDOWS) break;
      this.windows.delete(k);
    }
    for (const [k, part] of parts) {
      const bytes = await abortable(part, signal);
      const start = k * size;
      const a = Math.max(offset, start);
      const b = Math.min(end, start + bytes.byteLength);
      dest.set(bytes.subarray(a - start, b - start), a - offset);
    }
  }

  /** Window k's bytes (the last one may be short), fetched once; marked as just used. */
  private window(k: number, size: number): Promise<Uint8Array> {
    let part = this.windows.get(k);
    if (part !== undefined) {
      this.windows.delete(k);
    } else {
      const start = k * size;
      const bytes = new Uint8Array(Math.min(size, this.size - start));
      // Windows serve every later read, so they follow the load's signal, not one read's.
      const fetched = this.fetchRange(bytes, start, this.options.signal).then(() => bytes);
      // A failed window is fetched again by the next read that needs it.
      fetched.catch(() => {
        if (this.windows.get(k) === fetched) this.windows.delete(k);
      });
      part = fetched;
    }
    this.windows.set(k, part);
    return part;
  }

  private async fetchRange(dest: Uint8Array, offset: number, signal: AbortSignal | undefined): Promise<void> {
    if (dest.byteLength === 0) return;
    const options = signal === this.options.signal ? this.options : { ...this.options, signal };
    const res = await request(this.name, options, { Range: `bytes=${offset}-${offset + dest.byteLength - 1}` });
    if (res.status !== 206) {
      void res.body?.cancel().catch(() => {});
      if (res.status === 200) {
        throw new FormatError(
          this.name,
          `the server ignored a range request (HTTP 200 for bytes ${offset}-${offset + dest.byteLength - 1}) after honouring the first one`,
        );
      }
      throw httpError(this.name, res);
    }
    await bodyInto(this.name, res, dest, offset, signal, this.onBytes);
  }

  close(): void {
    this.open = false;
    this.windows.clear();
  }
}

/** A source whose whole file arrives (or arrived) in one response: the Blob it is read from. */
export interface WholeSource extends ByteSource {
  wholeBody(): Promise<Blob>;
}

/**
 * A file whose whole body arrives in one response: downloaded into a Blob on the first read
 * beyond what is already known (so opening does not download), then read from the Blob.
 */
function wholeBodySource(url: string, res: Response, size: number | null, options: HttpOptions): WholeSource | Promise<WholeSource> {
  let blob: Promise<Blob> | null = null;
  const body = (): Promise<Blob> => {
    blob ??= bodyToBlob(url, res, size, options.signal, (loaded) =>
      options.onProgress?.({ phase: "download", file: url, loaded, ...(size !== null ? { total: size } : {}) }),
    );
    return blob;
  };
  const load = async (): Promise<ByteSource> => blobSource(await body(), url);
  // Without a Content-Length the size is only known once the body is in.
  if (size === null) return body().then((b) => Object.assign(blobSource(b, url), { wholeBody: async () => b }));
  let open = true;
  return {
    name: url,
    size,
    wholeBody: body,
    async readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void> {
      throwIfAborted(signal);
      if (!open) throw new FormatError(url, "read after close()");
      checkRange(url, size, offset, dest.byteLength);
      const source = await load();
      if (source.size < size) throw shortRead(url, offset, dest.byteLength, Math.max(0, source.size - offset));
      return source.readInto(dest, offset, signal);
    },
    close(): void {
      open = false;
      if (blob === null) void res.body?.cancel().catch(() => {});
    },
  };
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
