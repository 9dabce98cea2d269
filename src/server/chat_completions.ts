/**
 * POST /v1/chat/completions: messages → chat template (with tools) → n sequences in the
 * scheduler → one JSON answer, or server-sent events as OpenAI streams them:
 * a role chunk per choice, content deltas, tool-call deltas (id and name first, then the
 * arguments in pieces), a chunk with the finish_reason, an optional usage chunk, [DONE].
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import { readMessages, readResponseFormat, readTools } from "./chat_request.js";
import { checkModel, checkPromptFits, logprobEntry, requestId, type LogprobEntry, type ServerContext } from "./context.js";
import { invalidField } from "./errors.js";
import { RequestLifecycle } from "./request_lifecycle.js";
import { JsonConstraint } from "../generation/constraints/json_constraint.js";
import { ToolCallConstraint } from "../generation/constraints/tool_constraint.js";
import { readN, readSampling, seedForChoice } from "./sampling_params.js";
import type { SequenceRequest } from "./scheduler.js";
import { ToolCallParser, type Segment } from "./tool_calls.js";
import { Fields, MAX_LOGPROBS, requireObject } from "./validate.js";

const ARGUMENT_CHUNK = 24;

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

class Choice {
  content = "";
  readonly toolCalls: ToolCallOut[] = [];
  logprobs: LogprobEntry[] = [];
  /** Logprobs not yet sent in a stream chunk. */
  pendingLogprobs: LogprobEntry[] = [];
  finishReason: string | null = null;
  constructor(
    readonly index: number,
    readonly parser: ToolCallParser | null,
  ) {}

  segments(text: string, done: boolean): Segment[] {
    const out: Segment[] = this.parser ? this.parser.push(text) : text ? [{ type: "content", text }] : [];
    if (done && this.parser) out.push(...this.parser.flush());
    return out;
  }
}

export async function handleChatCompletions(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  checkModel(ctx, f.string("model"));
  const messages = readMessages(f);
  const toolSetup = readTools(f);
  const schema = readResponseFormat(f);
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.generationConfig, ctx.eosIds);
  const n = readN(f, ctx.maxChoices);
  const stream = f.boolean("stream") ?? false;
  const includeUsage = f.object("stream_options")?.boolean("include_usage") ?? false;
  const logprobs = f.boolean("logprobs") ?? false;
  const topLogprobs = f.integer("top_logprobs", 0, MAX_LOGPROBS);
  if (topLogprobs !== undefined && topLogprobs > 0 && !logprobs) throw invalidField("top_logprobs", "requires logprobs: true");

  let prompt: string;
  try {
    prompt = ctx.tokenizer.applyChatTemplate(messages, {
      addGenerationPrompt: true,
      ...(toolSetup.tools.length > 0 ? { tools: toolSetup.tools } : {}),
    });
  } catch (err) {
    throw invalidField("messages", `the chat template refused these messages: ${(err as Error).message}`);
  }
  const promptIds = ctx.tokenizer.encode(prompt, { addSpecialTokens: false });
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
  const choices = Array.from({ length: n }, (_, i) => new Choice(i, parseTools ? new ToolCallParser() : null));

  const emitSegments = (c: Choice, segs: Segment[]) => {
    for (const s of segs) {
      if (s.type === "content") {
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
        ...(c.toolCalls.length > 0 ? { tool_calls: c.toolCalls } : {}),
        refusal: null,
      },
      logprobs: logprobs ? { content: c.logprobs, refusal: null } : null,
      finish_reason: c.finishReason,
    })),
    usage: life.usage(),
  });

  const requests: SequenceRequest[] = choices.map((c) => {
    // JSON mode wins over a forced tool call (the answer cannot be both).
    const processors = schema
      ? [new JsonConstraint(ctx.vocab(), schema, ctx.eosIds)]
      : toolSetup.force
        ? [new ToolCallConstraint(ctx.vocab(), toolSetup.force, ctx.eosIds)]
        : [];
    const options = {
      ...seedForChoice(sampling, c.index),
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
      emitSegments(c, c.segments(event.text, event.done));
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
