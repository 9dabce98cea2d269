/**
 * Errors in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}` with the
 * HTTP status OpenAI uses for the same situation, so SDKs raise their usual error classes.
 */

export type ApiErrorType = "invalid_request_error" | "authentication_error" | "not_found_error" | "rate_limit_error" | "server_error";

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
    new ApiError(413, `The request body exceeds the limit of ${limit} bytes.`, "invalid_request_error", null, "request_too_large"),
  contextOverflow: (param: string, promptTokens: number, ctx: number) =>
    new ApiError(
      400,
      `This model's maximum context length is ${ctx} tokens, but the prompt has ${promptTokens} tokens (at least one more is needed to answer).`,
      "invalid_request_error",
      param,
      "context_length_exceeded",
    ),
  queueFull: (bound: number) =>
    new ApiError(429, `The server is busy: ${bound} requests are already waiting. Retry later.`, "rate_limit_error", null, "queue_full"),
  unavailable: (why: string) => new ApiError(503, why, "server_error", null, "unavailable"),
  internal: (why: string) => new ApiError(500, why, "server_error", null, "internal_error"),
};
