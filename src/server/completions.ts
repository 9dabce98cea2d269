/**
 * POST /v1/completions (the legacy text API): prompt(s) as text or token ids, `n` choices
 * each, streamed as `text_completion` chunks or answered at once; `echo` and integer
 * `logprobs` (OpenAI's legacy logprobs shape) supported.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import { checkModel, checkPromptFits, type ServerContext } from "./context.js";
import { invalidField } from "./errors.js";
import { RequestLifecycle } from "./request_lifecycle.js";
import { readN, readSampling, seedForChoice } from "./sampling_params.js";
import type { SequenceRequest } from "./scheduler.js";
import { Fields, describe, requireObject, type Json } from "./validate.js";

/** prompt: string | string[] | number[] | number[][] → lists of ids (and their text). */
export function readPrompts(ctx: ServerContext, v: Json | undefined, param: string): { ids: number[]; text: string }[] {
  if (v === undefined) throw invalidField(param, "is required", "missing_required_parameter");
  const tok = ctx.tokenizer;
  const idsOf = (arr: Json[], p: string): number[] =>
    arr.map((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= ctx.model.vocabSize)
        throw invalidField(`${p}[${i}]`, `expected a token id in [0, ${ctx.model.vocabSize}), got ${describe(x)}`);
      return x;
    });
  if (typeof v === "string") return [{ ids: tok.encode(v), text: v }];
  if (!Array.isArray(v) || v.length === 0)
    throw invalidField(param, `expected a string, an array of strings or token ids, got ${describe(v)}`, "invalid_type");
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
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.generationConfig, ctx.eosIds);
  const n = readN(f, ctx.maxChoices);
  if (n * prompts.length > ctx.maxChoices) throw invalidField("n", `n times the number of prompts must be at most ${ctx.maxChoices}`);
  const stream = f.boolean("stream") ?? false;
  const includeUsage = f.object("stream_options")?.boolean("include_usage") ?? false;
  const echo = f.boolean("echo") ?? false;
  const logprobsN = f.integer("logprobs", 0, 5);
  // OpenAI's default for this endpoint is 16 tokens.
  const maxTokens = sampling.maxNewTokens ?? 16;
  prompts.forEach((p, i) => checkPromptFits(ctx, p.ids.length, prompts.length > 1 ? `prompt[${i}]` : "prompt"));

  const total = prompts.length * n;
  const life = new RequestLifecycle(ctx, res, {
    idPrefix: "cmpl",
    chunkObject: "text_completion",
    choices: total,
    promptTokens: prompts.reduce((s, p) => s + p.ids.length, 0) * n,
    includeUsage,
    errorParam: "prompt",
  });
  const texts: string[] = new Array<string>(total).fill("");
  const finish: (string | null)[] = new Array<string | null>(total).fill(null);
  const lps: LegacyLogprobs[] = Array.from({ length: total }, () => ({
    tokens: [],
    token_logprobs: [],
    top_logprobs: [],
    text_offset: [],
  }));

  const requests: SequenceRequest[] = [];
  prompts.forEach((p, pi) => {
    for (let k = 0; k < n; k++) {
      const index = pi * n + k;
      if (echo) texts[index] = p.text;
      let offset = texts[index]!.length;
      const options = {
        ...seedForChoice(sampling, k),
        maxNewTokens: maxTokens,
        ...(logprobsN !== undefined ? { logprobs: true, topLogprobs: logprobsN } : {}),
      };
      requests.push(
        life.sequence(index, p.ids, options, (event: TokenEvent) => {
          if (event.id !== null && event.logprob !== undefined) {
            const l = lps[index]!;
            l.tokens.push(ctx.tokenizer.decode([event.id]));
            l.token_logprobs.push(event.logprob);
            l.top_logprobs.push(Object.fromEntries((event.topLogprobs ?? []).map((t) => [ctx.tokenizer.decode([t.id]), t.logprob])));
            l.text_offset.push(offset);
          }
          offset += event.text.length;
          texts[index] += event.text;
          if (event.done && event.finishReason === "abort") return;
          if (event.done) finish[index] = event.finishReason === "length" ? "length" : "stop";
          if (event.text.length > 0 || event.done) life.send([{ index, text: event.text, logprobs: null, finish_reason: finish[index] }]);
        }),
      );
    }
  });
  const answer = () => ({
    id: life.id,
    object: "text_completion",
    created: life.created,
    model: ctx.modelId,
    system_fingerprint: null,
    choices: texts.map((text, i) => ({ index: i, text, logprobs: logprobsN !== undefined ? lps[i] : null, finish_reason: finish[i] })),
    usage: life.usage(),
  });
  life.submit(requests, stream, answer, () => {
    if (echo) texts.forEach((t, index) => life.send([{ index, text: t, logprobs: null, finish_reason: null }]));
  });
}
