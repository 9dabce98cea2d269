/**
 * POST /v1/responses: OpenAI's Responses API over the same template, scheduler and parsers
 * as chat completions. `input` (a string or items) and `instructions` become chat messages
 * (responses_input.ts); the answer is a list of output items: a `reasoning` item for a
 * reasoning model's `<think>` part, a `message` with one `output_text` part, and one
 * `function_call` item per tool call. Streamed, it is the event sequence OpenAI sends
 * (`event:` and `data:` lines, numbered by `sequence_number`):
 *
 *   response.created, response.in_progress,
 *   per item: response.output_item.added,
 *     text:      response.content_part.added, response.output_text.delta…, response.output_text.done, response.content_part.done
 *     reasoning: response.content_part.added, response.reasoning_text.delta…, response.reasoning_text.done, response.content_part.done
 *     call:      response.function_call_arguments.delta…, response.function_call_arguments.done
 *   response.output_item.done; then response.completed (or response.incomplete when
 *   max_output_tokens cut the answer, with incomplete_details.reason "max_output_tokens").
 *
 * `store` (default true, as OpenAI's) keeps the response in memory (response_store.ts) for
 * `previous_response_id` and `item_reference`; `store: false` keeps nothing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEvent } from "../generation/sequence_generator.js";
import type { ChatMessage } from "../tokenizer/types.js";
import { AnswerParser, type AnswerSegment } from "./answer_parser.js";
import { schemaLimits } from "./limits.js";
import { outputConstraints, prepareConstraints, readResponseFormat, readTools } from "./chat_request.js";
import { requestAdapters } from "./adapters.js";
import { checkPromptFits, logprobEntry, requestId, toApiError, type LogprobEntry, type ServerContext } from "./context.js";
import { ApiError, invalidField } from "./errors.js";
import { sendError, sendJson } from "./http_util.js";
import { promptOpensThink, readReasoningFormat } from "./reasoning.js";
import { ResponseStore } from "./response_store.js";
import { itemsToMessages, readInputItems } from "./responses_input.js";
import { readSampling } from "./sampling_params.js";
import { Fields, MAX_LOGPROBS, describe, isObject, requireObject, type Json, type JsonObject } from "./validate.js";
import { encodeChecked } from "./prompt_tokens.js";
import { inFlightOf } from "./in_flight.js";

const ARGUMENT_CHUNK = 24;

/** One store per server (a context is one server). */
const stores = new WeakMap<ServerContext, ResponseStore>();
function storeOf(ctx: ServerContext): ResponseStore {
  let s = stores.get(ctx);
  if (!s) stores.set(ctx, (s = new ResponseStore()));
  return s;
}

/** Responses tools ({type, name, parameters}) and tool_choice in the chat shape readTools reads. */
function chatToolFields(f: Fields): Fields {
  const tools = (f.array("tools") ?? []).map((t, i) => {
    const p = `tools[${i}]`;
    if (!isObject(t)) throw invalidField(p, `expected an object, got ${describe(t)}`, "invalid_type");
    const tf = new Fields(t, p);
    const type = tf.requiredString("type");
    if (type !== "function") throw invalidField(`${p}.type`, `only "function" tools are supported, got '${type}'`);
    const fn: JsonObject = { name: tf.requiredString("name") };
    const description = tf.string("description");
    if (description !== undefined) fn.description = description;
    const parameters = tf.object("parameters");
    if (parameters) fn.parameters = parameters.obj;
    return { type: "function", function: fn } as JsonObject;
  });
  const choice = f.raw("tool_choice");
  const chatChoice: Json | undefined = isObject(choice)
    ? { type: "function", function: { name: new Fields(choice, "tool_choice").requiredString("name") } }
    : choice;
  return new Fields({ tools, ...(chatChoice !== undefined ? { tool_choice: chatChoice } : {}) });
}

/** `text.format` in the chat `response_format` shape readResponseFormat reads (errors name text.format). */
function chatResponseFormat(f: Fields): Fields {
  const format = f.object("text")?.object("format");
  if (!format) return new Fields({});
  const type = format.requiredString("type");
  if (type !== "json_schema") return new Fields({ response_format: { type } });
  const schema = format.raw("schema");
  return new Fields({
    response_format: { type, json_schema: { name: format.string("name") ?? "response", ...(schema !== undefined ? { schema } : {}) } },
  });
}

/** Runs a reader written for chat fields, naming the Responses field in its errors. */
async function renamed<T>(read: () => Promise<T>, from: string, to: string): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof ApiError) || err.param === null || !err.param.startsWith(from)) throw err;
    const param = to + err.param.slice(from.length);
    throw new ApiError(err.status, err.message.replace(err.param, param), err.type, param, err.code);
  }
}

interface OutputItem extends JsonObject {
  id: string;
  type: string;
}

export async function handleResponses(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const adapters = requestAdapters(ctx, f.string("model"), f.raw("lora"));
  for (const unsupported of ["background", "conversation", "prompt"] as const) {
    if (f.has(unsupported) && f.raw(unsupported) !== false)
      throw invalidField(unsupported, "is not supported by this server (it runs one model locally and keeps no conversations)");
  }
  const store = storeOf(ctx);
  const keep = f.boolean("store") ?? true;
  const previousId = f.string("previous_response_id");
  const previous = previousId === undefined ? undefined : store.response(previousId);
  if (previousId !== undefined && !previous)
    throw invalidField(
      "previous_response_id",
      `no stored response '${previousId}': this server keeps its last ${store.capacity} responses created with store: true, in memory only; send the whole conversation as input instead`,
    );
  const instructions = f.string("instructions");
  const given = readInputItems(f.raw("input"), store);
  const items = previous ? [...previous.input, ...previous.output, ...given] : given;
  const messages: ChatMessage[] = itemsToMessages(items, instructions);
  const toolSetup = await renamed(() => readTools(chatToolFields(f), schemaLimits(ctx.limits)), "tools[", "tools[");
  const schema = await renamed(
    () => readResponseFormat(chatResponseFormat(f), schemaLimits(ctx.limits)),
    "response_format.json_schema",
    "text.format",
  );
  await prepareConstraints(ctx, schema, toolSetup.force);
  const sampling = readSampling(f, ctx.model.vocabSize, ctx.generationConfig, ctx.eosIds, { maxTokenFields: ["max_output_tokens"] });
  const reasoningFormat = readReasoningFormat(f) ?? ctx.reasoningFormat;
  const stream = f.boolean("stream") ?? false;
  // OpenAI returns the text's logprobs only when `include` asks for them.
  const include = (f.array("include") ?? []).filter((x): x is string => typeof x === "string");
  const logprobs = include.includes("message.output_text.logprobs");
  const topLogprobs = f.integer("top_logprobs", 0, MAX_LOGPROBS) ?? 0;

  let prompt: string;
  try {
    prompt = ctx.tokenizer.applyChatTemplate(messages, {
      addGenerationPrompt: true,
      ...(toolSetup.tools.length > 0 ? { tools: toolSetup.tools } : {}),
    });
  } catch (err) {
    throw invalidField("input", `the chat template refused these messages: ${(err as Error).message}`);
  }
  const promptIds = await encodeChecked(ctx.tokenizer, prompt, { addSpecialTokens: false }, ctx.contextLength, "input");
  checkPromptFits(ctx, promptIds.length, "input");
  const parseTools = toolSetup.parse && schema === null;
  const toolNames = toolSetup.tools.map((t) => (t as { function: { name: string } }).function.name);
  const parser = new AnswerParser({
    reasoningFormat,
    thinkOpened: schema === null && toolSetup.force === null && promptOpensThink(prompt),
    tools: parseTools ? toolNames : null,
  });

  const id = requestId("resp");
  const createdAt = Math.floor(Date.now() / 1000);
  const output: OutputItem[] = [];
  let outputTokens = 0;
  let reasoningTokens = 0;
  const echoTools = (f.array("tools") ?? []) as Json[];
  const envelope = (status: string, incomplete: boolean): JsonObject => ({
    id,
    object: "response",
    created_at: createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
    instructions: instructions ?? null,
    max_output_tokens: sampling.maxNewTokens ?? null,
    metadata: (f.object("metadata")?.obj ?? {}) as JsonObject,
    model: ctx.modelId,
    output: status === "in_progress" ? [] : output,
    parallel_tool_calls: f.boolean("parallel_tool_calls") ?? true,
    previous_response_id: previousId ?? null,
    reasoning: { effort: null, summary: null },
    store: keep,
    temperature: sampling.temperature ?? 1,
    text: { format: (f.object("text")?.object("format")?.obj ?? { type: "text" }) as JsonObject },
    tool_choice: f.raw("tool_choice") ?? "auto",
    tools: echoTools,
    top_p: sampling.topP ?? 1,
    top_logprobs: topLogprobs,
    truncation: "disabled",
    usage:
      status === "in_progress"
        ? null
        : {
            input_tokens: promptIds.length,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: outputTokens,
            output_tokens_details: { reasoning_tokens: reasoningTokens },
            total_tokens: promptIds.length + outputTokens,
          },
    user: f.string("user") ?? null,
  });

  // Opened once the scheduler has taken the request (a full queue is still a plain 429).
  let events: EventWriter | null = null;
  // The item being written (reasoning or message text), open until another kind follows.
  let open: { item: OutputItem; kind: "reasoning" | "message"; text: string; logprobs: LogprobEntry[] } | null = null;
  // Logprobs of tokens whose text has not come out of the parsers yet.
  let pendingLogprobs: LogprobEntry[] = [];
  const closeOpen = () => {
    if (!open) return;
    const { item, kind, text } = open;
    const lp = open.logprobs as unknown as Json[];
    open = null;
    const part: JsonObject =
      kind === "message" ? { type: "output_text", text, annotations: [], logprobs: lp } : { type: "reasoning_text", text };
    item.content = [part];
    item.status = "completed";
    if (!events) return;
    const at = { item_id: item.id, output_index: output.indexOf(item), content_index: 0 };
    events.send(kind === "message" ? "response.output_text.done" : "response.reasoning_text.done", {
      ...at,
      text,
      ...(kind === "message" ? { logprobs: lp } : {}),
    });
    events.send("response.content_part.done", { ...at, part });
    events.send("response.output_item.done", { output_index: at.output_index, item });
  };
  const write = (kind: "reasoning" | "message", text: string) => {
    if (open && open.kind !== kind) closeOpen();
    if (!open) {
      const item: OutputItem =
        kind === "message"
          ? { id: requestId("msg"), type: "message", status: "in_progress", role: "assistant", content: [] }
          : { id: requestId("rs"), type: "reasoning", status: "in_progress", summary: [], content: [] };
      output.push(item);
      open = { item, kind, text: "", logprobs: [] };
      if (events) {
        const at = { item_id: item.id, output_index: output.length - 1, content_index: 0 };
        events.send("response.output_item.added", { output_index: at.output_index, item: { ...item } });
        const part =
          kind === "message" ? { type: "output_text", text: "", annotations: [], logprobs: [] } : { type: "reasoning_text", text: "" };
        events.send("response.content_part.added", { ...at, part });
      }
    }
    open.text += text;
    // A delta carries the logprobs of the tokens that brought its text (reasoning's are dropped).
    const lp = kind === "message" ? pendingLogprobs : [];
    pendingLogprobs = [];
    open.logprobs.push(...lp);
    events?.send(kind === "message" ? "response.output_text.delta" : "response.reasoning_text.delta", {
      item_id: open.item.id,
      output_index: output.indexOf(open.item),
      content_index: 0,
      delta: text,
      ...(kind === "message" ? { logprobs: lp } : {}),
    });
  };
  const emit = (segments: AnswerSegment[]) => {
    for (const s of segments) {
      if (s.type === "reasoning") write("reasoning", s.text);
      else if (s.type === "content") write("message", s.text);
      else {
        closeOpen();
        const item: OutputItem = {
          id: requestId("fc"),
          type: "function_call",
          status: "completed",
          call_id: `call_${requestId("").slice(1)}`,
          name: s.call.name,
          arguments: s.call.arguments,
        };
        output.push(item);
        if (!events) continue;
        const index = output.length - 1;
        events.send("response.output_item.added", { output_index: index, item: { ...item, arguments: "", status: "in_progress" } });
        for (let at = 0; at < s.call.arguments.length; at += ARGUMENT_CHUNK)
          events.send("response.function_call_arguments.delta", {
            item_id: item.id,
            output_index: index,
            delta: s.call.arguments.slice(at, at + ARGUMENT_CHUNK),
          });
        events.send("response.function_call_arguments.done", {
          item_id: item.id,
          output_index: index,
          name: s.call.name,
          arguments: s.call.arguments,
        });
        events.send("response.output_item.done", { output_index: index, item });
      }
    }
  };

  const abort = new AbortController();
  // Deadline and shutdown end the request through its in-flight record (server.ts); a full socket pauses it.
  inFlightOf(res)?.signal.addEventListener("abort", () => abort.abort(), { once: true });
  res.on("drain", () => ctx.scheduler.wake());
  res.on("close", () => {
    if (!res.writableEnded) abort.abort();
  });
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    abort.abort();
    const apiErr = toApiError(err, "input");
    if (events) {
      events.send("error", { code: apiErr.code, message: apiErr.message, param: apiErr.param });
      events.end();
    } else sendError(res, apiErr);
  };
  const finish = (truncated: boolean) => {
    closeOpen();
    const status = truncated ? "incomplete" : "completed";
    const response = envelope(status, truncated);
    if (keep) store.put(id, { input: items, output, response });
    if (events) {
      events.send(truncated ? "response.incomplete" : "response.completed", { response });
      events.end();
    } else sendJson(res, 200, response);
  };

  let inReasoning = false;
  ctx.scheduler.submit([
    {
      promptIds,
      options: {
        ...sampling,
        ...(adapters.length > 0 ? { adapters } : {}),
        maxNewTokens: sampling.maxNewTokens ?? ctx.contextLength - promptIds.length,
        logitsProcessors: outputConstraints(ctx, schema, toolSetup.force),
        ...(logprobs ? { logprobs: true, topLogprobs } : {}),
      },
      signal: abort.signal,
      onError: fail,
      blocked: () => events !== null && res.writableNeedDrain,
      onEvent: (event: TokenEvent) => {
        if (failed) return;
        if (event.id !== null) {
          outputTokens++;
          if (inReasoning) reasoningTokens++;
        }
        if (event.done && event.finishReason === "abort") return;
        if (logprobs && event.id !== null && event.logprob !== undefined)
          pendingLogprobs.push(logprobEntry(ctx.tokenizer, event.id, event.logprob, event.topLogprobs));
        const truncated = event.done && event.finishReason === "length";
        const segments = parser.push(event.text);
        if (event.done) segments.push(...parser.finish(truncated));
        emit(segments);
        inReasoning = open?.kind === "reasoning";
        if (event.done) finish(truncated);
      },
    },
  ]);
  if (stream) {
    events = new EventWriter(res);
    events.send("response.created", { response: envelope("in_progress", false) });
    events.send("response.in_progress", { response: envelope("in_progress", false) });
  }
}

/** Server-sent events as the Responses API writes them: `event: TYPE` and `data: {type, sequence_number, …}`. */
class EventWriter {
  private sequence = 0;
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
  }

  send(type: string, data: Record<string, unknown>): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    const payload = { type, sequence_number: this.sequence++, ...data };
    this.res.write(`event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`);
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}

/** GET /v1/responses/ID: a response kept by `store: true`, as it was returned. */
/** The id of GET/DELETE /v1/responses/ID. */
function responseIdOf(req: IncomingMessage): string {
  return decodeURIComponent((req.url ?? "").split("?")[0]!.replace(/\/+$/, "").slice("/v1/responses/".length));
}

function noSuchResponse(ctx: ServerContext, id: string): ApiError {
  return new ApiError(
    404,
    `No response '${id}': this server keeps its last ${storeOf(ctx).capacity} responses created with store: true, in memory only.`,
    "not_found_error",
    "response_id",
    "response_not_found",
  );
}

export async function handleGetResponse(ctx: ServerContext, _b: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = responseIdOf(req);
  const stored = storeOf(ctx).response(id);
  if (!stored) throw noSuchResponse(ctx, id);
  sendJson(res, 200, stored.response);
}

/** DELETE /v1/responses/ID: forgets a stored response (OpenAI answers the same shape). */
export async function handleDeleteResponse(ctx: ServerContext, _b: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = responseIdOf(req);
  if (!storeOf(ctx).delete(id)) throw noSuchResponse(ctx, id);
  sendJson(res, 200, { id, object: "response.deleted", deleted: true });
}
