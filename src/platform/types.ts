/**
 * `#platform`: the one place where JavaScript runtimes differ. package.json "imports" maps
 * `#platform` to `node.js` under the `node` condition (Node, Deno, Bun) and to `browser.js`
 * otherwise (pages, Web Workers, bundlers targeting the browser); this file is the interface
 * both implement, and what TypeScript sees. Everything above imports `#platform`, never a
 * runtime module (`node:*`, `window`) directly.
 */
/** A compute worker as the spawning thread sees it: a worker_threads Worker or a Web Worker. */
export interface ComputeWorker {
  /** Posts a structured-cloneable message (shared memories and compiled modules included). */
  postMessage(message: unknown): void;
  /** Calls `listener` with each message's data; returns a function that removes it. */
  onMessage(listener: (data: unknown) => void): () => void;
  /**
   * Calls `listener` when the worker fails: an uncaught error, a script that cannot load, or
   * (Node) an exit that terminate() did not ask for. Returns a function that removes it.
   */
  onError(listener: (error: Error) => void): () => void;
  /** Stops the worker, even one blocked in Atomics.wait. */
  terminate(): void;
  /** Lets the process exit while this worker lives (Node; nothing in browsers). */
  unref(): void;
  /** Keeps the process alive while this worker lives again (Node; nothing in browsers). */
  ref(): void;
}

/** The spawning thread as a worker sees it. */
export interface ParentPort {
  postMessage(message: unknown): void;
  onMessage(listener: (data: unknown) => void): () => void;
}

export interface SpawnOptions {
  /** Shown by debuggers and in error messages. */
  readonly name?: string;
  /**
   * Browsers: makes the module Web Worker instead of `new Worker(url)`. A module starting a
   * worker file beside it passes `(o) => new Worker(new URL("./w.js", import.meta.url), { ...o, type: "module" })`
   * spelled out so, the shape bundlers (Vite, webpack) recognise and bundle the worker file and
   * its imports for; without a bundler it starts the same file as `url` would. Node, Deno and
   * Bun ignore it and start `url`.
   */
  readonly webWorker?: (options: { readonly name?: string }) => WebWorker;
}

/** A Web Worker as spawnWorker uses it (the DOM's Worker, typed here: the project compiles without the DOM library). */
export interface WebWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}

/** The global `Worker` of browsers, for modules that declare it to pass `webWorker`. */
export type WebWorkerConstructor = new (url: URL, options: { readonly type: "module"; readonly name?: string }) => WebWorker;

/** Starts the ES module at `url` as a worker (worker_threads in Node/Deno/Bun, a module Web Worker in browsers). */
export declare function spawnWorker(url: URL, options?: SpawnOptions): ComputeWorker;

/** The port to the thread that spawned this one; throws on a thread that is not a worker. */
export declare function parentPort(): ParentPort;

/** Logical cores this program may use (at least 1). */
export declare function hardwareConcurrency(): number;

/**
 * Whether this thread may block in Atomics.wait: true in Node and in Web Workers, false on a
 * page's main thread (where it throws, and where blocking would freeze the page anyway).
 */
export declare function canBlock(): boolean;

/**
 * Whether memory can be shared between threads: always in Node; in a browser only when the
 * page is cross-origin isolated (served with COOP/COEP headers) and SharedArrayBuffer exists.
 */
export declare function sharedMemoryAvailable(): boolean;

/** An environment variable of the process (Node), or undefined where there is none (browsers). */
export declare function environmentVariable(name: string): string | undefined;

/**
 * A local file open for positioned reads: structurally io's ByteSource (io/byte_source.ts),
 * spelled out here because platform sits below io.
 */
export interface LocalFile {
  readonly name: string;
  readonly size: number;
  /** Fills dest with bytes [offset, offset + dest.byteLength); rejects with FormatError naming the file on a short read. */
  readInto(dest: Uint8Array, offset: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** A local folder: structurally io's ModelFiles. */
export interface LocalFolder {
  readonly location: string;
  open(name: string): Promise<LocalFile | null>;
  text(name: string): Promise<string | null>;
}

/** True where local paths can be opened (Node, Deno, Bun); false in browsers. */
export declare const hasLocalFiles: boolean;

/** Opens a local file for positioned reads. Rejects with FormatError naming the path when it cannot. */
export declare function openLocalFile(path: string): Promise<LocalFile>;

/** What a local path is: a folder, a file, or nothing (missing or unreadable). */
export declare function localPathKind(path: string): Promise<"folder" | "file" | null>;

/** A local folder (its path resolved to an absolute one). */
export declare function localFolder(path: string): LocalFolder;
