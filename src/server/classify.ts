/**
 * POST /v1/classify (and /classify): vLLM's classification API for a sequence-classification
 * model. `input` is a string, a list of strings or token ids; each input gets
 * `{ index, label, probs, num_classes }`, probs by the model's problem_type (softmax, sigmoid
 * for one label or multi-label, raw logits for regression) and label the best one.
 *
 * POST /v1/rerank (and /rerank, /v1/reranking, /reranking): the shape llama.cpp's server,
 * Jina and Cohere share. `query`, `documents` (strings or `{ text }`), `top_n`,
 * `return_documents` → `results: [{ index, relevance_score, document? }]` best first, for a
 * one-label model (a reranker). Each pair is formatted as rerank_format.ts says (the server's
 * template, else query tokens then document tokens, as llama.cpp does for Qwen2's vocabulary).
 *
 * Both score every input through ClassifierService, which batches concurrent requests into
 * one forward call through the scheduler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { applyScoreFunction } from "../models/head_outputs.js";
import { rerankPairIds } from "../runtime/rerank_format.js";
import type { ClassifierService } from "./classifier.js";
import { readPrompts } from "./completions.js";
import { checkModel, checkPromptFits, type ServerContext } from "./context.js";
import { ApiError, invalidField } from "./errors.js";
import { sendJson } from "./http_util.js";
import { newRequestId } from "./in_flight.js";
import { Fields, describe, requireObject } from "./validate.js";

function classifierOf(ctx: ServerContext, route: string): ClassifierService {
  if (ctx.classifier) return ctx.classifier;
  throw new ApiError(
    400,
    `${route} needs a sequence classification model (config.json architectures Qwen2ForSequenceClassification); this server runs a causal LM`,
    "invalid_request_error",
    "model",
    "model_not_classifier",
  );
}

/** Refuses ids the model cannot embed (a tokenizer larger than the model's vocabulary). */
function checkIds(ctx: ServerContext, ids: readonly number[], param: string): void {
  const vocab = ctx.model.vocabSize;
  const bad = ids.findIndex((id) => id >= vocab);
  if (bad >= 0) throw invalidField(param, `token ${bad} (id ${ids[bad]}) is outside the model's vocabulary of ${vocab}`);
}

export async function handleClassify(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const service = classifierOf(ctx, "/v1/classify");
  const f = new Fields(requireObject(body, "body"));
  checkModel(ctx, f.string("model"));
  const inputs = await readPrompts(ctx, f.raw("input"), "input");
  if (inputs.length > ctx.limits.maxEmbeddingInputs)
    throw invalidField("input", `has ${inputs.length} inputs; at most ${ctx.limits.maxEmbeddingInputs} per request`);
  inputs.forEach((p, i) => {
    const param = inputs.length > 1 ? `input[${i}]` : "input";
    checkPromptFits(ctx, p.ids.length, param);
    checkIds(ctx, p.ids, param);
  });
  const out = await service.score(inputs.map((p) => p.ids));
  let tokens = 0;
  const data = out.map((r, index) => {
    tokens += inputs[index]!.ids.length;
    const probs = applyScoreFunction(r.logits, service.scoreFunction);
    const best = probs.indexOf(Math.max(...probs));
    return { index, label: service.labels[best] ?? `LABEL_${best}`, probs, num_classes: probs.length };
  });
  sendJson(res, 200, {
    id: `classify-${newRequestId()}`,
    object: "list",
    created: Math.floor(Date.now() / 1000),
    model: ctx.modelId,
    data,
    usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
  });
}

function readDocuments(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0)
    throw invalidField(
      "documents",
      `expected a non-empty array of strings or { text } objects, got ${describe(v as never)}`,
      "invalid_type",
    );
  return v.map((d, i) => {
    if (typeof d === "string") return d;
    if (typeof d === "object" && d !== null && typeof (d as { text?: unknown }).text === "string") return (d as { text: string }).text;
    throw invalidField(`documents[${i}]`, `expected a string or { text: string }, got ${describe(d as never)}`, "invalid_type");
  });
}

export async function handleRerank(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const service = classifierOf(ctx, "/v1/rerank");
  if (service.labels.length !== 1)
    throw new ApiError(
      400,
      `/v1/rerank needs a reranker (a sequence classification model with one label); this model has ${service.labels.length} labels: use /v1/classify`,
      "invalid_request_error",
      "model",
      "model_not_reranker",
    );
  const f = new Fields(requireObject(body, "body"));
  checkModel(ctx, f.string("model"));
  const query = f.requiredString("query");
  // llama.cpp also takes `texts` for the documents.
  const documents = readDocuments(f.raw("documents") ?? f.raw("texts"));
  if (documents.length > ctx.limits.maxEmbeddingInputs)
    throw invalidField("documents", `has ${documents.length} documents; at most ${ctx.limits.maxEmbeddingInputs} per request`);
  const topN = f.integer("top_n", 1, Number.MAX_SAFE_INTEGER) ?? documents.length;
  const returnDocuments = f.boolean("return_documents") ?? false;
  const rows = documents.map((d, i) => {
    const ids = rerankPairIds(ctx.tokenizer, query, d, service.rerankFormat);
    checkPromptFits(ctx, ids.length, `documents[${i}]`);
    checkIds(ctx, ids, `documents[${i}]`);
    return ids;
  });
  const out = await service.score(rows);
  const results = out.map((r, index) => ({
    index,
    relevance_score: applyScoreFunction(r.logits, service.scoreFunction)[0]!,
    ...(returnDocuments ? { document: { text: documents[index]! } } : {}),
  }));
  results.sort((a, b) => b.relevance_score - a.relevance_score);
  const tokens = rows.reduce((n, r) => n + r.length, 0);
  sendJson(res, 200, {
    id: `rerank-${newRequestId()}`,
    object: "list",
    model: ctx.modelId,
    results: results.slice(0, topN),
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
