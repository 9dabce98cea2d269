/**
 * Prometheus metrics in the text exposition format 0.0.4, served at GET /metrics.
 * Counters only grow; histograms have cumulative `le` buckets plus `_sum` and `_count`;
 * gauges are read from the scheduler when scraped. Names start with `qwen2_`.
 */

/** Latency buckets in seconds, from 1 ms to 1 min. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  sum = 0;
  count = 0;

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (v <= LATENCY_BUCKETS[i]!) this.counts[i]!++;
  }

  render(name: string, out: string[]): void {
    LATENCY_BUCKETS.forEach((le, i) => out.push(`${name}_bucket{le="${le}"} ${this.counts[i]}`));
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
  }
}

/** What the scheduler and HTTP layer report at scrape time. */
export interface LiveGauges {
  readonly queued: number;
  readonly active: number;
  readonly paused: number;
  readonly slots: number;
  readonly connections: number;
  readonly inFlight: number;
  /** Times a request holding several slots gave one to a request holding none (scheduler.ts, fair share). */
  readonly yielded: number;
  /** Steps that left out a request far ahead in service (scheduler.ts, least-served first). */
  readonly demotedSteps: number;
  /** K/V caches alive and the budget (--kv-caches); caches taken from waiting or paused sequences. */
  readonly kvCaches: number;
  readonly kvCacheBudget: number;
  readonly preempted: number;
  /** The process's memory by kind (Node's process.memoryUsage(): rss, heapTotal, heapUsed, external, arrayBuffers). */
  readonly memory?: Readonly<Record<string, number>>;
  /** Bytes held by the process-wide compiled-schema and token-mask caches. */
  readonly schemaCacheBytes: number;
  readonly maskCacheBytes: number;
}

/** Tokens/s over this window of recent seconds. */
const RATE_WINDOW_S = 10;

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private promptTokens = 0;
  private generatedTokens = 0;
  private readonly ttft = new Histogram();
  private readonly interToken = new Histogram();
  private readonly duration = new Histogram();
  /** Generated tokens per whole second (epoch s → count), for the recent rate. */
  private readonly perSecond = new Map<number, number>();

  request(route: string, status: number, seconds: number): void {
    const key = `route="${escapeLabel(route)}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.duration.observe(seconds);
  }

  /** An error answer, by its OpenAI `code` (or type when it has none). */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  prompt(tokens: number): void {
    this.promptTokens += tokens;
  }

  /** One generated token: `sinceStart` for a choice's first, `sincePrevious` for the rest (seconds). */
  token(first: boolean, seconds: number): void {
    this.generatedTokens++;
    (first ? this.ttft : this.interToken).observe(seconds);
    const now = Math.floor(Date.now() / 1000);
    this.perSecond.set(now, (this.perSecond.get(now) ?? 0) + 1);
    if (this.perSecond.size > RATE_WINDOW_S + 2) {
      for (const s of this.perSecond.keys()) if (s < now - RATE_WINDOW_S - 1) this.perSecond.delete(s);
    }
  }

  /** Generated tokens per second over the last RATE_WINDOW_S whole seconds. */
  tokensPerSecond(): number {
    const now = Math.floor(Date.now() / 1000);
    let n = 0;
    for (let s = now - RATE_WINDOW_S; s < now; s++) n += this.perSecond.get(s) ?? 0;
    return n / RATE_WINDOW_S;
  }

  render(g: LiveGauges): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family("qwen2_http_requests_total", "counter", "HTTP requests answered, by route and status.");
    for (const [labels, n] of this.requests) out.push(`qwen2_http_requests_total{${labels}} ${n}`);
    family("qwen2_http_request_duration_seconds", "histogram", "Time from a request's arrival to its last byte.");
    this.duration.render("qwen2_http_request_duration_seconds", out);
    family("qwen2_errors_total", "counter", "Error answers, by OpenAI error code.");
    for (const [code, n] of this.errors) out.push(`qwen2_errors_total{code="${escapeLabel(code)}"} ${n}`);
    family("qwen2_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.");
    out.push(`qwen2_prompt_tokens_total ${this.promptTokens}`);
    family("qwen2_generation_tokens_total", "counter", "Tokens generated.");
    out.push(`qwen2_generation_tokens_total ${this.generatedTokens}`);
    family("qwen2_generation_tokens_per_second", "gauge", `Tokens generated per second over the last ${RATE_WINDOW_S} s.`);
    out.push(`qwen2_generation_tokens_per_second ${this.tokensPerSecond()}`);
    family("qwen2_time_to_first_token_seconds", "histogram", "Time from a request's arrival to each choice's first token.");
    this.ttft.render("qwen2_time_to_first_token_seconds", out);
    family("qwen2_inter_token_latency_seconds", "histogram", "Time between consecutive tokens of one choice.");
    this.interToken.render("qwen2_inter_token_latency_seconds", out);
    family("qwen2_queue_depth", "gauge", "Sequences waiting for a slot.");
    out.push(`qwen2_queue_depth ${g.queued}`);
    family("qwen2_slots_active", "gauge", "Sequences decoding now.");
    out.push(`qwen2_slots_active ${g.active}`);
    family("qwen2_slots_paused", "gauge", "Sequences paused because their client reads slower than they generate.");
    out.push(`qwen2_slots_paused ${g.paused}`);
    family("qwen2_slots_total", "gauge", "Sequences that may decode at once (--parallel).");
    out.push(`qwen2_slots_total ${g.slots}`);
    family("qwen2_slots_yielded_total", "counter", "Slots a request with several choices gave to a request waiting with none.");
    out.push(`qwen2_slots_yielded_total ${g.yielded}`);
    family("qwen2_demoted_steps_total", "counter", "Steps that left out a request far ahead in tokens (--ahead-tokens).");
    out.push(`qwen2_demoted_steps_total ${g.demotedSteps}`);
    family("qwen2_kv_caches", "gauge", "K/V caches alive: in use, kept for a prefix, or spare.");
    out.push(`qwen2_kv_caches ${g.kvCaches}`);
    family("qwen2_kv_caches_max", "gauge", "Most K/V caches alive at once (--kv-caches).");
    out.push(`qwen2_kv_caches_max ${g.kvCacheBudget}`);
    family("qwen2_preempted_total", "counter", "Caches taken from waiting or paused sequences (recomputed on resume).");
    out.push(`qwen2_preempted_total ${g.preempted}`);
    if (g.memory) {
      // rss is what an operator watches; the rest says where it went (the wasm memory counts in external and arrayBuffers).
      family("qwen2_process_memory_bytes", "gauge", "Process memory by kind (Node's process.memoryUsage()).");
      for (const [kind, bytes] of Object.entries(g.memory)) out.push(`qwen2_process_memory_bytes{kind="${escapeLabel(kind)}"} ${bytes}`);
    }
    family("qwen2_connections_open", "gauge", "Open HTTP connections.");
    out.push(`qwen2_connections_open ${g.connections}`);
    family("qwen2_requests_in_flight", "gauge", "Requests being read, computed or answered.");
    out.push(`qwen2_requests_in_flight ${g.inFlight}`);
    family("qwen2_schema_cache_bytes", "gauge", "Bytes of compiled JSON schemas kept (--schema-cache-bytes).");
    out.push(`qwen2_schema_cache_bytes ${g.schemaCacheBytes}`);
    family("qwen2_mask_cache_bytes", "gauge", "Bytes of token masks kept for constrained decoding (--mask-cache-bytes).");
    out.push(`qwen2_mask_cache_bytes ${g.maskCacheBytes}`);
    return `${out.join("\n")}\n`;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
