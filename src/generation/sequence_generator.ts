/**
 * One sequence's generation as a state machine, so that a caller can drive many sequences
 * through one batched `model.forward` (continuous batching in the server) or one alone
 * (`generate`, the CLI):
 *
 *   const g = new SequenceGenerator(model, tokenizer, promptIds, options);
 *   while (!g.done) {
 *     const [logits] = await model.forward([{ ids: g.nextInput()!, cache: g.cache }], { into: [g.logitsBuffer] });
 *     const event = g.accept(logits);      // sampled id, text now safe to show, done?
 *   }
 *
 * or, for several sequences at once, `stepBatch(model, generators)`.
 *
 * The first input is the prompt (minus any prefix already in a reused cache): one prefill
 * call. Each later input is the single token sampled last. The cache belongs to the
 * generator unless the caller passed one in (then the caller keeps it, for prefix reuse).
 */
import { InvalidArgumentError } from "../errors.js";
import type { CausalLM, ForwardItem, SequenceCache } from "../models/causal_lm.js";
import type { AdapterChoice } from "../models/lora.js";
import type { StreamDecoder, TextTokenizer } from "../tokenizer/types.js";
import { responseFormatConstraint, type ResponseFormat } from "./constraints/response_format.js";
import type { LogitsProcessor } from "./logits_processors.js";
import { Sampler, type SamplingOptions, type TokenLogprob } from "./sampler.js";
import { StopStringMatcher, collectEosIds, type FinishReason } from "./stopping.js";

/** Used when neither the caller nor generation_config.json sets max_new_tokens. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

export interface GenerationOptions extends SamplingOptions {
  /** Most tokens to generate (EOS included). Default {@link DEFAULT_MAX_NEW_TOKENS}. */
  readonly maxNewTokens?: number;
  /** Strings that end generation; they are not part of the returned text. */
  readonly stop?: string | readonly string[];
  /**
   * Ids that end generation. Default: the tokenizer's (see `collectEosIds`); `fromPretrained`
   * returns the full union with the configs as `eosIds`.
   */
  readonly eosIds?: readonly number[];
  /** Keep going past EOS ids (benchmarks). */
  readonly ignoreEos?: boolean;
  /** Ends generation with finish reason "abort" at the next step. */
  readonly signal?: AbortSignal;
  /** Leave special tokens out of the text (default true, as HF pipelines decode). */
  readonly skipSpecialTokens?: boolean;
  /** Extra processors (constrained decoding, bans), run before the warpers. */
  readonly logitsProcessors?: readonly LogitsProcessor[];
  /**
   * OpenAI's `response_format`: `{type: "json_object"}` or `{type: "json_schema",
   * json_schema: {schema}}` constrains the output to JSON (see generation/constraints/).
   */
  readonly responseFormat?: ResponseFormat;
  /** Tool definitions passed to the chat template (chat input to `generate`/`stream` only). */
  readonly tools?: readonly unknown[];
  /** Extra chat template variables (chat input to `generate`/`stream` only). */
  readonly templateVariables?: Readonly<Record<string, unknown>>;
  /**
   * A cache to reuse. The caller guarantees that its first `cache.length` tokens are the
   * first tokens of this prompt (a shared prefix); only the rest is computed. The caller
   * keeps ownership: the generator never disposes it.
   */
  readonly cache?: SequenceCache;
  /** Capacity of a cache the generator creates. Default: prompt + maxNewTokens, capped at the model's context. */
  readonly contextLength?: number;
  /** Do not dispose a cache the generator created when it finishes (read it from `.cache`). */
  readonly keepCache?: boolean;
  /**
   * Run a long prompt in pieces of at most this many tokens, one piece per step, so that in
   * a batch other sequences keep decoding meanwhile. Default: the whole prompt in one call.
   */
  readonly prefillChunk?: number;
  /**
   * LoRA adapters loaded for this model (`loadAdapter`), applied to this sequence with their
   * scale multipliers. A reused `cache` must have been filled with the same adapters.
   */
  readonly adapters?: readonly AdapterChoice[];
}

/** What one step produced. */
export interface TokenEvent {
  /** The sampled id; null for a step that sampled nothing (a prefill chunk, an abort). */
  readonly id: number | null;
  /** Text that became safe to show with this step (may be empty). */
  readonly text: string;
  readonly logprob?: number;
  readonly topLogprobs?: readonly TokenLogprob[];
  readonly done: boolean;
  readonly finishReason: FinishReason | null;
}

export interface GenerationUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

export interface GenerationTimings {
  /** Prompt tokens actually computed (a reused prefix is not counted). */
  readonly prefillTokens: number;
  readonly prefillMs: number;
  /** Tokens produced by decode steps (all but the first). */
  readonly decodeTokens: number;
  readonly decodeMs: number;
  readonly timeToFirstTokenMs: number;
  readonly totalMs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
}

export interface TokenLogprobs {
  readonly id: number;
  readonly logprob: number;
  readonly topLogprobs?: readonly TokenLogprob[];
}

export interface GenerationResult {
  readonly text: string;
  /** Generated ids, the final EOS id included when generation stopped on one. */
  readonly ids: number[];
  readonly finishReason: FinishReason;
  /** The EOS id or stop string that ended generation, when finishReason is "stop". */
  readonly stoppedBy?: { readonly eosId: number } | { readonly stop: string };
  readonly usage: GenerationUsage;
  readonly timings: GenerationTimings;
  /** The sampler's seed (given or drawn), to replay the run. */
  readonly seed: number;
  /** Per generated token, when `logprobs`/`topLogprobs` was asked for. */
  readonly logprobs?: readonly TokenLogprobs[];
}

/** The prompt does not fit the context (the server maps this to HTTP 400). */
export class ContextOverflowError extends InvalidArgumentError {
  constructor(
    readonly promptTokens: number,
    readonly contextLength: number,
  ) {
    super(`the prompt has ${promptTokens} tokens but the context holds at most ${contextLength}`);
  }
}

function now(): number {
  return performance.now();
}

/**
 * How long (ms) a batch step samples its sequences' tokens before it lets the event loop run:
 * sampling one token with logprobs over a 152k vocabulary takes milliseconds, and a server's
 * batch of 16 such sequences would otherwise hold /health and every other stream for ~80 ms.
 */
export const SAMPLE_SLICE_MS = 8;

/** Lets timers, sockets and signals run (setImmediate where the runtime has it). */
export function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

export class SequenceGenerator {
  readonly promptIds: Int32Array;
  readonly sampler: Sampler;
  readonly maxNewTokens: number;
  readonly eosIds: ReadonlySet<number>;
  private readonly ownsCache: boolean;
  private _cache: SequenceCache;
  private readonly decoder: StreamDecoder;
  private readonly stops: StopStringMatcher;
  private readonly generated: number[] = [];
  private readonly tokenLogprobs: TokenLogprobs[] = [];
  private text = "";
  private _finishReason: FinishReason | null = null;
  private stoppedBy: GenerationResult["stoppedBy"];
  private disposed = false;
  /** Prompt tokens still to run; after the prefill, the id sampled last. */
  private pending: Int32Array;
  private readonly prefillTokens: number;
  // Timings (ms, performance.now()).
  private readonly startedAt = now();
  private stepStartedAt = 0;
  /** Start of the step in progress; a chunked prefill spans several calls. */
  private pendingStepStart = -1;
  private prefillMs = 0;
  private decodeMs = 0;
  private firstTokenAt = 0;
  private endedAt = 0;
  private _logitsBuffer: Float32Array | null = null;

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: TextTokenizer,
    promptIds: ArrayLike<number>,
    readonly options: GenerationOptions = {},
  ) {
    const n = promptIds.length;
    if (n === 0) throw new InvalidArgumentError("the prompt is empty: at least one token is needed to predict the next");
    this.promptIds = Int32Array.from(promptIds);
    for (let i = 0; i < n; i++) {
      const id = this.promptIds[i]!;
      if (id < 0 || id >= model.vocabSize)
        throw new InvalidArgumentError(`prompt token ${i} is id ${id}, outside the model's vocabulary [0, ${model.vocabSize})`);
    }
    const maxNew = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    if (!Number.isInteger(maxNew) || maxNew < 0) throw new InvalidArgumentError(`maxNewTokens must be an integer >= 0, got ${maxNew}`);
    const chunk = options.prefillChunk;
    if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1))
      throw new InvalidArgumentError(`prefillChunk must be a positive integer, got ${chunk}`);
    this.eosIds = new Set(options.ignoreEos ? [] : (options.eosIds ?? collectEosIds({ tokenizer })));
    const constraint = options.responseFormat
      ? responseFormatConstraint(options.responseFormat, tokenizer, model.vocabSize, [...this.eosIds])
      : null;
    // Validates the sampling options, before any cache memory is taken.
    this.sampler = new Sampler(
      model.vocabSize,
      options,
      constraint ? [...(options.logitsProcessors ?? []), constraint] : (options.logitsProcessors ?? []),
    );
    this.sampler.setPrompt(this.promptIds);

    if (options.cache) {
      this._cache = options.cache;
      this.ownsCache = false;
    } else {
      const want = options.contextLength ?? Math.min(model.maxContext, n + maxNew);
      if (!Number.isInteger(want) || want < 1) throw new InvalidArgumentError(`contextLength must be a positive integer, got ${want}`);
      if (n > want || n > model.maxContext) throw new ContextOverflowError(n, Math.min(want, model.maxContext));
      this._cache = model.createCache(want);
      this.ownsCache = true;
    }
    const capacity = this._cache.capacity;
    if (n > capacity) throw new ContextOverflowError(n, capacity);
    // The prompt's last token must be run to get logits, so a fully cached prompt is rewound by one.
    if (this._cache.length >= n) this._cache.truncate(n - 1);
    this.pending = this.promptIds.slice(this._cache.length);
    this.prefillTokens = this.pending.length;
    // The first new token needs no cache slot; each later one needs the slot of the one before.
    this.maxNewTokens = Math.min(maxNew, capacity - n + 1);

    this.decoder = tokenizer.createStreamDecoder({ skipSpecialTokens: options.skipSpecialTokens ?? true });
    const stop = options.stop === undefined ? [] : typeof options.stop === "string" ? [options.stop] : options.stop;
    this.stops = new StopStringMatcher(stop);
    if (this.maxNewTokens === 0) this.finish("length");
  }

  get cache(): SequenceCache {
    return this._cache;
  }

  /** The ids the cache holds: the prompt and the generated ids, less the input not yet run. */
  get cachedIds(): Int32Array {
    const all = new Int32Array(this.promptIds.length + this.generated.length);
    all.set(this.promptIds);
    all.set(this.generated, this.promptIds.length);
    return all.subarray(0, all.length - this.pending.length);
  }

  /**
   * Continues on another cache that holds exactly `cachedIds` (a server that took this
   * sequence's cache for another sequence recomputed them into a new one). Only for a cache
   * the caller supplied; the old one is the caller's to reuse.
   */
  moveTo(cache: SequenceCache): void {
    if (this.ownsCache) throw new InvalidArgumentError("moveTo(): the generator owns its cache; pass `cache` in the options to manage it");
    const held = this.promptIds.length + this.generated.length - this.pending.length;
    if (cache.length !== held)
      throw new InvalidArgumentError(`moveTo(): the cache holds ${cache.length} tokens, the sequence needs ${held}`);
    if (cache.capacity < this._cache.capacity)
      throw new InvalidArgumentError(
        `moveTo(): the cache holds at most ${cache.capacity} tokens, fewer than the ${this._cache.capacity} of the current one`,
      );
    this._cache = cache;
  }

  get done(): boolean {
    return this._finishReason !== null;
  }

  get finishReason(): FinishReason | null {
    return this._finishReason;
  }

  /** Ids generated so far. */
  get generatedIds(): readonly number[] {
    return this.generated;
  }

  /** Text released so far (never part of a stop string). */
  get outputText(): string {
    return this.text;
  }

  /** True when the caller's signal has fired and the sequence is not finished yet. */
  get abortRequested(): boolean {
    return !this.done && (this.options.signal?.aborted ?? false);
  }

  /** The ids to run next: the uncached prompt first, then the last sampled id; null when done. */
  nextInput(): Int32Array | null {
    if (this.done) return null;
    if (this.pendingStepStart < 0) this.pendingStepStart = now();
    this.stepStartedAt = this.pendingStepStart;
    const chunk = this.options.prefillChunk;
    return chunk !== undefined && this.pending.length > chunk ? this.pending.subarray(0, chunk) : this.pending;
  }

  /**
   * An array of the model's vocabulary size for `forward({ into })`, reused every step (the
   * sampler copies what it needs, so the logits are free to be overwritten after accept()).
   */
  get logitsBuffer(): Float32Array {
    return (this._logitsBuffer ??= new Float32Array(this.model.vocabSize));
  }

  /** Takes the logits of the last input token, samples, and updates the stop state. */
  accept(logits: Float32Array): TokenEvent {
    if (this.done) throw new InvalidArgumentError("accept() called on a finished sequence");
    const chunk = this.options.prefillChunk;
    if (chunk !== undefined && this.pending.length > chunk) {
      // A prompt piece went through; its logits are not needed until the last piece.
      this.pending = this.pending.subarray(chunk);
      return { id: null, text: "", done: false, finishReason: null };
    }
    this.pendingStepStart = -1;
    const first = this.generated.length === 0;
    const sampled = this.sampler.sample(logits);
    const id = sampled.id;
    this.generated.push(id);
    if (sampled.logprob !== undefined) {
      this.tokenLogprobs.push(
        sampled.topLogprobs ? { id, logprob: sampled.logprob, topLogprobs: sampled.topLogprobs } : { id, logprob: sampled.logprob },
      );
    }
    let text = "";
    let reason: FinishReason | null = null;
    if (this.eosIds.has(id)) {
      reason = "stop";
      this.stoppedBy = { eosId: id };
    } else {
      const match = this.stops.push(this.decoder.push(id));
      text = match.text;
      if (match.stopped) {
        reason = "stop";
        this.stoppedBy = { stop: match.stop! };
      } else if (this.generated.length >= this.maxNewTokens) {
        reason = "length";
      }
    }
    const t = now();
    if (first) {
      this.prefillMs += t - this.stepStartedAt;
      this.firstTokenAt = t;
    } else {
      this.decodeMs += t - this.stepStartedAt;
    }
    this.text += text;
    this.pending = Int32Array.of(id);
    if (reason !== null) text += this.finish(reason);
    const extra =
      sampled.logprob === undefined
        ? {}
        : sampled.topLogprobs
          ? { logprob: sampled.logprob, topLogprobs: sampled.topLogprobs }
          : { logprob: sampled.logprob };
    return { id, text, ...extra, done: this.done, finishReason: this._finishReason };
  }

  /**
   * Ends the sequence (no-op when already finished) and returns the text still held back:
   * incomplete UTF-8 (as U+FFFD) and a tail that was only a possible stop-string prefix.
   * A stop string's own text is never returned.
   */
  finish(reason: FinishReason): string {
    if (this.done) return "";
    this._finishReason = reason;
    this.endedAt = now();
    let rest = "";
    if (reason !== "stop" || this.stoppedBy === undefined || "eosId" in this.stoppedBy) {
      const tail = this.stops.push(this.decoder.flush());
      rest = tail.text + (tail.stopped ? "" : this.stops.flush());
      if (tail.stopped && reason !== "abort") {
        this._finishReason = "stop";
        this.stoppedBy = { stop: tail.stop! };
      }
    }
    this.text += rest;
    if (this.ownsCache && !this.options.keepCache) this.dispose();
    return rest;
  }

  /** Releases the cache if the generator created it. Safe to call twice. */
  dispose(): void {
    if (this.disposed || !this.ownsCache) return;
    this.disposed = true;
    this._cache.dispose();
  }

  /** The outcome; call once `done`. */
  result(): GenerationResult {
    if (!this.done) throw new InvalidArgumentError("result() called before the sequence finished");
    const completion = this.generated.length;
    const decodeTokens = Math.max(0, completion - 1);
    const timings: GenerationTimings = {
      prefillTokens: this.prefillTokens,
      prefillMs: this.prefillMs,
      decodeTokens,
      decodeMs: this.decodeMs,
      timeToFirstTokenMs: this.firstTokenAt > 0 ? this.firstTokenAt - this.startedAt : 0,
      totalMs: this.endedAt - this.startedAt,
      prefillTokensPerSecond: this.prefillMs > 0 && completion > 0 ? (this.prefillTokens * 1000) / this.prefillMs : 0,
      decodeTokensPerSecond: this.decodeMs > 0 ? (decodeTokens * 1000) / this.decodeMs : 0,
    };
    const base = {
      text: this.text,
      ids: [...this.generated],
      finishReason: this._finishReason!,
      usage: { promptTokens: this.promptIds.length, completionTokens: completion, totalTokens: this.promptIds.length + completion },
      timings,
      seed: this.sampler.seed,
    };
    return {
      ...base,
      ...(this.stoppedBy ? { stoppedBy: this.stoppedBy } : {}),
      ...(this.tokenLogprobs.length > 0 ? { logprobs: [...this.tokenLogprobs] } : {}),
    };
  }
}

/**
 * One batched step over several sequences: every unfinished generator's next input goes
 * into a single `model.forward` call (prefills and decodes mixed), then each samples its
 * next token. Aborted generators finish with "abort" without running. Returns one event per
 * generator, in order; null for those that were already finished.
 */
export async function stepBatch(model: CausalLM, generators: readonly SequenceGenerator[]): Promise<(TokenEvent | null)[]> {
  const events: (TokenEvent | null)[] = generators.map(() => null);
  const running: number[] = [];
  const items: ForwardItem[] = [];
  generators.forEach((g, i) => {
    if (g.done) return;
    if (g.abortRequested) {
      const text = g.finish("abort");
      events[i] = { id: null, text, done: true, finishReason: "abort" };
      return;
    }
    const adapters = g.options.adapters;
    items.push({ ids: g.nextInput()!, cache: g.cache, ...(adapters && adapters.length > 0 ? { adapters } : {}) });
    running.push(i);
  });
  if (items.length === 0) return events;
  const logits = await model.forward(items, { into: running.map((gi) => generators[gi]!.logitsBuffer) });
  let slice = now();
  for (let k = 0; k < running.length; k++) {
    const gi = running[k]!;
    // A generator finished while the forward pass ran or the loop yielded (an abort) takes no token.
    if (!generators[gi]!.done) events[gi] = generators[gi]!.accept(logits[k]!);
    if (k + 1 < running.length && now() - slice >= SAMPLE_SLICE_MS) {
      await yieldToEventLoop();
      slice = now();
    }
  }
  return events;
}
