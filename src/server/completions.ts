/**
 * POST /v1/completions (the legacy text API): prompt(s) as text or token ids, `n` choices
 * each, streamed as `text_completion` chunks or answered at once, with OpenAI's legacy
 * `logprobs` (tokens, token_logprobs, top_logprobs, text_offset) in answers and chunks alike.
 *
 * `echo` puts the prompt in front of the text, and with `logprobs` the prompt tokens' own
 * logprobs in front of the generated ones (null for the first token), from one scoring pass
 * over the prompt (prompt_logprobs.ts): what evaluation harnesses sum to score a
 * continuation. `max_tokens: 0` with `echo` scores without generating. `suffix` asks for
 * fill-in-the-middle in the model's own FIM tokens. Usage counts each prompt once, however
 * many choices it has (the choices share it).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { checkPromptFits, requestId, type ServerContext } from "./context.js";
import { requestAdapters } from "./adapters.js";
import { withAdapters } from "../models/lora.js";
import { invalidField } from "./errors.js";
import { SseWriter, sendJson } from "./http_util.js";
import { scorePrompt, type PromptTokenLogprob } from "./prompt_logprobs.js";
import { encodeChecked } from "./prompt_tokens.js";
import { RequestLifecycle } from "./request_lifecycle.js";
import { readN, readSampling, seedForChoice } from "./sampling_params.js";
import type { SequenceRequest } from "./scheduler.js";
import { Fields, MAX_LOGPROBS, describe, requireObject, type Json } from "./validate.js";

/** prompt: string | string[] | number[] | number[][] → lists of ids (and their text). */
export async function readPrompts(ctx: ServerContext, v: Json | undefined, param: string): Promise<{ ids: number[]; text: string }[]> {
  if (v === undefined) throw invalidField(param, "is required", "missing_required_parameter");
  const tok = ctx.tokenizer;
  const idsOf = (arr: Json[], p: string): number[] =>
    arr.map((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= ctx.model.vocabSize)
        throw invalidField(`${p}[${i}]`, `expected a token id in [0, ${ctx.model.vocabSize}), got ${describe(x)}`);
      return x;
    });
  // Long texts are tokenized in pieces, refused once past the context (prompt_tokens.ts).
  const encode = (text: string, p: string): Promise<number[]> => encodeChecked(tok, text, {}, ctx.contextLength, p);
  if (typeof v === "string") return [{ ids: await encode(v, param), text: v }];
  if (!Array.isArray(v) || v.length === 0)
    throw invalidField(param, `expected a string, an array of strings or token ids, got ${describe(v)}`, "invalid_type");
  if (v.every((x) => typeof x === "number")) {
    const ids = idsOf(v, param);
    return [{ ids, text: tok.decode(ids) }];
  }
  const out: { ids: number[]; text: string }[] = [];
  for (const [i, p] of v.entries()) {
    if (typeof p === "string") out.push({ ids: await encode(p, `${param}[${i}]`), text: p });
    else if (Array.isArray(p)) {
      const ids = idsOf(p, `${param}[${i}]`);
      out.push({ ids, text: tok.decode(ids) });
    } else throw invalidField(`${param}[${i}]`, `expected a string or an array of token ids, got ${describe(p)}`, "invalid_type");
  }
  return out;
}

/** Qwen2.5-Coder's fill-in-the-middle tokens: prefix, then suffix, then the middle to write. */
export const FIM_TOKENS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"] as const;

/** `<|fim_prefix|>prompt<|fim_suffix|>suffix<|fim_middle|>` as ids; a 400 naming `suffix` without the tokens. */
export function fimPrompt(tok: TextTokenizer, prompt: readonly number[], suffix: string): number[] {
  const ids = FIM_TOKENS.map((t) => tok.tokenToId(t));
  if (ids.some((id) => id === undefined))
    throw invalidField(
      "suffix",
      `this model's tokenizer has no fill-in-the-middle tokens (${FIM_TOKENS.join(", ")}), so it cannot complete between a prompt and a suffix`,
    );
  const [pre, suf, mid] = ids as number[];
  return [pre!, ...prompt, suf!, ...tok.encode(suffix, { addSpecialTokens: false }), mid!];
}

/** OpenAI's legacy logprobs of one choice. */
interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

function emptyLogprobs(): LegacyLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A token as the legacy format names it: its text, or `bytes:\xe2\x80` (OpenAI's spelling)
 * when its bytes are not whole UTF-8 characters, so that two such tokens never share a
 * `top_logprobs` key.
 */
export function legacyTokenString(tok: TextTokenizer, id: number): string {
  const bytes = tok.idToBytes(id);
  if (bytes === undefined) return tok.decode([id]);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return `bytes:${Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}`;
  }
}

/** Appends one token to `l`; `offset` is where its text starts in the choice's text. */
function addToken(
  tok: TextTokenizer,
  l: LegacyLogprobs,
  id: number,
  logprob: number | null,
  top: readonly { id: number; logprob: number }[] | null,
  offset: number,
): void {
  l.tokens.push(legacyTokenString(tok, id));
  l.token_logprobs.push(logprob);
  l.top_logprobs.push(top === null ? null : Object.fromEntries(top.map((t) => [legacyTokenString(tok, t.id), t.logprob])));
  l.text_offset.push(offset);
}

/** The prompt's tokens as legacy logprobs (null for the first), offsets into the prompt's text. */
function promptLogprobs(tok: TextTokenizer, ids: readonly number[], scored: readonly (PromptTokenLogprob | null)[]): LegacyLogprobs {
  const l = emptyLogprobs();
  const decoder = tok.createStreamDecoder();
  let offset = 0;
  ids.forEach((id, i) => {
    const s = scored[i] ?? null;
    addToken(tok, l, id, s === null ? null : s.logprob, s === null ? null : s.top, offset);
    offset += decoder.push(id).length;
  });
  return l;
}

function concat(a: LegacyLogprobs, b: LegacyLogprobs): LegacyLogprobs {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}

export async function handleCompletions(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const adapters = requestAdapters(ctx, f.string("model"), f.raw("lora"));
  const given = await readPrompts(ctx, f.raw("prompt"), "prompt");
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.generationConfig, ctx.eosIds, { minTokens: 0 });
  const n = readN(f, ctx.maxChoices);
  if (n * given.length > ctx.maxChoices) throw invalidField("n", `n times the number of prompts must be at most ${ctx.maxChoices}`);
  const stream = f.boolean("stream") ?? false;
  const includeUsage = f.object("stream_options")?.boolean("include_usage") ?? false;
  const echo = f.boolean("echo") ?? false;
  const logprobsN = f.integer("logprobs", 0, MAX_LOGPROBS);
  const suffix = f.string("suffix");
  if (suffix !== undefined && echo) throw invalidField("suffix", "echo is not supported together with suffix");
  // OpenAI's default for this endpoint is 16 tokens.
  const maxTokens = sampling.maxNewTokens ?? 16;
  if (maxTokens === 0 && !echo) throw invalidField("max_tokens", "0 tokens is allowed only with echo: true (to score the prompt)");
  const prompts = suffix === undefined ? given : given.map((p) => ({ ids: fimPrompt(ctx.tokenizer, p.ids, suffix), text: p.text }));
  prompts.forEach((p, i) => checkPromptFits(ctx, p.ids.length, prompts.length > 1 ? `prompt[${i}]` : "prompt"));

  // Each prompt is scored once, before its choices generate; its pieces take turns with the running batch.
  const echoed: (LegacyLogprobs | null)[] = [];
  const scorer = adapters.length > 0 ? withAdapters(ctx.model, adapters) : ctx.model;
  for (const p of prompts) {
    if (!echo || logprobsN === undefined) echoed.push(null);
    else
      echoed.push(
        promptLogprobs(ctx.tokenizer, p.ids, await scorePrompt(scorer, p.ids, logprobsN, (work) => ctx.scheduler.exclusive(work))),
      );
  }
  const promptTokens = prompts.reduce((s, p) => s + p.ids.length, 0);
  const total = prompts.length * n;
  const promptOf = (index: number) => Math.floor(index / n);
  if (maxTokens === 0) {
    scoreOnly(ctx, res, { prompts, n, echoed, logprobs: logprobsN !== undefined, stream, includeUsage, promptTokens });
    return;
  }

  const life = new RequestLifecycle(ctx, res, {
    idPrefix: "cmpl",
    chunkObject: "text_completion",
    choices: total,
    promptTokens,
    includeUsage,
    errorParam: "prompt",
  });
  const texts: string[] = new Array<string>(total).fill("");
  const finish: (string | null)[] = new Array<string | null>(total).fill(null);
  const lps: LegacyLogprobs[] = Array.from({ length: total }, () => emptyLogprobs());
  // Generated tokens' logprobs not yet sent: a token's text can be held back (a possible stop string).
  const pending: LegacyLogprobs[] = Array.from({ length: total }, () => emptyLogprobs());

  const requests: SequenceRequest[] = [];
  prompts.forEach((p, pi) => {
    for (let k = 0; k < n; k++) {
      const index = pi * n + k;
      if (echo) texts[index] = p.text;
      let offset = texts[index]!.length;
      const options = {
        ...seedForChoice(sampling, k),
        ...(adapters.length > 0 ? { adapters } : {}),
        maxNewTokens: maxTokens,
        ...(logprobsN !== undefined ? { logprobs: true, topLogprobs: logprobsN } : {}),
      };
      requests.push(
        life.sequence(index, p.ids, options, (event: TokenEvent) => {
          if (event.id !== null && event.logprob !== undefined) {
            for (const l of [lps[index]!, pending[index]!])
              addToken(ctx.tokenizer, l, event.id, event.logprob, event.topLogprobs ?? [], offset);
          }
          offset += event.text.length;
          texts[index] += event.text;
          if (event.done && event.finishReason === "abort") return;
          if (event.done) finish[index] = event.finishReason === "length" ? "length" : "stop";
          if (event.text.length > 0 || event.done) {
            const l = logprobsN !== undefined ? pending[index]! : null;
            pending[index] = emptyLogprobs();
            life.send([{ index, text: event.text, logprobs: l, finish_reason: finish[index] }]);
          }
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
    choices: texts.map((text, i) => ({
      index: i,
      text,
      logprobs: logprobsN === undefined ? null : echoed[promptOf(i)] ? concat(echoed[promptOf(i)]!, lps[i]!) : lps[i]!,
      finish_reason: finish[i],
    })),
    usage: life.usage(),
  });
  life.submit(requests, stream, answer, () => {
    if (echo) texts.forEach((t, index) => life.send([{ index, text: t, logprobs: echoed[promptOf(index)], finish_reason: null }]));
  });
}

/** `max_tokens: 0` with `echo`: the prompts (and their logprobs) come back, nothing is generated. */
function scoreOnly(
  ctx: ServerContext,
  res: ServerResponse,
  o: {
    prompts: { ids: number[]; text: string }[];
    n: number;
    echoed: (LegacyLogprobs | null)[];
    logprobs: boolean;
    stream: boolean;
    includeUsage: boolean;
    promptTokens: number;
  },
): void {
  const id = requestId("cmpl");
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: o.promptTokens, completion_tokens: 0, total_tokens: o.promptTokens };
  const choices = o.prompts.flatMap((p, pi) =>
    Array.from({ length: o.n }, (_, k) => ({
      index: pi * o.n + k,
      text: p.text,
      logprobs: o.logprobs ? o.echoed[pi] : null,
      finish_reason: "length",
    })),
  );
  const head = { id, object: "text_completion", created, model: ctx.modelId, system_fingerprint: null };
  if (!o.stream) {
    sendJson(res, 200, { ...head, choices, usage });
    return;
  }
  const sse = new SseWriter(res);
  for (const c of choices) sse.send({ ...head, choices: [c], ...(o.includeUsage ? { usage: null } : {}) });
  if (o.includeUsage) sse.send({ ...head, choices: [], usage });
  sse.end();
}
