/**
 * Large request bodies are decoded, depth-checked and parsed on a worker thread
 * (json_body_worker.ts), so the event loop keeps answering /health and feeding running
 * streams while a multi-megabyte body is parsed: on the event loop, joining and parsing a
 * 4 MB body holds it for tens of milliseconds (each large string costs ~3 ns a byte to
 * allocate here, mostly fresh pages), and the parse cannot be sliced.
 *
 * The bytes go to the worker without a copy (the chunks' buffers are transferred; readJsonBody
 * copies each chunk as it arrives), and the value comes back as a structured clone, which
 * builds it on the event loop in one step but without the decode, the join and the parse.
 * An error comes back as the same ApiError the event loop's parse gives (json_text.ts).
 */
import { Worker } from "node:worker_threads";
import { ApiError, type ApiErrorType } from "./errors.js";

/**
 * Bodies of more bytes than this are parsed off the event loop; a smaller one parses on it
 * in about a millisecond, less than the trip to the worker and back costs.
 */
export const OFF_THREAD_BYTES = 256 * 1024;

/** The worker thread's nice value (Linux): parsing a body is background work next to the event loop and decoding. */
export const BODY_PARSER_NICE = 10;

/** What the worker answers for one body. */
export type ParseReply =
  | { readonly id: number; readonly value: unknown }
  | {
      readonly id: number;
      readonly error: { status: number; message: string; type: ApiErrorType; param: string | null; code: string | null };
    }
  | { readonly id: number; readonly failure: string };

/** What the worker is asked: one body's chunks and the depth limit. */
export interface ParseRequest {
  readonly id: number;
  readonly chunks: readonly Uint8Array[];
  readonly maxDepth: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** One worker for the process, started when a server listens (or on the first large body) and kept. */
class JsonParseThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Bodies parsed on the worker so far. */
  parsed = 0;

  /** Whether the worker is started. */
  get running(): boolean {
    return this.worker !== null;
  }

  /**
   * Parses the body made of `chunks` (each must own its whole buffer: the buffers are
   * transferred to the worker and unusable here afterwards).
   */
  parse(chunks: readonly Uint8Array[], maxDepth: number): Promise<unknown> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Held open while it has work, so a parse in flight keeps the process alive.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      const request: ParseRequest = { id, chunks, maxDepth };
      worker.postMessage(
        request,
        chunks.map((c) => c.buffer as ArrayBuffer),
      );
    });
  }

  /**
   * Starts the worker now rather than on the first large body (a server does so when it
   * listens): starting it costs the event loop several milliseconds, and its memory then
   * belongs to the server's baseline rather than to the first large request.
   */
  start(): void {
    this.started();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./json_body_worker.js", import.meta.url), { name: "qwen2 JSON body parser" });
    worker.on("message", (reply: ParseReply) => this.answer(reply));
    // A worker that fails takes its pending bodies with it (each a 500); the next body starts a new one.
    const fail = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = null;
      const err = new Error(`the JSON body parser thread stopped: ${why}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on("error", (err) => fail(err.message));
    worker.on("exit", (code) => fail(`it exited with code ${code}`));
    // Idle, it never holds the process open (unref'd after the listeners: adding one refs it again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private answer(reply: ParseReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker?.unref();
    this.parsed++;
    if ("value" in reply) p.resolve(reply.value);
    else if ("error" in reply) {
      const e = reply.error;
      p.reject(new ApiError(e.status, e.message, e.type, e.param, e.code));
    } else p.reject(new Error(`the JSON body parser thread failed: ${reply.failure}`));
  }
}

/** The process's body-parsing thread. */
export const jsonParseThread = new JsonParseThread();
