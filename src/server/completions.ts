/**
 * POST /v1/completions (the legacy text API): prompt(s) as text or token ids, `n` choices
 * each, streamed as `text_completion` chunks or answered at once; `echo` and integer
 * `logprobs` (OpenAI's legacy logprobs shape) supported.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import { checkModel, checkPromptFits, requestId, toApiError, type ServerContext } from "./context.js";
import { invalidField } from "./errors.js";
import { SseWriter, sendError, sendJson } from "./http_util.js";
import { readN, readSampling, seedForChoice } from "./sampling_params.js";
import type { SequenceRequest } from "./scheduler.js";
import { Fields, describe, requireObject, type Json } from "./validate.js";

/** prompt: string | string[] | number[] | number[][] → lists of ids (and their text). */
export function readPrompts(ctx: ServerContext, v: Json | undefined, param: string): { ids: number[]; text: string }[] {
  if (v === undefined) throw invalidField(param, "is required", "missing_required_parameter");
  const tok = ctx.tokenizer;
  const idsOf = (arr: Json[], p: string): number[] =>
    arr.map((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= ctx.model.vocabSize) throw invalidField(`${p}[${i}]`, `expected a token id in [0, ${ctx.model.vocabSize}), got ${describe(x)}`);
      return x;
    });
  if (typeof v === "string") return [{ ids: tok.encode(v), text: v }];
  if (!Array.isArray(v) || v.length === 0) throw invalidField(param, `expected a string, an array of strings or token ids, got ${describe(v)}`, "invalid_type");
  if (v.every((x) => typeof x === "number")) {
    const ids = idsOf(v, param);
    return [{ ids, text: tok.decode(ids) }];
  }
  return v.map((p, i) => {
    if (typeof p === "string") return { ids: tok.encode(p), text: p };
    if (Array.isArray(p)) {
      const ids = idsOf(p, `${param}[${i}]`);
      return { ids, text: tok.decode(ids) };
    }
    throw invalidField(`${param}[${i}]`, `expected a string or an array of token ids, got ${describe(p)}`, "invalid_type");
  });
}

interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export async function handleCompletions(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  checkModel(ctx, f.string("model"));
  const prompts = readPrompts(ctx, f.raw("prompt"), "prompt");
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.defaults, ctx.eosIds);
  const n = readN(f, ctx.maxChoices);
  if (n * prompts.length > ctx.maxChoices) throw invalidField("n", `n times the number of prompts must be at most ${ctx.maxChoices}`);
  const stream = f.boolean("stream") ?? false;
  const includeUsage = f.object("stream_options")?.boolean("include_usage") ?? false;
  const echo = f.boolean("echo") ?? false;
  const logprobsN = f.integer("logprobs", 0, 5);
  // OpenAI's default for this endpoint is 16 tokens.
  const maxTokens = sampling.maxNewTokens ?? 16;
  prompts.forEach((p, i) => checkPromptFits(ctx, p.ids.length, prompts.length > 1 ? `prompt[${i}]` : "prompt"));

  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) abort.abort();
  });
  const id = requestId("cmpl");
  const created = Math.floor(Date.now() / 1000);
  let sse: SseWriter | null = null;
  const total = prompts.length * n;
  let remaining = total;
  let failed = false;
  const texts: string[] = new Array<string>(total).fill("");
  const finish: (string | null)[] = new Array<string | null>(total).fill(null);
  const counts: number[] = new Array<number>(total).fill(0);
  const lps: LegacyLogprobs[] = Array.from({ length: total }, () => ({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }));
  const chunk = (choices: unknown[], usage?: unknown) => ({ id, object: "text_completion", created, model: ctx.modelId, choices, ...(includeUsage ? { usage: usage ?? null } : {}) });
  const usage = () => {
    const promptTokens = prompts.reduce((s, p) => s + p.ids.length, 0) * n;
    const completion = counts.reduce((s, c) => s + c, 0);
    return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
  };
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    abort.abort();
    const e = toApiError(err, "prompt");
    if (sse) sse.error(e);
    else sendError(res, e);
  };

  const requests: SequenceRequest[] = [];
  prompts.forEach((p, pi) => {
    for (let k = 0; k < n; k++) {
      const index = pi * n + k;
      if (echo) texts[index] = p.text;
      let offset = texts[index]!.length;
      requests.push({
        promptIds: p.ids,
        options: { ...seedForChoice(sampling, k), maxNewTokens: maxTokens, ...(logprobsN !== undefined ? { logprobs: true, topLogprobs: logprobsN } : {}) },
        signal: abort.signal,
        onError: fail,
        onEvent: (event: TokenEvent) => {
          if (failed) return;
          if (event.id !== null) {
            counts[index]!++;
            if (event.logprob !== undefined) {
              const l = lps[index]!;
              l.tokens.push(ctx.tokenizer.decode([event.id]));
              l.token_logprobs.push(event.logprob);
              l.top_logprobs.push(Object.fromEntries((event.topLogprobs ?? []).map((t) => [ctx.tokenizer.decode([t.id]), t.logprob])));
              l.text_offset.push(offset);
            }
          }
          offset += event.text.length;
          texts[index] += event.text;
          if (event.done && event.finishReason === "abort") return;
          if (event.done) finish[index] = event.finishReason === "length" ? "length" : "stop";
          if (sse && (event.text.length > 0 || event.done)) {
            sse.send(chunk([{ index, text: event.text, logprobs: null, finish_reason: finish[index] }]));
          }
          if (!event.done || --remaining > 0) return;
          if (sse) {
            if (includeUsage) sse.send(chunk([], usage()));
            sse.end();
            return;
          }
          sendJson(res, 200, {
            id,
            object: "text_completion",
            created,
            model: ctx.modelId,
            system_fingerprint: null,
            choices: texts.map((text, i) => ({ index: i, text, logprobs: logprobsN !== undefined ? lps[i] : null, finish_reason: finish[i] })),
            usage: usage(),
          });
        },
      });
    }
  });
  ctx.scheduler.submit(requests);
  if (stream) {
    sse = new SseWriter(res);
    if (echo) texts.forEach((t, index) => sse!.send(chunk([{ index, text: t, logprobs: null, finish_reason: null }])));
  }
}
