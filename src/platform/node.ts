/**
 * `#platform` for Node, Deno and Bun (the `node` condition): worker_threads, os, process.env.
 * Implements src/platform/types.ts.
 */
import { availableParallelism } from "node:os";
import { Worker, parentPort as nodeParentPort } from "node:worker_threads";
import type { ComputeWorker, ParentPort, SpawnOptions } from "./types.js";

export type { ComputeWorker, ParentPort, SpawnOptions, WebWorker, WebWorkerConstructor } from "./types.js";
export { localFolder, localPathKind, openLocalFile } from "./node_files.js";

export const hasLocalFiles = true;

export function spawnWorker(url: URL, options: SpawnOptions = {}): ComputeWorker {
  const worker = new Worker(url, options.name !== undefined ? { name: options.name } : {});
  let terminated = false;
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage(listener) {
      worker.on("message", listener);
      return () => void worker.off("message", listener);
    },
    onError(listener) {
      const onError = (err: unknown): void => listener(err instanceof Error ? err : new Error(String(err)));
      const onExit = (code: number): void => {
        if (!terminated) listener(new Error(`worker ${options.name ?? url.href} exited with code ${code}`));
      };
      worker.on("error", onError);
      worker.on("exit", onExit);
      return () => {
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
    },
    terminate() {
      terminated = true;
      void worker.terminate();
    },
    unref: () => worker.unref(),
    ref: () => worker.ref(),
  };
}

export function parentPort(): ParentPort {
  const port = nodeParentPort;
  if (!port) throw new Error("parentPort(): this thread is not a worker");
  return {
    postMessage: (message) => port.postMessage(message),
    onMessage(listener) {
      port.on("message", listener);
      return () => void port.off("message", listener);
    },
  };
}

export function hardwareConcurrency(): number {
  return availableParallelism();
}

export function canBlock(): boolean {
  return true;
}

export function sharedMemoryAvailable(): boolean {
  return typeof SharedArrayBuffer === "function";
}

export function environmentVariable(name: string): string | undefined {
  return process.env[name];
}
