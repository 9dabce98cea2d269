// @ts-check
/**
 * The server page's transport: POST /v1/chat/completions with `stream: true` and read the
 * server-sent events as OpenAI sends them (`data: {chunk}` … `data: [DONE]`). Aborting the
 * signal aborts the fetch, which closes the connection; the server sees the close and ends
 * the generation.
 *
 * @typedef {{ role: "system" | "user" | "assistant", content: string }} ChatMessage
 * @typedef {{ temperature: number, topP: number, maxTokens: number, seed: number | null }} Sampling
 * @typedef {{ text?: string, usage?: { completionTokens: number, promptTokens: number }, finishReason?: string }} StreamEvent
 */

/** An HTTP or API error with the server's own message. */
export class ChatError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.name = "ChatError";
    this.status = status;
  }
}

/**
 * Splits an event stream into its `data:` payloads (one per event, multi-line data joined).
 * @param {ReadableStream<Uint8Array>} body @returns {AsyncGenerator<string>}
 */
export async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  /** @type {string[]} */
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl).replace(/\r$/, "");
        pending = pending.slice(nl + 1);
        if (line === "") {
          if (data.length > 0) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
      }
    }
    if (data.length > 0) yield data.join("\n");
  } finally {
    reader.releaseLock();
  }
}

/**
 * Streams one chat completion.
 * @param {{ baseUrl?: string, model: string, apiKey?: string, messages: ChatMessage[], sampling: Sampling, signal: AbortSignal }} request
 * @returns {AsyncGenerator<StreamEvent>}
 */
export async function* streamChat(request) {
  const { sampling } = request;
  /** @type {Record<string, unknown>} */
  const body = {
    messages: request.messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: sampling.temperature,
    top_p: sampling.topP,
    max_tokens: sampling.maxTokens,
  };
  if (request.model) body.model = request.model;
  if (sampling.seed !== null) body.seed = sampling.seed;
  /** @type {Record<string, string>} */
  const headers = { "content-type": "application/json" };
  if (request.apiKey) headers.authorization = `Bearer ${request.apiKey}`;
  const res = await fetch(`${request.baseUrl ?? ""}/v1/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: request.signal,
  });
  if (!res.ok || !res.body) throw new ChatError(await errorMessage(res), res.status);
  for await (const data of sseData(res.body)) {
    if (data === "[DONE]") return;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new ChatError(chunk.error.message ?? "the server reported an error", 500);
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) yield { text: choice.delta.content };
    if (choice?.finish_reason) yield { finishReason: choice.finish_reason };
    if (chunk.usage) yield { usage: { completionTokens: chunk.usage.completion_tokens, promptTokens: chunk.usage.prompt_tokens } };
  }
}

/** @param {Response} res */
async function errorMessage(res) {
  const text = await res.text().catch(() => "");
  try {
    const message = JSON.parse(text)?.error?.message;
    if (typeof message === "string") return `${res.status}: ${message}`;
  } catch {
    // not JSON: fall through to the status line
  }
  return `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ""}`;
}

/**
 * What /v1/models says about the served model.
 * @param {{ baseUrl?: string, apiKey?: string }} options
 * @returns {Promise<{ id: string, contextLength: number | null, randomWeights: boolean }>}
 */
export async function fetchModel(options) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const res = await fetch(`${options.baseUrl ?? ""}/v1/models`, { headers });
  if (!res.ok) throw new ChatError(await errorMessage(res), res.status);
  const card = (await res.json())?.data?.[0];
  if (!card || typeof card.id !== "string") throw new ChatError("/v1/models listed no model", 500);
  return {
    id: card.id,
    contextLength: typeof card.context_length === "number" ? card.context_length : null,
    randomWeights: card.random_weights === true,
  };
}
