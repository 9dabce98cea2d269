/**
 * Continuous batching. Up to `parallel` sequences are active at once; each scheduler step
 * runs the next input of every active sequence (prompt prefills and single-token decodes
 * mixed) through ONE batched `model.forward` (gen's `stepBatch`), then hands every
 * sequence its event. A finished sequence leaves at once and a queued one takes its slot
 * at the next step, so short answers never wait for long ones. At most `maxQueue`
 * sequences wait; beyond that `submit` refuses (the HTTP layer answers 429).
 *
 * Long prompts are prefilled in chunks of at most `prefillChunk` tokens per step (one
 * sequence's chunk per step), so a long new prompt delays the running streams by one chunk
 * per step instead of by its whole length. The generator is created once the rest of the
 * prompt fits one chunk; its first input is that rest.
 *
 * Backpressure: a streaming request says when its client's socket is full (`blocked`). Such
 * a sequence is parked instead of stepped: it leaves its slot (a waiting request may take it)
 * and keeps its cache and generator; `wake()` (called on the socket's 'drain') puts it back at
 * the head of the queue. So a slow reader costs its cache, never tokens generated ahead into
 * memory, and never a slot others wait for. Parked sequences count against `maxQueue`.
 *
 * Fair share: the sequences of one `submit` (a request's `n` choices) form a group. While
 * another group is active or waiting, a group decodes at most `sharedChoiceSlots` (default 1)
 * of its sequences at once; alone it takes every slot. On the wasm backend a step's time grows
 * almost linearly with its batch (four sequences cost ~3.3× one), so a request for 16
 * choices sharing every step with a one-choice stream cut that stream's rate to a third,
 * while decoding the choices one at a time costs the server little throughput. Sequences
 * over the cap (and, when every slot is taken, one of the group holding the most slots, for a
 * waiting group holding none) go back to the queue with their cache and generator, ahead of
 * their group's unstarted sequences: a group resumes what it started before it takes a
 * cache for a new choice.
 *
 * Least-served first: each group counts the tokens its sequences have generated (its
 * service). While a group is more than `aheadTokens` (default 0) ahead of the least-served
 * group that is decoding, its sequences join only one batched step in `aheadStepInterval`
 * (default 4); its prompt chunks wait for those steps too. A step's time grows with its batch
 * (two sequences cost ~1.8× one on the wasm backend, 0.5B Q8_0), so a stream that has
 * already been served thousands of tokens (a long answer, a request for many choices, a
 * client reading 1 byte/s whose kernel buffers still take its output) would otherwise cut
 * a newcomer's rate to ~0.55×; demoted to one step in four it costs the newcomer ~20%, and
 * it runs at full speed again as soon as the newcomer catches up or leaves. Equal streams
 * stay equal and are batched every step; a sequence prefilling its prompt has no step to
 * speed up, so it demotes nobody. (Least attained
 * service, as in FastServe's skip-join MLFQ: short answers go first without knowing their
 * length in advance.)
 *
 * K/V budget: at most `kvCaches` caches (default `parallel` + 1) are alive at once, counting
 * running, parked and waiting sequences' and those kept for prefix reuse (prefix_pool.ts);
 * with `reserveKvCaches` all are allocated at construction, as llama.cpp allocates every
 * slot's cache at startup, so no load grows the backend's memory (the wasm backend's memory
 * never shrinks). A sequence that finds no cache takes a kept prefix's, else one from a
 * parked sequence (its client is not reading), else one from a waiting sequence of the group
 * holding the most caches; that sequence is preempted: its generator is kept, and when it
 * runs again its tokens are recomputed into a new cache (in prompt-sized chunks, as vLLM's
 * recompute preemption does). Otherwise it waits in the queue. With one cache beyond the
 * slots, a request for many choices that took every slot leaves a cache for the next
 * request, and no preemption happens in the common case.
 *
 * Cancellation: when a sequence's signal fires it is finished with "abort" and its cache is
 * disposed immediately (between steps, since a step is synchronous), or it is dropped from
 * the queue if it had not started.
 */
import type { CausalLM, SequenceCache } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import {
  SequenceGenerator,
  stepBatch,
  yieldToEventLoop,
  type GenerationOptions,
  type TokenEvent,
} from "../generation/sequence_generator.js";
import { errors } from "./errors.js";
import { PrefixPool } from "./prefix_pool.js";
import { adapterKey } from "./adapters.js";

export interface SequenceRequest {
  readonly promptIds: readonly number[];
  /** Everything but `cache`, which the scheduler supplies. */
  readonly options: Omit<GenerationOptions, "cache" | "signal" | "keepCache">;
  readonly signal: AbortSignal;
  /** Every step's event (text may be empty); the last one has `done`. */
  onEvent(event: TokenEvent): void;
  /** The sequence could not start or the model failed. */
  onError(err: Error): void;
  /** True while the client cannot take more output (its socket buffer is full): the sequence is parked. */
  blocked?(): boolean;
}

/** The sequences of one submit call (one HTTP request's choices). */
class Group {
  /** Tokens generated by the group's sequences so far (least-served first). */
  served = 0;
}

/** A waiting sequence; a `resumed` one had started (parked or yielded) and comes back with its cache and generator. */
interface Queued {
  readonly request: SequenceRequest;
  readonly group: Group;
  detach: () => void;
  readonly resumed?: Active;
}

interface Active {
  readonly request: SequenceRequest;
  readonly group: Group;
  /** Null while the prompt is still being prefilled in chunks. */
  generator: SequenceGenerator | null;
  /** Null while preempted (another sequence took it): the next admission gives it one. */
  cache: SequenceCache | null;
  /** The ids a preempted generator's new cache must be given before it steps again (`generator.cachedIds`). */
  refill: Int32Array | null;
  readonly detach: () => void;
}

export interface SchedulerOptions {
  readonly parallel: number;
  readonly maxQueue: number;
  /** Capacity of each sequence's cache. */
  readonly contextLength: number;
  /** Finished caches kept for prefix reuse (default: `parallel`). */
  readonly prefixCacheEntries?: number;
  /** Most prompt tokens prefilled per sequence per step before generation starts (default 512). */
  readonly prefillChunk?: number;
  /** Most sequences of one group (a request's choices) decoding at once while another group is active or waiting (default 1). */
  readonly sharedChoiceSlots?: number;
  /** How far (in generated tokens) a group may be ahead of the least-served decoding group before it is demoted (default 0). */
  readonly aheadTokens?: number;
  /** A demoted group's sequences join one batched step in this many (default 4; 1: every step, no demotion). */
  readonly aheadStepInterval?: number;
  /** Most K/V caches alive at once (default `parallel` + 1). */
  readonly kvCaches?: number;
  /** Allocate every cache of the budget now and keep released ones as spares (default false: create on demand, free on release). */
  readonly reserveKvCaches?: boolean;
}

export interface SchedulerStats {
  readonly active: number;
  readonly queued: number;
  /** Sequences parked because their client reads slower than they generate. */
  readonly paused: number;
  readonly cachedPrefixes: number;
  readonly reusedPromptTokens: number;
  readonly steps: number;
  readonly maxBatch: number;
  /** Times a sequence gave up its slot to another group (fair share: over its group's cap, or to a group holding none). */
  readonly yielded: number;
  /** Steps that left out the sequences of a group far ahead in service (least-served first). */
  readonly demotedSteps: number;
  /** K/V caches alive (in use, kept for a prefix, spare) and the most allowed. */
  readonly kvCaches: number;
  readonly kvCacheBudget: number;
  /** Times a waiting or parked sequence's cache went to another sequence (recomputed when it resumes). */
  readonly preempted: number;
}

export class Scheduler {
  /** Waiting sequences. */
  private readonly queue: Queued[] = [];
  private readonly active: Active[] = [];
  private readonly parked: Active[] = [];
  private readonly pool: PrefixPool;
  /** Work that needs the model to itself (scoring a prompt), run between steps. */
  private readonly tasks: (() => Promise<void>)[] = [];
  private running = false;
  private closed = false;
  private steps = 0;
  private maxBatch = 0;
  private yielded = 0;
  private demotedSteps = 0;
  private preempted = 0;
  /**
   * Caches of sequences cancelled while a forward pass that uses them is in flight (a GPU
   * backend still reads them): freed once it resolves.
   */
  private readonly inFlight = new Set<SequenceCache>();
  private readonly freeAfterStep: SequenceCache[] = [];

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: TextTokenizer,
    readonly options: SchedulerOptions,
  ) {
    const budget = Math.max(1, options.kvCaches ?? options.parallel + 1);
    this.pool = new PrefixPool(model, options.contextLength, options.prefixCacheEntries ?? options.parallel, budget);
    if (options.reserveKvCaches) this.pool.reserve();
  }

  stats(): SchedulerStats {
    return {
      active: this.active.length,
      queued: this.queue.length,
      paused: this.parked.length,
      cachedPrefixes: this.pool.size,
      reusedPromptTokens: this.pool.reusedTokens,
      steps: this.steps,
      maxBatch: this.maxBatch,
      yielded: this.yielded,
      demotedSteps: this.demotedSteps,
      kvCaches: this.pool.live,
      kvCacheBudget: this.pool.budget,
      preempted: this.preempted,
    };
  }

  /** Queues sequences (all or none: a request's `n` choices are admitted together). */
  submit(requests: readonly SequenceRequest[]): void {
    if (this.closed) throw errors.unavailable("The server is shutting down.");
    const free = Math.max(0, this.options.parallel - this.active.length);
    if (this.queue.length + this.parked.length + requests.length - free > this.options.maxQueue)
      throw errors.queueFull(this.options.maxQueue);
    const group = new Group();
    for (const request of requests) {
      const entry = { request, group, detach: () => {} };
      const onAbort = (): void => this.cancel(request);
      request.signal.addEventListener("abort", onAbort, { once: true });
      entry.detach = () => request.signal.removeEventListener("abort", onAbort);
      this.queue.push(entry);
    }
    // Never step inside submit: the caller sets up its response before the first event.
    setImmediate(() => void this.run());
  }

  /**
   * Runs `task` between two steps, with the model to itself: model calls never overlap, and a
   * task (a prompt's scoring pass, say) need not know what the batch is doing.
   */
  exclusive<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(errors.unavailable("The server is shutting down."));
    if (this.tasks.length >= this.options.maxQueue) return Promise.reject(errors.queueFull(this.options.maxQueue));
    return new Promise<T>((resolve, reject) => {
      this.tasks.push(async () => {
        try {
          resolve(await task());
        } catch (err) {
          reject(err);
        }
      });
      setImmediate(() => void this.run());
    });
  }

  /**
   * One forward pass of one token on a cache of the pool, then the cache goes back empty: the
   * backend zero-fills the reserved caches (queued when they were made) and sets up its
   * buffers now rather than during the first request.
   */
  warmUp(): Promise<void> {
    return this.exclusive(async () => {
      const cache = this.pool.acquire([]);
      if (!cache) return;
      try {
        await this.model.forward([{ ids: Int32Array.of(0), cache }]);
      } finally {
        this.pool.release(cache);
      }
    });
  }

  /** Parked sequences whose client can take output again go back to the head of the queue. */
  wake(): void {
    const ready = this.parked.filter((a) => !a.request.blocked?.());
    if (ready.length === 0) return;
    for (const a of ready) this.parked.splice(this.parked.indexOf(a), 1);
    this.queue.unshift(...ready.map((a) => ({ request: a.request, group: a.group, detach: a.detach, resumed: a })));
    setImmediate(() => void this.run());
  }

  /** Stops everything: queued and active sequences end with "abort", caches are freed. */
  close(): void {
    this.closed = true;
    for (const q of this.queue.splice(0)) {
      q.detach();
      if (q.resumed?.cache) this.release(q.resumed.cache);
    }
    for (const a of [...this.active.splice(0), ...this.parked.splice(0)]) {
      a.detach();
      a.generator?.finish("abort");
      if (a.cache) this.release(a.cache);
    }
    this.pool.clear();
  }

  private cancel(request: SequenceRequest): void {
    const qi = this.queue.findIndex((q) => q.request === request);
    let a: Active | undefined;
    if (qi >= 0) {
      const [q] = this.queue.splice(qi, 1);
      if (!q!.resumed) {
        q!.detach();
        return;
      }
      a = q!.resumed;
    } else {
      const list = this.active.some((x) => x.request === request) ? this.active : this.parked;
      const ai = list.findIndex((x) => x.request === request);
      if (ai < 0) return;
      [a] = list.splice(ai, 1);
    }
    a!.detach();
    const text = a!.generator?.finish("abort") ?? "";
    if (a!.cache) this.release(a!.cache);
    try {
      request.onEvent({ id: null, text, done: true, finishReason: "abort" });
    } catch {
      // The client is gone; nothing to tell it.
    }
  }

  /**
   * Starts waiting sequences while slots are free and caches can be had, letting the event
   * loop run between two of them (a cache made on demand is an allocation on this thread).
   * Once a sequence finds no cache, only sequences that hold one may start.
   */
  private async admit(): Promise<void> {
    this.capGroups();
    let cachesLeft = true;
    for (;;) {
      // The first waiting sequence whose group is under its cap (parked and capped ones wait).
      const qi = this.queue.findIndex(
        (q) => this.held(q.group) < this.capOf(q.group) && (cachesLeft || (q.resumed?.cache ?? null) !== null),
      );
      if (qi < 0) break;
      if (this.active.length >= this.options.parallel && !this.yieldSlot(this.queue[qi]!.group)) break;
      const q = this.queue[qi]!;
      if (q.resumed?.cache) {
        this.queue.splice(this.queue.indexOf(q), 1);
        this.active.push(q.resumed);
        continue;
      }
      const { request, group, detach, resumed } = q;
      const ids = resumed?.refill ?? request.promptIds;
      const key = adapterKey(request.options.adapters);
      let cache = this.pool.acquire(ids, key);
      if (!cache && this.reclaim(group)) cache = this.pool.acquire(ids, key);
      if (!cache) {
        cachesLeft = false;
        continue;
      }
      this.queue.splice(this.queue.indexOf(q), 1);
      try {
        const a: Active = resumed ?? { request, group, generator: null, cache, refill: null, detach };
        a.cache = cache;
        if (a.refill) this.endRefill(a, cache);
        if (!a.generator && this.remaining(a) <= this.chunk) a.generator = this.generatorFor(a);
        this.active.push(a);
      } catch (err) {
        if (resumed) resumed.cache = null;
        this.release(cache);
        detach();
        request.onError(err as Error);
      }
      await yieldToEventLoop();
    }
  }

  /** K/V caches the group's sequences hold (running, parked or waiting). */
  private cachesOf(group: Group): number {
    let n = 0;
    for (const a of [...this.active, ...this.parked]) if (a.group === group && a.cache) n++;
    for (const q of this.queue) if (q.group === group && q.resumed?.cache) n++;
    return n;
  }

  /**
   * Frees one cache for `group`, whose sequence found none: a parked sequence's (the client
   * that stopped reading first), else a waiting started sequence's of the group holding the
   * most caches, if that group would still hold more than `group`. The victim keeps its
   * generator and recomputes its tokens when it runs again. False when none may be taken.
   */
  private reclaim(group: Group): boolean {
    let victim = this.parked.find((a) => a.cache !== null);
    if (!victim) {
      let most = this.cachesOf(group) + 1;
      for (const q of this.queue) {
        if (!q.resumed?.cache || q.group === group) continue;
        const n = this.cachesOf(q.group);
        if (n > most) {
          most = n;
          victim = q.resumed;
        }
      }
    }
    if (!victim) return false;
    victim.refill = victim.generator ? victim.generator.cachedIds : null;
    this.pool.release(victim.cache!);
    victim.cache = null;
    this.preempted++;
    return true;
  }

  /** Slots `group` holds. */
  private held(group: Group): number {
    let n = 0;
    for (const a of this.active) if (a.group === group) n++;
    return n;
  }

  /** How many of `group`'s sequences may decode at once: every slot alone, `sharedChoiceSlots` beside another group. */
  private capOf(group: Group): number {
    const shared = this.active.some((a) => a.group !== group) || this.queue.some((q) => q.group !== group);
    return shared ? Math.max(1, this.options.sharedChoiceSlots ?? 1) : this.options.parallel;
  }

  /** Sends each group's sequences beyond its cap back to the queue (newest first), cache and generator kept. */
  private capGroups(): void {
    for (let i = this.active.length - 1; i >= 0; i--) {
      const a = this.active[i]!;
      if (this.held(a.group) <= this.capOf(a.group)) continue;
      this.active.splice(i, 1);
      this.requeue(a);
      this.yielded++;
    }
  }

  /** Puts a started sequence back in the queue ahead of its group's unstarted ones. */
  private requeue(a: Active): void {
    const entry: Queued = { request: a.request, group: a.group, detach: a.detach, resumed: a };
    const at = this.queue.findIndex((q) => q.group === a.group && !q.resumed);
    if (at < 0) this.queue.push(entry);
    else this.queue.splice(at, 0, entry);
  }

  /**
   * When every slot is taken and a sequence of `waiting`'s group may start: if that group holds
   * no slot and some group holds two or more, that group's newest active sequence goes back to
   * the queue. False when no slot is owed.
   */
  private yieldSlot(waiting: Group): boolean {
    if (this.held(waiting) > 0) return false;
    const held = new Map<Group, Active[]>();
    for (const a of this.active) held.set(a.group, [...(held.get(a.group) ?? []), a]);
    let most: Active[] = [];
    for (const list of held.values()) if (list.length > most.length) most = list;
    if (most.length < 2) return false;
    const victim = most.at(-1)!;
    this.active.splice(this.active.indexOf(victim), 1);
    this.requeue(victim);
    this.yielded++;
    return true;
  }

  private get chunk(): number {
    return Math.max(1, this.options.prefillChunk ?? 512);
  }

  /** A preempted sequence whose new cache holds all it had goes back to its generator. */
  private endRefill(a: Active, cache: SequenceCache): void {
    if (cache.length < a.refill!.length) return;
    a.generator!.moveTo(cache);
    a.refill = null;
  }

  /** Prompt tokens not yet in the sequence's cache. */
  private remaining(a: Active): number {
    return a.request.promptIds.length - a.cache!.length;
  }

  private generatorFor(a: Active): SequenceGenerator {
    return new SequenceGenerator(this.model, this.tokenizer, a.request.promptIds, {
      ...a.request.options,
      cache: a.cache!,
      signal: a.request.signal,
    });
  }

  /**
   * One chunk of one long prompt or of a preempted sequence's recomputation (the oldest
   * waiting), logits discarded; a prompt whose rest fits a chunk gets its generator, a
   * recomputed cache goes back to its generator.
   */
  private async prefillStep(eligible: (a: Active) => boolean): Promise<void> {
    const a = this.active.find((x) => (x.generator === null || x.refill !== null) && eligible(x));
    if (!a) return;
    const cache = a.cache!;
    const start = cache.length;
    const ids = a.refill
      ? a.refill.slice(start, start + this.chunk)
      : Int32Array.from(a.request.promptIds.slice(start, start + this.chunk));
    try {
      const adapters = a.request.options.adapters;
      const item = { ids, cache, ...(adapters && adapters.length > 0 ? { adapters } : {}) };
      await this.inFlightWith([cache], () => this.model.forward([item]));
      if (!this.active.includes(a)) return; // cancelled meanwhile
      if (a.refill) this.endRefill(a, cache);
      else if (this.remaining(a) <= this.chunk) a.generator = this.generatorFor(a);
    } catch (err) {
      this.retire(a, false);
      a.request.onError(err as Error);
    }
  }

  /** Runs a forward pass over `caches`, marking them in use so a cancel defers freeing them. */
  private async inFlightWith<T>(caches: readonly SequenceCache[], run: () => Promise<T>): Promise<T> {
    for (const c of caches) this.inFlight.add(c);
    try {
      return await run();
    } finally {
      for (const c of caches) this.inFlight.delete(c);
      for (const c of this.freeAfterStep.splice(0)) this.pool.release(c);
    }
  }

  /** Gives a cache back to the pool now, or after the forward pass that is using it. */
  private release(cache: SequenceCache): void {
    if (this.inFlight.has(cache)) this.freeAfterStep.push(cache);
    else this.pool.release(cache);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        while (this.tasks.length > 0) await this.tasks.shift()!();
        this.park();
        await this.admit();
        if (this.active.length === 0) {
          if (this.tasks.length === 0) break;
          continue;
        }
        await this.step();
        await yieldToEventLoop();
      }
    } finally {
      this.running = false;
    }
  }

  /** Moves sequences whose client is not reading out of the active set, freeing their slots. */
  private park(): void {
    for (const a of this.active.filter((x) => x.generator !== null && x.refill === null && x.request.blocked?.())) {
      this.active.splice(this.active.indexOf(a), 1);
      this.parked.push(a);
    }
  }

  /**
   * Which active sequences this step leaves out: those of groups more than `aheadTokens`
   * ahead of the least-served active group, except on every `aheadStepInterval`-th step.
   */
  private demoted(): (a: Active) => boolean {
    const interval = Math.max(1, this.options.aheadStepInterval ?? 4);
    if (interval === 1 || this.steps % interval === interval - 1) return () => false;
    // Least-served among the sequences ready to decode: a prompt being prefilled has no step to speed up.
    let least = Number.POSITIVE_INFINITY;
    for (const a of this.active) if (this.decoding(a)) least = Math.min(least, a.group.served);
    const limit = least + Math.max(0, this.options.aheadTokens ?? 0);
    return (a) => a.group.served > limit;
  }

  /** Ready for a batched step: its generator exists and its cache is whole. */
  private decoding(a: Active): boolean {
    return a.generator !== null && a.refill === null;
  }

  private async step(): Promise<void> {
    this.park();
    const demoted = this.demoted();
    await this.prefillStep((a) => !demoted(a));
    this.park();
    const runnable = this.active.filter((a) => this.decoding(a));
    let batch = runnable.filter((a) => !demoted(a));
    // The least-served sequences were parked meanwhile: nobody is left to give way to.
    if (batch.length === 0) batch = runnable;
    if (batch.length === 0) return;
    if (batch.length < runnable.length) this.demotedSteps++;
    let events: Awaited<ReturnType<typeof stepBatch>>;
    // Counted as it starts: /health answers while a step computes (the wasm backend runs it off
    // this thread), and a step already running when the last sequence stops must not show up later.
    this.steps++;
    try {
      events = await this.inFlightWith(
        batch.map((a) => a.cache!),
        () =>
          stepBatch(
            this.model,
            batch.map((a) => a.generator!),
          ),
      );
    } catch (err) {
      // A model failure fails every sequence of the batch, not the server.
      for (const a of batch) this.retire(a, false);
      for (const a of batch) a.request.onError(err as Error);
      return;
    }
    this.maxBatch = Math.max(this.maxBatch, batch.length);
    batch.forEach((a, i) => {
      const event = events[i];
      if (!event || !this.active.includes(a)) return;
      if (event.id !== null) a.group.served++;
      if (event.done) this.retire(a, event.finishReason !== "abort");
      try {
        a.request.onEvent(event);
      } catch (err) {
        if (!a.generator!.done) {
          a.generator!.finish("abort");
          this.retire(a, false);
        }
        a.request.onError(err as Error);
      }
    });
  }

  /** Removes a sequence from the active set; keeps its cache for reuse or frees it. */
  private retire(a: Active, keep: boolean): void {
    const i = this.active.indexOf(a);
    if (i < 0) return;
    this.active.splice(i, 1);
    a.detach();
    if (a.generator && !a.generator.done) a.generator.finish("abort");
    if (keep && a.generator)
      this.pool.put([...a.generator.promptIds, ...a.generator.generatedIds], a.cache!, adapterKey(a.request.options.adapters));
    else if (a.cache) this.release(a.cache);
  }
}
