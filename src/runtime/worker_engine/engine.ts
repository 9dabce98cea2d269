/**
 * WorkerEngine: a model that runs in a dedicated worker, so that loading and inference never
 * block the calling thread (a page's main thread may not block in Atomics.wait, and a
 * forward pass would freeze it). The worker is a module Web Worker in browsers and Deno,
 * a worker_threads worker in Node and Bun (through #platform); inside it the wasm backend
 * spawns its own compute threads when the page is cross-origin isolated.
 *
 *   const engine = await WorkerEngine.create({ model: "https://host/Qwen2.5-0.5B-Instruct/", onProgress });
 *   for await (const { text } of engine.stream(messages, { maxNewTokens: 200, signal })) out.append(text);
 *   engine.dispose();
 */
import { spawnWorker, type ComputeWorker, type WebWorkerConstructor } from "#platform";
import type { GenerateInput } from "../../generation/generate.js";
import type { GenerationResult } from "../../generation/sequence_generator.js";
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions } from "../../tokenizer/types.js";
import type { EngineLoadOptions, EngineLoadProgress, EngineModelSource, RemoteGenerateOptions } from "./load_model.js";
import { deserializeError, type EngineInfo, type FromWorker, type TokenizerCall, type ToWorker } from "./protocol.js";

export type { EngineInfo } from "./protocol.js";
export type { EngineLoadProgress, EngineModelSource } from "./load_model.js";

/** Browsers' global; only `spawnEngineWorker` calls it, through spawnWorker's `webWorker`, and only in browsers. */
declare const Worker: WebWorkerConstructor;

/**
 * The engine's worker beside this module, spelled as the literal
 * `new Worker(new URL("./engine_worker.js", import.meta.url), ...)` that bundlers recognise and
 * bundle it for (see the wasm backend's pool.ts; the same constant keeps them from also copying
 * the unbundled file).
 */
const ENGINE_WORKER_FILE = "./engine_worker.js";
function spawnEngineWorker(workerUrl: URL | undefined): ComputeWorker {
  const name = "qwen2 engine";
  if (workerUrl) return spawnWorker(workerUrl, { name });
  return spawnWorker(new URL(ENGINE_WORKER_FILE, import.meta.url), {
    name,
    webWorker: (o) => new Worker(new URL("./engine_worker.js", import.meta.url), { ...o, type: "module" }),
  });
}

export interface WorkerEngineOptions extends EngineLoadOptions {
  /** A URL (or, in Node, a path) of a Hugging Face folder or `.gguf` file, a `File`/`Blob`, or a folder's files (`File[]`, a `FileList`). */
  readonly model: EngineModelSource | URL | ArrayLike<Blob>;
  /** Called in this thread for each progress event of the load. */
  readonly onProgress?: (progress: EngineLoadProgress) => void;
  /** Aborts the load: create() rejects with the signal's reason and the worker is stopped. */
  readonly signal?: AbortSignal;
  /** URL of the engine's worker script (default: engine_worker.js beside this module; a bundle may place it elsewhere). */
  readonly workerUrl?: URL;
}

/** Generation options of a WorkerEngine: those of `generate()` that can cross to a worker, and a signal. */
export interface WorkerGenerateOptions extends RemoteGenerateOptions {
  /** Ends generation at the next token with finish reason "abort" (the abort is posted to the worker). */
  readonly signal?: AbortSignal;
}

/** Text that became safe to show (whole characters, never part of a stop string). */
export interface EngineTokenEvent {
  readonly text: string;
}

interface Pending {
  deliver(message: FromWorker): void;
  fail(error: Error): void;
}

export class WorkerEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: Error | null = null;

  private constructor(
    private readonly worker: ComputeWorker,
    /** The backend, configs and EOS ids of the loaded model. */
    readonly info: EngineInfo,
  ) {
    worker.onMessage((data) => {
      const message = data as FromWorker;
      if ("id" in message) this.pending.get(message.id)?.deliver(message);
    });
    worker.onError((error) => this.fail(new Error(`WorkerEngine: the worker failed: ${error.message}`, { cause: error })));
    // An idle engine does not keep a Node process alive; a request in flight does.
    worker.unref();
  }

  /** Starts the worker and loads the model in it; resolves when it is ready to generate. */
  static async create(options: WorkerEngineOptions): Promise<WorkerEngine> {
    const { signal } = options;
    signal?.throwIfAborted();
    const source = engineSource(options.model);
    const worker = spawnEngineWorker(options.workerUrl);
    return new Promise<WorkerEngine>((resolve, reject) => {
      const settle = (): void => {
        offMessage();
        offError();
        signal?.removeEventListener("abort", onAbort);
      };
      const failLoad = (error: Error): void => {
        settle();
        worker.terminate();
        reject(error);
      };
      const onAbort = (): void => {
        worker.postMessage({ type: "abort-load" } satisfies ToWorker);
        failLoad(abortReason(signal!));
      };
      const offMessage = worker.onMessage((data) => {
        const message = data as FromWorker;
        if (message.type === "progress") options.onProgress?.(message.progress);
        else if (message.type === "load-failed") failLoad(deserializeError(message.error));
        else if (message.type === "loaded") {
          settle();
          resolve(new WorkerEngine(worker, message.info));
        }
      });
      const offError = worker.onError((error) =>
        failLoad(new Error(`WorkerEngine: the worker failed while loading: ${error.message}`, { cause: error })),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      const load: EngineLoadOptions = {
        ...(options.backend !== undefined ? { backend: options.backend } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.cache !== undefined ? { cache: options.cache } : {}),
      };
      worker.postMessage({ type: "load", source, options: load } satisfies ToWorker);
    });
  }

  /**
   * Generates in the worker and yields text as it becomes safe to show; the generator's return
   * value is the full result (ids, finish reason, usage, timings). Stopping the iteration early
   * (break) or firing `signal` aborts generation in the worker.
   */
  async *stream(input: GenerateInput, options: WorkerGenerateOptions = {}): AsyncGenerator<EngineTokenEvent, GenerationResult, void> {
    const { signal, ...remote } = options;
    const queue: FromWorker[] = [];
    let failure: Error | null = null;
    let wake: (() => void) | null = null;
    const id = this.open({
      deliver: (m) => {
        queue.push(m);
        wake?.();
      },
      fail: (e) => {
        failure = e;
        wake?.();
      },
    });
    const abort = (): void => this.post({ type: "abort", id });
    let finished = false;
    try {
      this.post({ type: "generate", id, input, options: remote });
      if (signal?.aborted) abort();
      else signal?.addEventListener("abort", abort, { once: true });
      for (;;) {
        while (queue.length === 0 && failure === null) await new Promise<void>((r) => (wake = r));
        wake = null;
        if (failure !== null) throw failure;
        const m = queue.shift()!;
        if (m.type === "text") yield { text: m.text };
        else if (m.type === "done") {
          finished = true;
          return m.result;
        } else if (m.type === "failed") {
          finished = true;
          throw deserializeError(m.error);
        }
      }
    } finally {
      signal?.removeEventListener("abort", abort);
      this.close(id);
      if (!finished && this.broken === null) abort();
    }
  }

  /** Generates to the end in the worker. */
  async generate(input: GenerateInput, options: WorkerGenerateOptions = {}): Promise<GenerationResult> {
    const it = this.stream(input, options);
    for (;;) {
      const step = await it.next();
      if (step.done) return step.value;
    }
  }

  encode(text: string, options?: EncodeOptions): Promise<number[]> {
    return this.call({ method: "encode", text, ...(options ? { options } : {}) }) as Promise<number[]>;
  }

  decode(ids: ArrayLike<number>, options?: DecodeOptions): Promise<string> {
    return this.call({ method: "decode", ids: Array.from(ids), ...(options ? { options } : {}) }) as Promise<string>;
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): Promise<string> {
    return this.call({ method: "applyChatTemplate", messages, ...(options ? { options } : {}) }) as Promise<string>;
  }

  /** Stops the worker (and its compute threads); pending calls reject, later ones too. */
  dispose(): void {
    if (this.broken !== null) return;
    this.post({ type: "dispose" });
    this.fail(new Error("WorkerEngine: disposed"));
  }

  private call(call: TokenizerCall): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let id = 0;
      id = this.open({
        deliver: (m) => {
          this.close(id);
          if (m.type === "result") resolve(m.value);
          else if (m.type === "failed") reject(deserializeError(m.error));
        },
        fail: (e) => {
          this.close(id);
          reject(e);
        },
      });
      this.post({ type: "call", id, call });
    });
  }

  private open(p: Pending): number {
    if (this.broken !== null) throw this.broken;
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(id, p);
    return id;
  }

  private close(id: number): void {
    if (this.pending.delete(id) && this.pending.size === 0) this.worker.unref();
  }

  private post(message: ToWorker): void {
    if (this.broken === null) this.worker.postMessage(message);
  }

  private fail(error: Error): void {
    if (this.broken !== null) return;
    this.broken = error;
    this.worker.terminate();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.fail(error);
  }
}

/** Why a signal aborted, as an Error (a DOMException "AbortError" unless the caller gave a reason). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(reason === undefined ? "The operation was aborted" : String(reason));
  err.name = "AbortError";
  return err;
}

/** The model source in a form that can be posted to a worker. */
function engineSource(model: WorkerEngineOptions["model"]): EngineModelSource {
  if (typeof model === "string") return model;
  if (model instanceof URL) return model.href;
  if (typeof Blob !== "undefined" && model instanceof Blob) return model;
  return Array.from(model as ArrayLike<Blob>);
}
