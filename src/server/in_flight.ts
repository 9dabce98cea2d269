/**
 * One HTTP request while the server works on it: its id (echoed as `x-request-id` and put on
 * every log line), when it arrived, and a signal that ends its work, fired when the client
 * leaves, when its deadline passes or when a shutdown gives up waiting. Route handlers find
 * it from their response with {@link inFlightOf}; the generation lifecycle links its own
 * abort to the signal and reports tokens here for the metrics.
 */
import type { ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { ServerMetrics } from "./metrics.js";

const registry = new WeakMap<ServerResponse, InFlight>();

/** A client's id is kept when it is short and plain (it goes into headers and logs). */
export function saneRequestId(v: string | string[] | undefined): string | null {
  return typeof v === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : null;
}

export function newRequestId(): string {
  return `req-${randomBytes(9).toString("base64url")}`;
}

export class InFlight {
  readonly started = performance.now();
  private readonly controller = new AbortController();
  private readonly lastToken = new Map<number, number>();

  constructor(
    readonly id: string,
    readonly res: ServerResponse,
    private readonly metrics: ServerMetrics,
  ) {
    registry.set(res, this);
  }

  /** Fires when the request's work must stop; `reason` says why. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Prompt tokens a request admitted for generation. */
  prompt(tokens: number): void {
    this.metrics.prompt(tokens);
  }

  /** A generated token of choice `index` (for time to first token and inter-token latency). */
  token(index: number): void {
    const now = performance.now();
    const last = this.lastToken.get(index);
    this.metrics.token(last === undefined, (now - (last ?? this.started)) / 1000);
    this.lastToken.set(index, now);
  }
}

export function inFlightOf(res: ServerResponse): InFlight | undefined {
  return registry.get(res);
}
