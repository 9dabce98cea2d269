/** What every route handler needs: the model, tokenizer, scheduler and server settings. */
import { InvalidArgumentError } from "../errors.js";
import type { GenerationConfig } from "../formats/config.js";
import { ContextOverflowError } from "../generation/sequence_generator.js";
import type { CausalLM } from "../models/causal_lm.js";
import type { HiddenStatesModel } from "../runtime/padded_batch.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { ApiError, errors } from "./errors.js";
import { vocabIndex, type VocabIndex } from "../generation/constraints/json_constraint.js";
import type { ReasoningFormat } from "./reasoning.js";
import type { ServerLimits } from "./limits.js";
import type { Scheduler } from "./scheduler.js";
import type { ClassifierService } from "./classifier.js";
import type { ServedAdapter } from "./adapters.js";

/** Whether the model exposes final-normed hidden states (Qwen2ForCausalLM does): /v1/embeddings needs them. */
export function hasHiddenStates(m: unknown): m is HiddenStatesModel {
  const x = m as Partial<HiddenStatesModel>;
  return typeof x.hiddenStates === "function" && typeof x.config?.hidden_size === "number";
}

export interface ServerContext {
  readonly model: CausalLM;
  readonly tokenizer: TextTokenizer;
  readonly modelId: string;
  /** Other names clients may pass as `model` (`--model-alias`). */
  readonly modelAliases: readonly string[];
  /** Any `model` name gets this model (`--accept-any-model`, llama.cpp's behaviour). */
  readonly acceptAnyModel: boolean;
  /** LoRA adapters requests may choose by name (server/adapters.ts). */
  readonly adapters: ReadonlyMap<string, ServedAdapter>;
  /** How `<think>…</think>` reaches clients (see reasoning.ts): split out, or inline. */
  readonly reasoningFormat: ReasoningFormat;
  readonly scheduler: Scheduler;
  readonly contextLength: number;
  readonly eosIds: readonly number[];
  /** generation_config.json: the sampling defaults a request's fields override. */
  readonly generationConfig: GenerationConfig | null;
  /** Most choices (`n` times prompts) one request may ask for. */
  readonly maxChoices: number;
  /** Unix seconds the model was loaded (`created` of /v1/models). */
  readonly created: number;
  /** The weights are random (`qwen2 create-random`); /v1/models says so. */
  readonly randomWeights?: boolean;
  /** What one request may cost (limits.ts). */
  readonly limits: ServerLimits;
  /** The sequence-classification model behind /v1/classify and /v1/rerank, when one is served (classifier.ts). */
  readonly classifier?: ClassifierService;
  vocab(): VocabIndex;
}

export function makeVocab(tokenizer: TextTokenizer, vocabSize: number): () => VocabIndex {
  return () => vocabIndex(tokenizer, vocabSize);
}

/** Maps any error to the HTTP error a client should see. */
export function toApiError(err: unknown, param: string | null = null): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ContextOverflowError) return errors.contextOverflow(param ?? "messages", err.promptTokens, err.contextLength);
  if (err instanceof InvalidArgumentError) return new ApiError(400, err.message, "invalid_request_error", param, "invalid_value");
  return errors.internal(`internal error: ${(err as Error)?.message ?? String(err)}`);
}

/**
 * One model per server: a request without `model` gets it (as with vLLM and llama.cpp), and
 * so do its id and aliases with or without a `.gguf` ending. Any other name is a 404 naming
 * the model served, rather than a silent answer from a model the client did not ask for,
 * unless the server accepts any name (`acceptAnyModel`, for clients that hard-code one).
 */
export function checkModel(ctx: ServerContext, model: string | undefined): void {
  if (model === undefined || servesModel(ctx, model)) return;
  throw errors.unknownModel(model, ctx.modelId);
}

export function servesModel(ctx: ServerContext, model: string): boolean {
  if (ctx.acceptAnyModel) return true;
  const bare = (s: string): string => s.replace(/\.gguf$/i, "");
  return [ctx.modelId, ...ctx.modelAliases].some((name) => model === name || bare(model) === bare(name));
}

/** Refuses prompts that leave no room for one new token. */
export function checkPromptFits(ctx: ServerContext, promptTokens: number, param: string): void {
  if (promptTokens === 0) throw new ApiError(400, `${param}: the prompt is empty`, "invalid_request_error", param, "invalid_value");
  if (promptTokens >= ctx.contextLength) throw errors.contextOverflow(param, promptTokens, ctx.contextLength);
}

/** OpenAI's logprob entry for one token. */
export interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export function logprobEntry(
  tok: TextTokenizer,
  id: number,
  logprob: number,
  top: readonly { id: number; logprob: number }[] | undefined,
): LogprobEntry {
  const one = (i: number, lp: number) => ({ token: tok.decode([i]), logprob: lp, bytes: Array.from(tok.idToBytes(i) ?? []) });
  return { ...one(id, logprob), top_logprobs: (top ?? []).map((t) => one(t.id, t.logprob)) };
}

let counter = 0;
export function requestId(prefix: string): string {
  counter = (counter + 1) % 1e9;
  return `${prefix}-${Date.now().toString(36)}${counter.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
