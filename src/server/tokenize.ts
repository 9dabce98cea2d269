/**
 * POST /tokenize and /detokenize in llama.cpp's shapes:
 * `{content, add_special?, with_pieces?}` → `{tokens}` and `{tokens}` → `{content}`.
 * /tokenize refuses texts of more tokens than the server's limit, so one request cannot ask
 * for a reply of tens of megabytes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerContext } from "./context.js";
import { readPrompts } from "./completions.js";
import { errors, invalidField } from "./errors.js";
import { sendJson } from "./http_util.js";
import { encodeChecked } from "./prompt_tokens.js";
import { Fields, describe, requireObject } from "./validate.js";

export async function handleTokenize(ctx: ServerContext, body: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  const maxTokens = ctx.limits.maxTokenizeTokens;
  const f = new Fields(requireObject(body, "body"));
  const content = f.string("content") ?? f.string("text");
  if (content === undefined) throw invalidField("content", "is required", "missing_required_parameter");
  const addSpecial = f.boolean("add_special") ?? false;
  const withPieces = f.boolean("with_pieces") ?? false;
  // In pieces, refused as soon as the count passes the cap (prompt_tokens.ts).
  const ids = await encodeChecked(ctx.tokenizer, content, { addSpecialTokens: addSpecial }, maxTokens + 1, "content", (n) =>
    errors.tokenizeOutputTooLarge(n, maxTokens),
  );
  if (ids.length > maxTokens) throw errors.tokenizeOutputTooLarge(ids.length, maxTokens);
  if (withPieces) {
    sendJson(res, 200, { tokens: ids.map((id) => ({ id, piece: ctx.tokenizer.decode([id]) })) });
    return;
  }
  sendJson(res, 200, { tokens: ids, count: ids.length });
}

export async function handleDetokenize(ctx: ServerContext, body: unknown, _q: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  const tokens = f.raw("tokens");
  if (tokens === undefined) throw invalidField("tokens", "is required", "missing_required_parameter");
  if (!Array.isArray(tokens)) throw invalidField("tokens", `expected an array of token ids, got ${describe(tokens)}`, "invalid_type");
  const [{ text }] = tokens.length === 0 ? [{ text: "" }] : await readPrompts(ctx, tokens, "tokens");
  sendJson(res, 200, { content: text });
}
