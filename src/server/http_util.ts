/** Small HTTP helpers: bounded body reading, JSON replies, server-sent events. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ApiError, errors } from "./errors.js";
import { OFF_THREAD_BYTES, jsonParseThread } from "./json_parse_thread.js";
import { parseJsonChunks } from "./json_text.js";

export { JsonDepthScanner, jsonDepth, parseJson } from "./json_text.js";

/** The client closed the connection before its body arrived: nobody is left to answer. */
export class ClientGoneError extends Error {
  override readonly name = "ClientGoneError";
  constructor(readonly bytesRead: number) {
    super(`the client closed the connection during the upload (${bytesRead} bytes read)`);
  }
}

export interface BodyLimits {
  /** Most bytes; more is a 413. */
  readonly bodyLimit: number;
  /** Deepest array/object nesting; deeper is a 400 before anything parses it. */
  readonly maxJsonDepth: number;
  /** Epoch ms by which the whole body must have arrived (0: none); later is a 408. */
  readonly deadline: number;
  /** Seconds the deadline stands for, for the 408's message. */
  readonly readTimeoutSeconds: number;
  /** A body of more bytes is parsed on a worker thread (default {@link OFF_THREAD_BYTES}). */
  readonly offThreadBytes?: number;
}

/**
 * Reads the body as UTF-8 JSON, refusing more than `bodyLimit` bytes: a declared
 * Content-Length over the limit is refused before reading anything, and a chunked body is
 * cut off as soon as it passes the limit. On any refusal the request is left paused, not
 * drained: the caller answers and closes the connection (see closeAfterReply), so an
 * unwanted body costs no more than what had already arrived.
 *
 * While the body arrives the event loop only copies each chunk; once it is whole, a body of
 * more than `offThreadBytes` is decoded, depth-checked and parsed on a worker thread
 * (json_parse_thread.ts), a smaller one here (json_text.ts), with the same value or error.
 */
export function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limits.bodyLimit) return Promise.reject(errors.tooLarge(limits.bodyLimit));
  return new Promise((resolve, reject) => {
    // Copies, each owning its buffer, so that a large body's can move to the worker as they are.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const wait = limits.deadline > 0 ? Math.max(0, limits.deadline - Date.now()) : -1;
    const timer = wait >= 0 ? setTimeout(() => finish(errors.readTimeout(limits.readTimeoutSeconds)), wait) : null;
    const onData = (b: Buffer): void => {
      size += b.length;
      if (size > limits.bodyLimit) {
        finish(errors.tooLarge(limits.bodyLimit));
        return;
      }
      chunks.push(new Uint8Array(b));
    };
    const onEnd = (): void => finish(null);
    const onClose = (): void => {
      if (!req.complete) finish(new ClientGoneError(size));
    };
    const onError = (): void => finish(new ClientGoneError(size));
    function finish(err: Error | null): void {
      if (timer) clearTimeout(timer);
      req.off("data", onData).off("end", onEnd).off("close", onClose).off("error", onError);
      if (err) {
        req.pause();
        // A stream error after this must not go unhandled.
        req.on("error", () => {});
        reject(err);
        return;
      }
      if (size > (limits.offThreadBytes ?? OFF_THREAD_BYTES)) {
        jsonParseThread.parse(chunks, limits.maxJsonDepth).then(resolve, reject);
        return;
      }
      try {
        resolve(parseJsonChunks(chunks, limits.maxJsonDepth));
      } catch (e) {
        reject(e as Error);
      }
    }
    req.on("data", onData).on("end", onEnd).on("close", onClose).on("error", onError);
  });
}

/** Whether a Content-Type names JSON: application/json or any `+json` type, parameters allowed. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type);
}

/**
 * Marks the answer as the connection's last and, once it is written, closes the socket: a
 * little more of an unwanted body (64 KiB at most, 1 s at most) is read and dropped first,
 * so the client sees the answer rather than a connection reset.
 */
export function closeAfterReply(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader("connection", "close");
  res.once("finish", () => {
    const socket = req.socket;
    let dropped = 0;
    req.on("data", (b: Buffer) => {
      dropped += b.length;
      if (dropped > 64 * 1024) socket.destroy();
    });
    req.on("error", () => {});
    req.resume();
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  const headers: Record<string, string> = err.status === 429 || err.status === 503 ? { "retry-after": "1" } : {};
  sendJson(res, err.status, err.toJSON(), headers);
}

/** A server-sent events stream as OpenAI writes it: `data: {json}\n\n`, `data: [DONE]` last. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  send(data: unknown): void {
    if (!this.closed) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** An error after the stream started: OpenAI sends the error object as an event. */
  error(err: ApiError): void {
    this.send(err.toJSON());
    this.end();
  }

  end(): void {
    if (this.closed) return;
    this.res.write("data: [DONE]\n\n");
    this.res.end();
  }
}
