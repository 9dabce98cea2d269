/**
 * The OpenAI-compatible HTTP server:
 *
 *   POST /v1/chat/completions   POST /v1/responses   POST /v1/completions   POST /v1/embeddings
 *   GET  /v1/models[/ID]        GET|DELETE /v1/responses/ID   POST /tokenize   POST /detokenize   GET /health
 *   GET  /metrics               Prometheus text format (metrics.ts)
 *   GET  /lora-adapters         the served LoRA adapters by index (llama.cpp's shape; requests pick them with `lora`)
 *   GET  /                      the web chat (webui/static_site.ts), unless `webui: false`
 *
 * Every request passes the same gate before a route handler sees it: a request id, the
 * connection cap, the Host allow-list, CORS, the API key, a JSON content type, a bounded
 * body read in time, and a deadline for the whole request (limits.ts). Requests are validated
 * into typed options (400 naming the field), generation goes through the continuous-batching
 * {@link Scheduler}, and every error has OpenAI's JSON shape. The server keeps no state
 * between requests but a prompt-prefix cache, so replicas behind a load balancer need no
 * affinity.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { CausalLM } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { collectEosIds } from "../generation/stopping.js";
import type { GenerationConfig } from "../formats/config.js";
import { ApiKeys, Cors, HostAllowList } from "./access.js";
import { handleChatCompletions } from "./chat_completions.js";
import { handleCompletions } from "./completions.js";
import { makeVocab, servesModel, toApiError, type ServerContext } from "./context.js";
import { handleEmbeddings } from "./embeddings.js";
import { ClassifierService, isNoLanguageModel, notGenerative, type ServedClassifier } from "./classifier.js";
import { handleClassify, handleRerank } from "./classify.js";
import { handleDeleteResponse, handleGetResponse, handleResponses } from "./responses.js";
import { ApiError, errors } from "./errors.js";
import { ClientGoneError, closeAfterReply, isJsonContentType, readJsonBody, sendError, sendJson } from "./http_util.js";
import type { ReasoningFormat } from "./reasoning.js";
import { InFlight, newRequestId, saneRequestId } from "./in_flight.js";
import { resolveLimits, type ServerLimits } from "./limits.js";
import { jsonParseThread } from "./json_parse_thread.js";
import { maxTokenBytes } from "./prompt_tokens.js";
import { schemaCache } from "../generation/constraints/schema_cache.js";
import { maskCache } from "../generation/constraints/json_constraint.js";
import { ServerMetrics } from "./metrics.js";
import { Scheduler, type SchedulerStats } from "./scheduler.js";
import { adapterCard, adapterCards, adapterTable, loraAdapterList, type ServedAdapter } from "./adapters.js";
import { handleDetokenize, handleTokenize } from "./tokenize.js";
import { unreadFields } from "./validate.js";
import { StaticSite } from "./webui/static_site.js";

export interface ServerOptions {
  readonly model: CausalLM;
  readonly tokenizer: TextTokenizer;
  /**
   * A sequence-classification model served at /v1/classify and /v1/rerank (classify.ts). A
   * server for it alone passes `model: noLanguageModel(config)` (classifier.ts).
   */
  readonly classifier?: ServedClassifier;
  /** How /v1/rerank formats a (query, document) pair: a template with {query} and {document}, or "qwen" (runtime/rerank_format.ts). */
  readonly rerankTemplate?: string | null;
  /** The name clients pass as `model` (default "qwen2"). */
  readonly modelId?: string;
  /** More names for the same model (listed by /v1/models too). */
  readonly modelAliases?: readonly string[];
  /** Answer whatever `model` a request names (default false: an unknown name is a 404). */
  readonly acceptAnyModel?: boolean;
  /**
   * LoRA adapters loaded on `model` (`loadAdapter`), chosen per request by `model`: the
   * adapter's name or `<modelId>:<name>` (server/adapters.ts); listed by /v1/models.
   */
  readonly adapters?: readonly ServedAdapter[];
  /** `<think>…</think>` as `reasoning_content` ("deepseek", the default) or inline ("none"); a request's `reasoning_format` overrides it. */
  readonly reasoningFormat?: ReasoningFormat;
  /** When set, every route but /health needs `Authorization: Bearer KEY`. */
  readonly apiKey?: string;
  /** Several keys, any of which is accepted (with `apiKey`, that one too). */
  readonly apiKeys?: readonly string[];
  /** Sequences decoded together in one batched step (default 4). */
  readonly parallel?: number;
  /** Sequences allowed to wait for a slot; more get 429 (default 64). */
  readonly maxQueue?: number;
  /** Tokens per sequence, prompt included (default: the model's, capped at 4096). */
  readonly contextLength?: number;
  /** Largest request body in bytes (default 4 MiB); larger gets 413. Same as `limits.bodyLimit`. */
  readonly bodyLimit?: number;
  /** Timeouts and sizes (limits.ts; defaults in DEFAULT_LIMITS). */
  readonly limits?: Partial<ServerLimits>;
  /** Origins allowed to call the API from a browser (CORS); "*" for any. Default: none (CORS off). */
  readonly corsOrigins?: readonly string[];
  /**
   * Host names requests may name besides localhost/127.0.0.1/[::1]. For a loopback bind the
   * allow-list is on by default; for any other bind it is on only when this is given.
   * "*" switches it off.
   */
  readonly allowedHosts?: readonly string[];
  /** Serve HTTPS with this PEM certificate chain and private key. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** EOS ids (default: the tokenizer's, see collectEosIds); fromPretrained returns the full union. */
  readonly eosIds?: readonly number[];
  /**
   * The model's generation_config.json: its sampling fields are the defaults a request's
   * fields override (see generation/defaults.ts for the policy). Default: none (greedy).
   */
  readonly generationConfig?: GenerationConfig | null;
  /** Most choices (`n` × prompts) per request (default 16). */
  readonly maxChoices?: number;
  /** Finished caches kept for prompt-prefix reuse (default: `parallel`). */
  readonly prefixCacheEntries?: number;
  /** Longest piece of a prompt prefilled in one step (default 512); longer prompts take several steps. */
  readonly prefillChunk?: number;
  /** Most choices of one request decoding at once while other requests are active or waiting (default 1; scheduler.ts, fair share). */
  readonly sharedChoiceSlots?: number;
  /** Generated tokens a request may be ahead of the least-served running one before it is demoted (default 0; scheduler.ts, least-served first). */
  readonly aheadTokens?: number;
  /** A demoted request's sequences join one batched step in this many (default 4; 1 turns demotion off). */
  readonly aheadStepInterval?: number;
  /** Most K/V caches alive at once: running, paused and waiting sequences and prefixes kept (default `parallel` + 1; scheduler.ts, K/V budget). */
  readonly kvCaches?: number;
  /** Allocate every cache of the budget at startup, so no load grows memory (default true). */
  readonly reserveKvCaches?: boolean;
  /** Serve the web chat at `/` (default true); its files need no API key, its API calls do. */
  readonly webui?: boolean;
  /** The weights are random (`qwen2 create-random`): /v1/models says so, and the web chat too. */
  readonly randomWeights?: boolean;
  /**
   * Receives log lines, each starting with the request id in brackets: unexpected errors
   * (with a stack), ignored request fields, clients that left mid-upload (default: none).
   */
  readonly log?: (message: string) => void;
}

const CLASSIFIER_ROUTES = new Set(["/v1/classify", "/classify", "/v1/rerank", "/rerank", "/v1/reranking", "/reranking"]);
const TOKENIZER_ROUTES = new Set(["/tokenize", "/detokenize"]);

type Handler = (ctx: ServerContext, body: unknown, req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class QwenServer {
  readonly http: Server;
  readonly scheduler: Scheduler;
  readonly context: ServerContext;
  readonly metrics = new ServerMetrics();
  readonly limits: ServerLimits;
  private readonly keys: ApiKeys;
  private readonly cors: Cors;
  private hosts: HostAllowList;
  private readonly webui: StaticSite | null;
  private readonly connections = new Set<Socket>();
  private readonly inFlight = new Set<InFlight>();
  private closing = false;

  constructor(readonly options: ServerOptions) {
    const { model, tokenizer } = options;
    const contextLength = Math.min(options.contextLength ?? Math.min(model.maxContext, 4096), model.maxContext);
    const parallel = options.parallel ?? 4;
    if (!Number.isInteger(parallel) || parallel < 1) throw new RangeError(`parallel must be a positive integer, got ${parallel}`);
    this.limits = resolveLimits({ ...options.limits, ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}) });
    // The two caches are process-wide (every server and generate() call shares them), so they
    // are resized only when this server's options name a size.
    if (options.limits?.schemaCacheBytes !== undefined) schemaCache.resize(this.limits.schemaCacheBytes);
    if (options.limits?.maskCacheBytes !== undefined) maskCache.resize(this.limits.maskCacheBytes);
    this.scheduler = new Scheduler(model, tokenizer, {
      parallel,
      maxQueue: options.maxQueue ?? 64,
      contextLength,
      ...(options.prefixCacheEntries !== undefined ? { prefixCacheEntries: options.prefixCacheEntries } : {}),
      ...(options.prefillChunk !== undefined ? { prefillChunk: options.prefillChunk } : {}),
      ...(options.sharedChoiceSlots !== undefined ? { sharedChoiceSlots: options.sharedChoiceSlots } : {}),
      ...(options.aheadTokens !== undefined ? { aheadTokens: options.aheadTokens } : {}),
      ...(options.aheadStepInterval !== undefined ? { aheadStepInterval: options.aheadStepInterval } : {}),
      ...(options.kvCaches !== undefined ? { kvCaches: options.kvCaches } : {}),
      // A classifier-only server has no language model to hold caches for.
      reserveKvCaches: (options.reserveKvCaches ?? true) && !isNoLanguageModel(model),
    });
    this.context = {
      model,
      tokenizer,
      modelId: options.modelId ?? "qwen2",
      modelAliases: options.modelAliases ?? [],
      acceptAnyModel: options.acceptAnyModel === true,
      adapters: adapterTable(options.adapters ?? [], options.modelId ?? "qwen2"),
      reasoningFormat: options.reasoningFormat ?? "deepseek",
      scheduler: this.scheduler,
      contextLength,
      eosIds: options.eosIds ?? collectEosIds({ tokenizer }),
      generationConfig: options.generationConfig ?? null,
      maxChoices: options.maxChoices ?? 16,
      created: Math.floor(Date.now() / 1000),
      vocab: makeVocab(tokenizer, model.vocabSize),
      randomWeights: options.randomWeights === true,
      limits: this.limits,
      ...(options.classifier
        ? { classifier: new ClassifierService(options.classifier, this.scheduler, { template: options.rerankTemplate ?? null }) }
        : {}),
    };
    this.keys = new ApiKeys([...(options.apiKey ? [options.apiKey] : []), ...(options.apiKeys ?? [])]);
    this.cors = new Cors(options.corsOrigins ?? []);
    this.hosts = HostAllowList.for("127.0.0.1", options.allowedHosts ?? []);
    this.webui = options.webui === false ? null : new StaticSite();
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.http = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createHttpServer(onRequest);
    // Node's own whole-request timer is a backstop a little after ours (readJsonBody answers 408 in JSON).
    this.http.requestTimeout = this.limits.readTimeoutMs > 0 ? this.limits.readTimeoutMs + 5_000 : 0;
    this.http.headersTimeout = this.limits.headersTimeoutMs;
    this.http.keepAliveTimeout = this.limits.idleTimeoutMs;
    this.http.on("connection", (socket: Socket) => this.admitConnection(socket));
  }

  /**
   * Makes now what the first requests would otherwise make while holding the event loop: the
   * vocabulary index for JSON-constrained decoding (about a second on 151k tokens), the
   * prompt bound's longest token (a pass over the vocabulary), the tokenizer's first
   * allocations, and, with a language model, one forward pass that zero-fills the reserved
   * K/V caches and makes the backend's buffers. `qwen2 serve` calls it before listening.
   */
  async warmUp(): Promise<void> {
    this.context.vocab();
    maxTokenBytes(this.context.tokenizer);
    this.context.tokenizer.encode("Warm up the tokenizer.");
    if (!isNoLanguageModel(this.context.model)) await this.scheduler.warmUp();
  }

  /** Listens (port 0: a free port) and resolves to the base URL, e.g. http://127.0.0.1:8080. */
  listen(port = 8080, host = "127.0.0.1"): Promise<string> {
    this.hosts = HostAllowList.for(host, this.options.allowedHosts ?? []);
    jsonParseThread.start();
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        const a = this.http.address() as AddressInfo;
        const scheme = this.options.tls ? "https" : "http";
        resolve(`${scheme}://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** Stops accepting connections, ends running generations and frees every cache. */
  async close(): Promise<void> {
    this.closing = true;
    this.scheduler.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  /**
   * Graceful shutdown: stops accepting connections, answers new requests on open ones with
   * 503, lets in-flight requests finish for up to `graceMs`, then ends the rest (a 503, or an
   * error event on a stream) and closes everything. Resolves to the number of requests cut.
   */
  async shutdown(graceMs: number): Promise<number> {
    this.closing = true;
    this.http.close();
    this.http.closeIdleConnections();
    const until = Date.now() + graceMs;
    while (this.inFlight.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const cut = this.inFlight.size;
    for (const f of [...this.inFlight]) this.endEarly(f, errors.unavailable("The server is shutting down."));
    await this.close();
    return cut;
  }

  /** The connection cap: one over it gets a 503 naming the limit (plain HTTP) or is dropped (TLS). */
  private admitConnection(socket: Socket): void {
    if (this.connections.size >= this.limits.maxConnections || this.closing) {
      const err = this.closing ? errors.unavailable("The server is shutting down.") : errors.tooManyConnections(this.limits.maxConnections);
      this.metrics.error(err.code ?? err.type);
      if (this.options.tls) {
        socket.destroy();
        return;
      }
      const body = JSON.stringify(err.toJSON());
      socket.on("error", () => {});
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.connections.add(socket);
    socket.once("close", () => this.connections.delete(socket));
  }

  /** Open connections, requests being handled and the scheduler's gauges, for /metrics. */
  private renderMetrics(): string {
    const s = this.scheduler.stats();
    return this.metrics.render({
      queued: s.queued,
      active: s.active,
      paused: s.paused,
      slots: this.scheduler.options.parallel,
      connections: this.connections.size,
      inFlight: this.inFlight.size,
      yielded: s.yielded,
      demotedSteps: s.demotedSteps,
      kvCaches: s.kvCaches,
      kvCacheBudget: s.kvCacheBudget,
      preempted: s.preempted,
      memory: { ...process.memoryUsage() },
      schemaCacheBytes: schemaCache.bytes,
      maskCacheBytes: maskCache.bytes,
    });
  }

  private log(id: string, message: string): void {
    this.options.log?.(`[${id}] ${message}`);
  }

  private route(method: string, path: string): Handler | null {
    const post: Record<string, Handler> = {
      "/v1/chat/completions": handleChatCompletions,
      "/v1/completions": handleCompletions,
      "/v1/responses": handleResponses,
      "/v1/embeddings": handleEmbeddings,
      "/v1/classify": handleClassify,
      "/classify": handleClassify,
      "/v1/rerank": handleRerank,
      "/rerank": handleRerank,
      "/v1/reranking": handleRerank,
      "/reranking": handleRerank,
      "/tokenize": handleTokenize,
      "/detokenize": handleDetokenize,
    };
    const get: Record<string, Handler> = {
      "/v1/models": handleModels,
      "/health": handleHealth,
      "/metrics": async (_c, _b, _q, res) => sendText(res, this.renderMetrics()),
      "/lora-adapters": async (ctx, _b, _q, res) => sendJson(res, 200, loraAdapterList(ctx)),
    };
    // A classifier-only server: the generating routes say what it serves instead.
    if (
      method === "POST" &&
      post[path] &&
      !CLASSIFIER_ROUTES.has(path) &&
      isNoLanguageModel(this.context.model) &&
      !TOKENIZER_ROUTES.has(path)
    )
      return async () => {
        throw notGenerative();
      };
    if (method === "POST" && post[path]) return post[path]!;
    if (method === "GET" && get[path]) return get[path]!;
    if (method === "GET" && path.startsWith("/v1/models/")) return handleModel;
    if (method === "GET" && path.startsWith("/v1/responses/")) return handleGetResponse;
    if (method === "DELETE" && path.startsWith("/v1/responses/")) return handleDeleteResponse;
    if (post[path] || get[path]) throw errors.methodNotAllowed(method, path);
    return null;
  }

  /** The methods a path accepts (for OPTIONS), or null for an unknown path. */
  private methodsOf(path: string): string | null {
    const can = (m: string): boolean => {
      try {
        return this.route(m, path) !== null;
      } catch {
        return false;
      }
    };
    const methods = ["GET", "POST", "DELETE"].filter(can);
    return methods.length > 0 ? [...methods, "OPTIONS"].join(", ") : null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = saneRequestId(req.headers["x-request-id"]) ?? newRequestId();
    const flight = new InFlight(id, res, this.metrics);
    res.setHeader("x-request-id", id);
    const rawPath = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    let routeLabel = "other";
    this.inFlight.add(flight);
    const deadlineMs = this.limits.requestDeadlineMs;
    const deadline = deadlineMs > 0 ? setTimeout(() => this.endEarly(flight, errors.deadline(deadlineMs / 1000)), deadlineMs) : null;
    res.once("close", () => {
      if (deadline) clearTimeout(deadline);
      this.inFlight.delete(flight);
      this.metrics.request(routeLabel, res.statusCode, (performance.now() - flight.started) / 1000);
      // The client left before its answer was complete: its work stops.
      if (!res.writableFinished) flight.stop(new ClientGoneError(0));
    });
    try {
      this.cors.decorate(req, res);
      if (this.closing) {
        closeAfterReply(req, res);
        throw errors.unavailable("The server is shutting down.");
      }
      if (!this.hosts.allows(req.headers.host)) {
        closeAfterReply(req, res);
        throw errors.hostNotAllowed(req.headers.host ?? "");
      }
      try {
        decodeURIComponent(rawPath);
      } catch {
        closeAfterReply(req, res);
        throw errors.badUri(`'${rawPath.slice(0, 200)}' has a malformed percent-escape`);
      }
      if (method === "OPTIONS") {
        const methods = this.methodsOf(rawPath);
        if (methods === null) throw errors.notFound(method, rawPath);
        routeLabel = rawPath;
        this.cors.preflight(req, res, methods);
        return;
      }
      if (this.webui?.serve(req, res, rawPath)) {
        routeLabel = "/ (web chat)";
        return;
      }
      const handler = this.route(method, rawPath);
      if (!handler) throw errors.notFound(method, rawPath);
      routeLabel = rawPath.startsWith("/v1/models/")
        ? "/v1/models/{id}"
        : rawPath.startsWith("/v1/responses/")
          ? "/v1/responses/{id}"
          : rawPath;
      if (rawPath !== "/health" && !this.keys.allows(req)) {
        closeAfterReply(req, res);
        throw errors.unauthorized();
      }
      let body: unknown;
      if (method === "POST") {
        if (!isJsonContentType(req.headers["content-type"])) {
          closeAfterReply(req, res);
          throw errors.unsupportedMediaType(req.headers["content-type"]);
        }
        try {
          body = await readJsonBody(req, {
            bodyLimit: this.limits.bodyLimit,
            maxJsonDepth: this.limits.maxJsonDepth,
            deadline: this.limits.readTimeoutMs > 0 ? Date.now() - (performance.now() - flight.started) + this.limits.readTimeoutMs : 0,
            readTimeoutSeconds: this.limits.readTimeoutMs / 1000,
          });
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 400)) closeAfterReply(req, res);
          throw err;
        }
      }
      await handler(this.context, body, req, res);
      const ignored = unreadFields(body);
      if (ignored.length > 0) this.log(id, `${method} ${rawPath}: ignored fields ${ignored.map((k) => JSON.stringify(k)).join(", ")}`);
    } catch (err) {
      if (err instanceof ClientGoneError) {
        this.log(id, `${method} ${rawPath}: ${err.message}`);
        return;
      }
      const apiErr = toApiError(err);
      this.metrics.error(apiErr.code ?? apiErr.type);
      if (apiErr.status >= 500) this.log(id, `${method} ${rawPath}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      sendError(res, apiErr);
    }
  }

  /**
   * Ends a request before its work is done (deadline, shutdown): a JSON error when nothing
   * was sent yet, else an error event closing the stream; then its work stops.
   */
  private endEarly(flight: InFlight, err: ApiError): void {
    const res = flight.res;
    if (res.writableEnded) return;
    this.metrics.error(err.code ?? err.type);
    if (!res.headersSent) sendError(res, err);
    else if (String(res.getHeader("content-type") ?? "").startsWith("text/event-stream")) {
      res.write(`data: ${JSON.stringify(err.toJSON())}\n\n`);
      res.end("data: [DONE]\n\n");
    } else res.end();
    flight.stop(err);
  }
}

export function createServer(options: ServerOptions): QwenServer {
  return new QwenServer(options);
}

async function handleModels(ctx: ServerContext, _b: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, {
    object: "list",
    data: [...[ctx.modelId, ...ctx.modelAliases].map((id) => modelCard(ctx, id)), ...adapterCards(ctx)],
  });
}

async function handleModel(ctx: ServerContext, _b: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = (req.url ?? "").split("?")[0]!.slice("/v1/models/".length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw errors.badUri(`'${raw.slice(0, 200)}' has a malformed percent-escape`);
  }
  const adapter = adapterCard(ctx, id);
  if (adapter !== null) return sendJson(res, 200, adapter);
  if (!servesModel(ctx, id)) throw errors.unknownModel(id, ctx.modelId);
  sendJson(res, 200, modelCard(ctx, id));
}

function modelCard(ctx: ServerContext, id = ctx.modelId): unknown {
  return {
    id,
    object: "model",
    created: ctx.created,
    owned_by: "qwen2-ts",
    context_length: ctx.contextLength,
    ...(ctx.randomWeights ? { random_weights: true } : {}),
  };
}

async function handleHealth(ctx: ServerContext, _b: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { status: "ok", model: ctx.modelId, ...ctx.scheduler.stats() });
}

function sendText(res: ServerResponse, text: string): void {
  res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export { ApiError };
