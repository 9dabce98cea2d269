/**
 * Errors in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}` with the
 * HTTP status OpenAI uses for the same situation, so SDKs raise their usual error classes.
 */

export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error";

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = "invalid_request_error",
    /** The request field at fault (OpenAI's `param`), e.g. "messages[1].role". */
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the field: the usual answer to a malformed request. */
export function invalidField(param: string, message: string, code: string | null = "invalid_value"): ApiError {
  return new ApiError(400, `${param}: ${message}`, "invalid_request_error", param, code);
}

export const errors = {
  badJson: (detail: string) =>
    new ApiError(400, `the request body is not valid JSON: ${detail}`, "invalid_request_error", null, "invalid_json"),
  unauthorized: () =>
    new ApiError(
      401,
      "Incorrect or missing API key: send it as 'Authorization: Bearer KEY'.",
      "authentication_error",
      null,
      "invalid_api_key",
    ),
  unknownModel: (model: string, served: string) =>
    new ApiError(
      404,
      `The model '${model}' does not exist; this server serves '${served}'.`,
      "not_found_error",
      "model",
      "model_not_found",
    ),
  notFound: (method: string, path: string) => new ApiError(404, `No route for ${method} ${path}.`, "not_found_error", null, "unknown_url"),
  methodNotAllowed: (method: string, path: string) =>
    new ApiError(405, `${path} does not accept ${method}.`, "invalid_request_error", null, "method_not_allowed"),
  tooLarge: (limit: number) =>
    new ApiError(
      413,
      `The request body exceeds the limit of ${limit} bytes (--body-limit).`,
      "invalid_request_error",
      null,
      "request_too_large",
    ),
  unsupportedMediaType: (given: string | undefined) =>
    new ApiError(
      415,
      `${given ? `Content-Type '${given}' is not accepted` : "The request has no Content-Type"}: send the body as JSON with 'Content-Type: application/json'.`,
      "invalid_request_error",
      null,
      "unsupported_media_type",
    ),
  badUri: (detail: string) => new ApiError(400, `The request URL is malformed: ${detail}`, "invalid_request_error", null, "invalid_url"),
  tooDeep: (limit: number) =>
    new ApiError(
      400,
      `The request body nests JSON deeper than ${limit} levels (the server's JSON depth limit).`,
      "invalid_request_error",
      null,
      "json_too_deep",
    ),
  readTimeout: (seconds: number) =>
    new ApiError(
      408,
      `The request body did not arrive within ${seconds} s (--read-timeout).`,
      "invalid_request_error",
      null,
      "request_timeout",
    ),
  deadline: (seconds: number) =>
    new ApiError(
      408,
      `The request did not finish within its deadline of ${seconds} s (--request-timeout).`,
      "invalid_request_error",
      null,
      "deadline_exceeded",
    ),
  tooManyConnections: (limit: number) =>
    new ApiError(
      503,
      `The server holds its limit of ${limit} open connections (--max-connections). Retry later.`,
      "server_error",
      null,
      "too_many_connections",
    ),
  hostNotAllowed: (host: string) =>
    new ApiError(
      403,
      `Host '${host}' is not allowed: this server answers only the names it was bound to (add more with --allowed-host).`,
      "permission_error",
      null,
      "host_not_allowed",
    ),
  tooManyInputs: (param: string, given: number, limit: number) =>
    new ApiError(
      400,
      `${param}: at most ${limit} inputs per request (--max-embedding-inputs), got ${given}.`,
      "invalid_request_error",
      param,
      "too_many_inputs",
    ),
  tokenizeOutputTooLarge: (tokens: number, limit: number) =>
    new ApiError(
      400,
      `content: the text has ${tokens} tokens or more, over this server's /tokenize limit of ${limit} (--max-tokenize-tokens).`,
      "invalid_request_error",
      "content",
      "too_many_tokens",
    ),
  contextOverflow: (param: string, promptTokens: number, ctx: number) =>
    new ApiError(
      400,
      `This model's maximum context length is ${ctx} tokens, but the prompt has ${promptTokens} tokens (at least one more is needed to answer).`,
      "invalid_request_error",
      param,
      "context_length_exceeded",
    ),
  contextOverflowAtLeast: (param: string, atLeast: number, ctx: number) =>
    new ApiError(
      400,
      `This model's maximum context length is ${ctx} tokens, but the prompt has at least ${atLeast} tokens (counted before tokenizing all of it).`,
      "invalid_request_error",
      param,
      "context_length_exceeded",
    ),
  queueFull: (bound: number) =>
    new ApiError(429, `The server is busy: ${bound} requests are already waiting. Retry later.`, "rate_limit_error", null, "queue_full"),
  unavailable: (why: string) => new ApiError(503, why, "server_error", null, "unavailable"),
  internal: (why: string) => new ApiError(500, why, "server_error", null, "internal_error"),
};
