/**
 * `#platform` for browsers (the `default` condition): pages, Web Workers and bundles built
 * for the web. Implements src/platform/types.ts with web APIs only; the globals it needs are
 * typed locally because the project compiles without the DOM library.
 */
import { UnsupportedError } from "../errors.js";
import type { ComputeWorker, LocalFile, LocalFolder, ParentPort, SpawnOptions, WebWorker, WebWorkerConstructor } from "./types.js";

export type { ComputeWorker, ParentPort, SpawnOptions, WebWorker, WebWorkerConstructor } from "./types.js";

interface MessageEventLike {
  readonly data: unknown;
}
interface ErrorEventLike {
  readonly message?: string;
  readonly error?: unknown;
  preventDefault?(): void;
}
interface EventTargetLike {
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}
interface WebGlobals extends Partial<EventTargetLike> {
  Worker?: WebWorkerConstructor;
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  postMessage?(message: unknown): void;
  document?: unknown;
}

const web = globalThis as unknown as WebGlobals;

export function spawnWorker(url: URL, options: SpawnOptions = {}): ComputeWorker {
  if (!web.Worker) throw new Error(`spawnWorker(${url.href}): this JavaScript environment has no Worker`);
  const named = options.name !== undefined ? { name: options.name } : {};
  const worker: WebWorker = options.webWorker ? options.webWorker(named) : new web.Worker(url, { type: "module", ...named });
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage(listener) {
      const onMessage = (e: MessageEventLike): void => listener(e.data);
      worker.addEventListener("message", onMessage);
      return () => worker.removeEventListener("message", onMessage);
    },
    onError(listener) {
      const onError = (e: ErrorEventLike): void => {
        e.preventDefault?.();
        listener(
          e.error instanceof Error ? e.error : new Error(`worker ${options.name ?? url.href}: ${e.message ?? "failed to load or threw"}`),
        );
      };
      const onMessageError = (): void => listener(new Error(`worker ${options.name ?? url.href}: a message could not be deserialised`));
      worker.addEventListener("error", onError);
      worker.addEventListener("messageerror", onMessageError);
      return () => {
        worker.removeEventListener("error", onError);
        worker.removeEventListener("messageerror", onMessageError);
      };
    },
    terminate: () => worker.terminate(),
    unref: () => {},
    ref: () => {},
  };
}

export function parentPort(): ParentPort {
  const scope = web;
  if (typeof scope.postMessage !== "function" || typeof scope.addEventListener !== "function" || scope.document !== undefined) {
    throw new Error("parentPort(): this thread is not a worker");
  }
  const add = scope.addEventListener.bind(scope);
  const remove = scope.removeEventListener!.bind(scope);
  const post = scope.postMessage.bind(scope);
  return {
    postMessage: (message) => post(message),
    onMessage(listener) {
      const onMessage = (e: MessageEventLike): void => listener(e.data);
      add("message", onMessage);
      return () => remove("message", onMessage);
    },
  };
}

export function hardwareConcurrency(): number {
  const n = web.navigator?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}

let blockable: boolean | undefined;

export function canBlock(): boolean {
  // No API says whether Atomics.wait is allowed here: ask it, with a zero timeout on a
  // value that never matches. It needs a shared buffer; without one no thread waits anyway.
  if (blockable === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockable = true;
    } catch {
      blockable = false;
    }
  }
  return blockable;
}

export function sharedMemoryAvailable(): boolean {
  return typeof SharedArrayBuffer === "function" && web.crossOriginIsolated === true;
}

export function environmentVariable(_name: string): string | undefined {
  return undefined;
}

export const hasLocalFiles = false;

function noPaths(path: string): UnsupportedError {
  return new UnsupportedError(
    `${path}: local paths cannot be opened here (no file system); pass a URL, a File/Blob, a list of Files or a ModelFiles`,
  );
}

export async function openLocalFile(path: string): Promise<LocalFile> {
  throw noPaths(path);
}

export async function localPathKind(_path: string): Promise<"folder" | "file" | null> {
  return null;
}

export function localFolder(path: string): LocalFolder {
  throw noPaths(path);
}
