/**
 * The OpenAI-compatible HTTP server:
 *
 *   POST /v1/chat/completions   POST /v1/responses   POST /v1/completions   POST /v1/embeddings
 *   GET  /v1/models[/ID]        POST /tokenize         POST /detokenize      GET /health
 *   GET  /                      the web chat (webui/static_site.ts), unless `webui: false`
 *
 * Requests are validated into typed options (400 naming the field), generation goes through
 * the continuous-batching {@link Scheduler}, and every error has OpenAI's JSON shape.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { CausalLM } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { collectEosIds } from "../generation/stopping.js";
import type { GenerationConfig } from "../formats/config.js";
import { handleChatCompletions } from "./chat_completions.js";
import { handleCompletions, readPrompts } from "./completions.js";
import { makeVocab, servesModel, toApiError, type ServerContext } from "./context.js";
import { handleEmbeddings } from "./embeddings.js";
import { handleResponses } from "./responses.js";
import { ApiError, errors, invalidField } from "./errors.js";
import { readJsonBody, sendError, sendJson } from "./http_util.js";
import type { ReasoningFormat } from "./reasoning.js";
import { Scheduler, type SchedulerStats } from "./scheduler.js";
import { Fields, describe, requireObject } from "./validate.js";
import { StaticSite } from "./webui/static_site.js";

export interface ServerOptions {
  readonly model: CausalLM;
  readonly tokenizer: TextTokenizer;
  /** The name clients pass as `model` (default "qwen2"). */
  readonly modelId?: string;
  /** More names for the same model (listed by /v1/models too). */
  readonly modelAliases?: readonly string[];
  /** Answer whatever `model` a request names (default false: an unknown name is a 404). */
  readonly acceptAnyModel?: boolean;
  /** `<think>…</think>` as `reasoning_content` ("deepseek", the default) or inline ("none"); a request's `reasoning_format` overrides it. */
  readonly reasoningFormat?: ReasoningFormat;
  /** When set, every route but /health needs `Authorization: Bearer KEY`. */
  readonly apiKey?: string;
  /** Sequences decoded together in one batched step (default 4). */
  readonly parallel?: number;
  /** Sequences allowed to wait for a slot; more get 429 (default 64). */
  readonly maxQueue?: number;
  /** Tokens per sequence, prompt included (default: the model's, capped at 4096). */
  readonly contextLength?: number;
  /** Largest request body in bytes (default 4 MiB); larger gets 413. */
  readonly bodyLimit?: number;
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
  /** Serve the web chat at `/` (default true); its files need no API key, its API calls do. */
  readonly webui?: boolean;
  /** The weights are random (`qwen2 create-random`): /v1/models says so, and the web chat too. */
  readonly randomWeights?: boolean;
  /** Called with each unexpected error (default: none). */
  readonly log?: (message: string) => void;
}

type Handler = (ctx: ServerContext, body: unknown, req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class QwenServer {
  readonly http: Server;
  readonly scheduler: Scheduler;
  readonly context: ServerContext;
  private readonly apiKey: Buffer | null;
  private readonly bodyLimit: number;
  private readonly webui: StaticSite | null;

  constructor(readonly options: ServerOptions) {
    const { model, tokenizer } = options;
    const contextLength = Math.min(options.contextLength ?? Math.min(model.maxContext, 4096), model.maxContext);
    const parallel = options.parallel ?? 4;
    if (!Number.isInteger(parallel) || parallel < 1) throw new RangeError(`parallel must be a positive integer, got ${parallel}`);
    this.scheduler = new Scheduler(model, tokenizer, {
      parallel,
      maxQueue: options.maxQueue ?? 64,
      contextLength,
      ...(options.prefixCacheEntries !== undefined ? { prefixCacheEntries: options.prefixCacheEntries } : {}),
      ...(options.prefillChunk !== undefined ? { prefillChunk: options.prefillChunk } : {}),
    });
    this.context = {
      model,
      tokenizer,
      modelId: options.modelId ?? "qwen2",
      modelAliases: options.modelAliases ?? [],
      acceptAnyModel: options.acceptAnyModel === true,
      reasoningFormat: options.reasoningFormat ?? "deepseek",
      scheduler: this.scheduler,
      contextLength,
      eosIds: options.eosIds ?? collectEosIds({ tokenizer }),
      generationConfig: options.generationConfig ?? null,
      maxChoices: options.maxChoices ?? 16,
      created: Math.floor(Date.now() / 1000),
      vocab: makeVocab(tokenizer, model.vocabSize),
      randomWeights: options.randomWeights === true,
    };
    this.apiKey = options.apiKey ? Buffer.from(options.apiKey) : null;
    this.bodyLimit = options.bodyLimit ?? 4 * 1024 * 1024;
    this.webui = options.webui === false ? null : new StaticSite();
    this.http = createHttpServer((req, res) => void this.handle(req, res));
    // Long generations must not be cut by Node's default request timeout.
    this.http.requestTimeout = 0;
  }

  /** Listens (port 0: a free port) and resolves to the base URL, e.g. http://127.0.0.1:8080. */
  listen(port = 8080, host = "127.0.0.1"): Promise<string> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        const a = this.http.address() as AddressInfo;
        resolve(`http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** Stops accepting connections, ends running generations and frees every cache. */
  async close(): Promise<void> {
    this.scheduler.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private authorised(req: IncomingMessage): boolean {
    if (!this.apiKey) return true;
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) return false;
    const given = Buffer.from(m[1]!.trim());
    return given.length === this.apiKey.length && timingSafeEqual(given, this.apiKey);
  }

  private route(method: string, path: string): Handler | null {
    const post: Record<string, Handler> = {
      "/v1/chat/completions": handleChatCompletions,
      "/v1/completions": handleCompletions,
      "/v1/responses": handleResponses,
      "/v1/embeddings": handleEmbeddings,
      "/tokenize": handleTokenize,
      "/detokenize": handleDetokenize,
    };
    const get: Record<string, Handler> = { "/v1/models": handleModels, "/health": handleHealth };
    if (method === "POST" && post[path]) return post[path]!;
    if (method === "GET" && get[path]) return get[path]!;
    if (method === "GET" && path.startsWith("/v1/models/")) return handleModel;
    if (post[path] || get[path]) throw errors.methodNotAllowed(method, path);
    return null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    try {
      if (this.webui?.serve(req, res, path)) return;
      const handler = this.route(req.method ?? "GET", path);
      if (!handler) throw errors.notFound(req.method ?? "GET", path);
      if (path !== "/health" && !this.authorised(req)) {
        req.resume();
        throw errors.unauthorized();
      }
      const body = req.method === "POST" ? await readJsonBody(req, this.bodyLimit) : undefined;
      await handler(this.context, body, req, res);
    } catch (err) {
      const apiErr = toApiError(err);
      if (apiErr.status >= 500) this.options.log?.(`${req.method} ${path}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      // A body we refused unread would otherwise keep the socket busy.
      if (apiErr.status === 413) res.setHeader("connection", "close");
      sendError(res, apiErr);
    }
  }
}

export function createServer(options: ServerOptions): QwenServer {
  return new QwenServer(options);
}

async function handleModels(ctx: ServerContext, _b: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { object: "list", data: [ctx.modelId, ...ctx.modelAliases].map((id) => modelCard(ctx, id)) });
}

async function handleModel(ctx: ServerContext, _b: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = decodeURIComponent((req.url ?? "").split("?")[0]!.slice("/v1/models/".length));
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

/** llama.cpp's shape: {content, add_special?, with_pieces?} → {tokens}. */
async function handleTokenize(ctx: ServerContext, body: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const content = f.string("content") ?? f.string("text");
  if (content === undefined) throw invalidField("content", "is required", "missing_required_parameter");
  const ids = ctx.tokenizer.encode(content, { addSpecialTokens: f.boolean("add_special") ?? false });
  if (f.boolean("with_pieces")) {
    sendJson(res, 200, { tokens: ids.map((id) => ({ id, piece: ctx.tokenizer.decode([id]) })) });
    return;
  }
  sendJson(res, 200, { tokens: ids, count: ids.length });
}

async function handleDetokenize(ctx: ServerContext, body: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const tokens = f.raw("tokens");
  if (tokens === undefined) throw invalidField("tokens", "is required", "missing_required_parameter");
  if (!Array.isArray(tokens)) throw invalidField("tokens", `expected an array of token ids, got ${describe(tokens)}`, "invalid_type");
  const [{ text }] = tokens.length === 0 ? [{ text: "" }] : readPrompts(ctx, tokens, "tokens");
  sendJson(res, 200, { content: text });
}

export { ApiError };
