/**
 * A sequence-classification model behind the server: what /v1/classify and /v1/rerank need
 * of it, and the batching that puts every request waiting at a moment into one forward call.
 *
 * Forward calls run through the scheduler's `exclusive` queue, so they never overlap a
 * generation step (or each other) on the backend. Requests arriving while one call runs
 * wait together and go in the next call, up to MAX_BATCH_TOKENS tokens per call.
 */
import type { Qwen2Config } from "../formats/config.js";
import { headLabels } from "../formats/config.js";
import type { CausalLM, SequenceCache } from "../models/causal_lm.js";
import { scoreFunction, type ScoreFunction } from "../models/head_outputs.js";
import type { SequenceClassification } from "../models/qwen2_heads.js";
import { resolveRerankTemplate, type RerankFormat } from "../runtime/rerank_format.js";
import { ApiError } from "./errors.js";
import type { Scheduler } from "./scheduler.js";

/** What the server needs of a classifier (Qwen2ForSequenceClassification, either layer's class). */
export interface ServedClassifier {
  readonly config: Qwen2Config;
  forward(rows: readonly ArrayLike<number>[]): Promise<SequenceClassification[]>;
}

/** Most tokens one batched forward call takes; more requests wait for the next. */
const MAX_BATCH_TOKENS = 16384;

interface Waiting {
  readonly rows: readonly (readonly number[])[];
  readonly tokens: number;
  resolve(out: SequenceClassification[]): void;
  reject(err: unknown): void;
}

export class ClassifierService {
  readonly labels: readonly string[];
  readonly scoreFunction: ScoreFunction;
  /** How /v1/rerank formats a pair (template resolved once, at startup). */
  readonly rerankFormat: RerankFormat;
  private readonly waiting: Waiting[] = [];
  private scheduled = false;
  /** Forward calls made and the most rows one took (for tests and metrics). */
  calls = 0;
  maxRows = 0;

  constructor(
    readonly classifier: ServedClassifier,
    private readonly scheduler: Scheduler,
    rerank: RerankFormat = {},
  ) {
    this.labels = headLabels(classifier.config);
    this.scoreFunction = scoreFunction(classifier.config.problem_type ?? null, this.labels.length);
    this.rerankFormat = { ...rerank, template: resolveRerankTemplate(rerank.template) };
  }

  /** Logits of each row (each computed as transformers computes it alone), batched with whatever else is waiting. */
  score(rows: readonly (readonly number[])[]): Promise<SequenceClassification[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ rows, tokens: rows.reduce((n, r) => n + r.length, 0), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    this.scheduler
      .exclusive(() => this.runBatch())
      .catch((err: unknown) => {
        // The scheduler refused (shutting down): everyone waiting gets the error.
        this.scheduled = false;
        for (const w of this.waiting.splice(0)) w.reject(err);
      });
  }

  private async runBatch(): Promise<void> {
    this.scheduled = false;
    const batch: Waiting[] = [];
    let tokens = 0;
    while (this.waiting.length > 0 && (batch.length === 0 || tokens + this.waiting[0]!.tokens <= MAX_BATCH_TOKENS)) {
      const w = this.waiting.shift()!;
      batch.push(w);
      tokens += w.tokens;
    }
    try {
      const rows = batch.flatMap((w) => w.rows);
      this.calls++;
      this.maxRows = Math.max(this.maxRows, rows.length);
      const out = await this.classifier.forward(rows);
      let at = 0;
      for (const w of batch) {
        w.resolve(out.slice(at, at + w.rows.length));
        at += w.rows.length;
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.schedule();
    }
  }
}

/** The 400 a classifier-only server answers on the routes that generate or embed. */
export function notGenerative(): ApiError {
  return new ApiError(
    400,
    "This server runs a sequence classification model, which does not generate text: use /v1/classify or /v1/rerank.",
    "invalid_request_error",
    "model",
    "model_not_generative",
  );
}

const NO_LANGUAGE_MODEL = Symbol("no language model");

/** Whether `model` is the stand-in of a classifier-only server. */
export function isNoLanguageModel(model: CausalLM): boolean {
  return (model as { [NO_LANGUAGE_MODEL]?: true })[NO_LANGUAGE_MODEL] === true;
}

/**
 * The CausalLM a server holds when it serves a classifier only: the server refuses the
 * routes that generate (notGenerative), and the model refuses anything that reaches it.
 */
export function noLanguageModel(config: Qwen2Config): CausalLM {
  const refuse = (): never => {
    throw notGenerative();
  };
  const model: CausalLM & { [NO_LANGUAGE_MODEL]: true } = {
    [NO_LANGUAGE_MODEL]: true,
    vocabSize: config.vocab_size,
    maxContext: config.max_position_embeddings,
    createCache: (): SequenceCache => refuse(),
    forward: async () => refuse(),
    dispose: () => {},
  };
  return model;
}
