/** Small HTTP helpers: bounded body reading, JSON replies, server-sent events. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ApiError, errors } from "./errors.js";

/**
 * Reads the body as UTF-8 JSON, refusing more than `limit` bytes: a declared
 * Content-Length over the limit is refused before reading anything, and a chunked body
 * is cut off as soon as it passes the limit.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw errors.tooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      req.resume();
      throw errors.tooLarge(limit);
    }
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw errors.badJson("the body is empty");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.badJson((err as Error).message);
  }
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
