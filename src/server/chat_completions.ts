/**
 * POST /v1/chat/completions: messages → chat template (with tools) → n sequences in the
 * scheduler → one JSON answer, or server-sent events as OpenAI streams them:
 * a role chunk per choice, content deltas (`reasoning_content` deltas for a reasoning
 * model's `<think>` part), tool-call deltas (id and name first, then the arguments in
 * pieces), a chunk with the finish_reason, an optional usage chunk, [DONE].
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import { schemaLimits } from "./limits.js";
import { outputConstraints, prepareConstraints, readMessages, readResponseFormat, readTools } from "./chat_request.js";
import { checkPromptFits, logprobEntry, requestId, type LogprobEntry, type ServerContext } from "./context.js";
import { requestAdapters } from "./adapters.js";
import { invalidField } from "./errors.js";
import { RequestLifecycle } from "./request_lifecycle.js";
import { readN, readSampling, seedForChoice } from "./sampling_params.js";
import type { SequenceRequest } from "./scheduler.js";
import { AnswerParser, type AnswerSegment } from "./answer_parser.js";
import { promptOpensThink, readReasoningFormat } from "./reasoning.js";
import { Fields, MAX_LOGPROBS, requireObject } from "./validate.js";
import { encodeChecked } from "./prompt_tokens.js";

const ARGUMENT_CHUNK = 24;

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

class Choice {
  content = "";
  reasoning = "";
  readonly toolCalls: ToolCallOut[] = [];
  logprobs: LogprobEntry[] = [];
  /** Logprobs not yet sent in a stream chunk. */
  pendingLogprobs: LogprobEntry[] = [];
  finishReason: string | null = null;
  constructor(
    readonly index: number,
    readonly parser: AnswerParser,
  ) {}

  segments(text: string, done: boolean, truncated: boolean): AnswerSegment[] {
    const out = this.parser.push(text);
    if (done) out.push(...this.parser.finish(truncated));
    return out;
  }
}

export async function handleChatCompletions(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const adapters = requestAdapters(ctx, f.string("model"), f.raw("lora"));
  const messages = readMessages(f);
  const toolSetup = await readTools(f, schemaLimits(ctx.limits));
  const schema = await readResponseFormat(f, schemaLimits(ctx.limits));
  await prepareConstraints(ctx, schema, toolSetup.force);
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.generationConfig, ctx.eosIds);
  const n = readN(f, ctx.maxChoices);
  const stream = f.boolean("stream") ?? false;
  const includeUsage = f.object("stream_options")?.boolean("include_usage") ?? false;
  const logprobs = f.boolean("logprobs") ?? false;
  const topLogprobs = f.integer("top_logprobs", 0, MAX_LOGPROBS);
  if (topLogprobs !== undefined && topLogprobs > 0 && !logprobs) throw invalidField("top_logprobs", "requires logprobs: true");
  const reasoningFormat = readReasoningFormat(f) ?? ctx.reasoningFormat;

  let prompt: string;
  try {
    prompt = ctx.tokenizer.applyChatTemplate(messages, {
      addGenerationPrompt: true,
      ...(toolSetup.tools.length > 0 ? { tools: toolSetup.tools } : {}),
    });
  } catch (err) {
    throw invalidField("messages", `the chat template refused these messages: ${(err as Error).message}`);
  }
  const promptIds = await encodeChecked(ctx.tokenizer, prompt, { addSpecialTokens: false }, ctx.contextLength, "messages");
  checkPromptFits(ctx, promptIds.length, "messages");

  const life = new RequestLifecycle(ctx, res, {
    idPrefix: "chatcmpl",
    chunkObject: "chat.completion.chunk",
    choices: n,
    promptTokens: promptIds.length,
    includeUsage,
    errorParam: "messages",
  });
  const parseTools = toolSetup.parse && schema === null;
  const toolNames = toolSetup.tools.map((t) => (t as { function: { name: string } }).function.name);
  // Constrained output starts at once with JSON or a call, never inside a prompt-opened <think>.
  const thinkOpened = schema === null && toolSetup.force === null && promptOpensThink(prompt);
  const choices = Array.from(
    { length: n },
    (_, i) => new Choice(i, new AnswerParser({ reasoningFormat, thinkOpened, tools: parseTools ? toolNames : null })),
  );

  const emitSegments = (c: Choice, segs: AnswerSegment[]) => {
    for (const s of segs) {
      if (s.type === "reasoning") {
        c.reasoning += s.text;
        if (life.streaming) {
          const lp = c.pendingLogprobs.length > 0 ? { content: c.pendingLogprobs } : null;
          c.pendingLogprobs = [];
          life.send([{ index: c.index, delta: { reasoning_content: s.text }, logprobs: lp, finish_reason: null }]);
        }
      } else if (s.type === "content") {
        c.content += s.text;
        if (life.streaming) {
          const lp = c.pendingLogprobs.length > 0 ? { content: c.pendingLogprobs } : null;
          c.pendingLogprobs = [];
          life.send([{ index: c.index, delta: { content: s.text }, logprobs: lp, finish_reason: null }]);
        }
      } else {
        const k = c.toolCalls.length;
        const call: ToolCallOut = {
          id: `call_${requestId("").slice(1)}`,
          type: "function",
          function: { name: s.call.name, arguments: s.call.arguments },
        };
        c.toolCalls.push(call);
        if (life.streaming) {
          life.send([
            {
              index: c.index,
              delta: { tool_calls: [{ index: k, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] },
              logprobs: null,
              finish_reason: null,
            },
          ]);
          for (let at = 0; at < call.function.arguments.length; at += ARGUMENT_CHUNK) {
            const piece = call.function.arguments.slice(at, at + ARGUMENT_CHUNK);
            life.send([
              {
                index: c.index,
                delta: { tool_calls: [{ index: k, function: { arguments: piece } }] },
                logprobs: null,
                finish_reason: null,
              },
            ]);
          }
        }
      }
    }
  };

  const answer = () => ({
    id: life.id,
    object: "chat.completion",
    created: life.created,
    model: ctx.modelId,
    system_fingerprint: null,
    choices: choices.map((c) => ({
      index: c.index,
      message: {
        role: "assistant",
        content: c.toolCalls.length > 0 && c.content === "" ? null : c.content,
        ...(c.reasoning !== "" ? { reasoning_content: c.reasoning } : {}),
        ...(c.toolCalls.length > 0 ? { tool_calls: c.toolCalls } : {}),
        refusal: null,
      },
      logprobs: logprobs ? { content: c.logprobs, refusal: null } : null,
      finish_reason: c.finishReason,
    })),
    usage: life.usage(),
  });

  const requests: SequenceRequest[] = choices.map((c) => {
    const processors = outputConstraints(ctx, schema, toolSetup.force);
    const options = {
      ...seedForChoice(sampling, c.index),
      ...(adapters.length > 0 ? { adapters } : {}),
      maxNewTokens: sampling.maxNewTokens ?? ctx.contextLength - promptIds.length,
      logitsProcessors: processors,
      ...(logprobs ? { logprobs: true, topLogprobs: topLogprobs ?? 0 } : {}),
    };
    return life.sequence(c.index, promptIds, options, (event: TokenEvent) => {
      if (logprobs && event.id !== null && event.logprob !== undefined) {
        const e = logprobEntry(ctx.tokenizer, event.id, event.logprob, event.topLogprobs);
        c.logprobs.push(e);
        c.pendingLogprobs.push(e);
      }
      emitSegments(c, c.segments(event.text, event.done, event.finishReason === "length"));
      if (!event.done || event.finishReason === "abort") return; // abort: the client left, nobody to answer
      c.finishReason = event.finishReason === "length" ? "length" : c.toolCalls.length > 0 ? "tool_calls" : "stop";
      if (life.streaming) {
        const lp = c.pendingLogprobs.length > 0 ? { content: c.pendingLogprobs } : null;
        life.send([{ index: c.index, delta: {}, logprobs: lp, finish_reason: c.finishReason }]);
      }
    });
  });
  life.submit(requests, stream, answer, () => {
    for (const c of choices)
      life.send([{ index: c.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]);
  });
}
