/**
 * What every generating request goes through, whatever its endpoint: an id and a creation
 * time, an abort signal fired when the client goes away, one scheduler sequence per choice
 * with its tokens counted, then either one JSON answer or a server-sent-event stream closed
 * by an optional usage chunk, and a single error path that aborts the other choices.
 *
 * /v1/chat/completions and /v1/completions differ only in what they put in a choice; they
 * say that in the callbacks they pass here.
 */
import { setMaxListeners } from "node:events";
import type { ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import { requestId, toApiError, type ServerContext } from "./context.js";
import { SseWriter, sendError, sendJson } from "./http_util.js";
import { inFlightOf, type InFlight } from "./in_flight.js";
import type { SequenceRequest } from "./scheduler.js";

export interface LifecycleOptions {
  /** Prefix of the response id ("chatcmpl", "cmpl"). */
  readonly idPrefix: string;
  /** `object` of stream chunks ("chat.completion.chunk", "text_completion"). */
  readonly chunkObject: string;
  /** How many sequences (choices) the request runs. */
  readonly choices: number;
  /** Prompt tokens as `usage` reports them. */
  readonly promptTokens: number;
  /** `stream_options.include_usage`: every chunk carries `usage` (null until the last). */
  readonly includeUsage: boolean;
  /** The request field a generation error is blamed on ("messages", "prompt"). */
  readonly errorParam: string;
}

export interface OpenAIUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export class RequestLifecycle {
  readonly id: string;
  readonly created = Math.floor(Date.now() / 1000);
  private readonly abort = new AbortController();
  private readonly completionTokens: number[];
  private remaining: number;
  private failed = false;
  private sse: SseWriter | null = null;
  private answer: (() => unknown) | null = null;
  private readonly flight: InFlight | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly res: ServerResponse,
    private readonly o: LifecycleOptions,
  ) {
    this.id = requestId(o.idPrefix);
    // Each choice's sequence listens on this one signal (the scheduler's cancel, the generator's
    // own): n = 16 choices are no leak, so Node's warning past 10 listeners does not apply.
    setMaxListeners(2 * o.choices + 10, this.abort.signal);
    this.completionTokens = new Array<number>(o.choices).fill(0);
    this.remaining = o.choices;
    // A client that leaves (streaming or not) frees its sequences at the next step.
    res.on("close", () => {
      if (!res.writableEnded) this.abort.abort();
    });
    // The server ends a request early (deadline, shutdown) through its in-flight record.
    this.flight = inFlightOf(res);
    this.flight?.signal.addEventListener("abort", () => this.abort.abort(), { once: true });
    res.on("drain", () => ctx.scheduler.wake());
  }

  get streaming(): boolean {
    return this.sse !== null;
  }

  /** A stream chunk with these choices. */
  chunk(choices: unknown[], usage?: OpenAIUsage): Record<string, unknown> {
    return {
      id: this.id,
      object: this.o.chunkObject,
      created: this.created,
      model: this.ctx.modelId,
      system_fingerprint: null,
      choices,
      ...(this.o.includeUsage ? { usage: usage ?? null } : {}),
    };
  }

  /** Sends a chunk with these choices when streaming; does nothing otherwise. */
  send(choices: unknown[]): void {
    this.sse?.send(this.chunk(choices));
  }

  usage(): OpenAIUsage {
    const completion = this.completionTokens.reduce((s, c) => s + c, 0);
    return { prompt_tokens: this.o.promptTokens, completion_tokens: completion, total_tokens: this.o.promptTokens + completion };
  }

  /**
   * The scheduler request of one choice. `onEvent` sees every event of a live request (not
   * after a failure); tokens are counted before it runs, and once every choice has finished
   * the answer goes out. A choice ended by the client leaving finishes nothing.
   */
  sequence(
    index: number,
    promptIds: readonly number[],
    options: SequenceRequest["options"],
    onEvent: (event: TokenEvent) => void,
  ): SequenceRequest {
    return {
      promptIds,
      options,
      signal: this.abort.signal,
      onError: (err) => this.fail(err),
      // A stream whose socket buffer is full pauses its sequences until 'drain' (scheduler.ts).
      blocked: () => this.sse !== null && this.res.writableNeedDrain,
      onEvent: (event) => {
        if (this.failed) return;
        if (event.id !== null) {
          this.completionTokens[index]!++;
          this.flight?.token(index);
        }
        onEvent(event);
        if (!event.done || event.finishReason === "abort") return;
        if (--this.remaining === 0) this.complete();
      },
    };
  }

  /**
   * Queues the sequences (throws 429/503 before anything is written), then opens the stream
   * when asked, calling `opening` to send its first chunks. `answer` builds the JSON body of
   * a non-streamed response once every choice has finished.
   */
  submit(requests: SequenceRequest[], stream: boolean, answer: () => unknown, opening?: () => void): void {
    this.answer = answer;
    this.ctx.scheduler.submit(requests);
    this.flight?.prompt(this.o.promptTokens);
    if (stream) {
      this.sse = new SseWriter(this.res);
      opening?.();
    }
  }

  private complete(): void {
    if (this.sse) {
      if (this.o.includeUsage) this.sse.send(this.chunk([], this.usage()));
      this.sse.end();
      return;
    }
    sendJson(this.res, 200, this.answer!());
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.abort.abort();
    const apiErr = toApiError(err, this.o.errorParam);
    if (this.sse) this.sse.error(apiErr);
    else sendError(this.res, apiErr);
  }
}
