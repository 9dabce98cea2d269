/**
 * `responseFormat` for `generate()`/`stream()` (OpenAI's `response_format` shape): JSON mode
 * as a logits processor, the same one the server's `response_format` uses.
 *
 *   await generate(model, tokenizer, messages, { responseFormat: { type: "json_object" } });
 *   await generate(model, tokenizer, messages, {
 *     responseFormat: { type: "json_schema", json_schema: { schema: { type: "object", properties: { city: { type: "string" } } } } },
 *   });
 */
import { InvalidArgumentError } from "../../errors.js";
import type { TextTokenizer } from "../../tokenizer/types.js";
import type { LogitsProcessor } from "../logits_processors.js";
import { JsonConstraint, vocabIndex } from "./json_constraint.js";
import { ANY_OBJECT, type SchemaNode } from "./json_schema.js";
import { compileSchemaAsync, compileSchemaCached, type CompileOptions } from "./schema_cache.js";

export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | {
      readonly type: "json_schema";
      readonly json_schema: { readonly name?: string; readonly schema?: unknown; readonly strict?: boolean };
    };

function schemaOf(format: ResponseFormat): { schema: unknown } | SchemaNode | null {
  const type = (format as { type?: unknown } | null)?.type;
  if (type === "text") return null;
  if (type === "json_object") return ANY_OBJECT;
  if (type === "json_schema") {
    const js = (format as { json_schema?: unknown }).json_schema;
    if (typeof js !== "object" || js === null)
      throw new InvalidArgumentError("responseFormat.json_schema: expected an object with a `schema`");
    const schema = (js as { schema?: unknown }).schema;
    return schema === undefined ? ANY_OBJECT : { schema };
  }
  throw new InvalidArgumentError(`responseFormat.type: expected "text", "json_object" or "json_schema", got ${JSON.stringify(type)}`);
}

const PARAM = "responseFormat.json_schema.schema";

/** The compiled schema a response format asks for; null for free text. */
export function responseFormatSchema(format: ResponseFormat, options: CompileOptions = {}): SchemaNode | null {
  const s = schemaOf(format);
  return s === null || !("schema" in s) ? s : compileSchemaCached(s.schema, PARAM, options);
}

/** The same without blocking the event loop for long (see compileSchemaAsync). */
export async function responseFormatSchemaAsync(format: ResponseFormat, options: CompileOptions = {}): Promise<SchemaNode | null> {
  const s = schemaOf(format);
  return s === null || !("schema" in s) ? s : compileSchemaAsync(s.schema, PARAM, options);
}

/**
 * The processor that keeps output within a response format, or null for free text. The
 * tokenizer's vocabulary is sorted once (about a second for 151k tokens) and reused.
 */
export function responseFormatConstraint(
  format: ResponseFormat,
  tokenizer: TextTokenizer,
  vocabSize: number,
  eosIds: readonly number[],
): LogitsProcessor | null {
  const schema = responseFormatSchema(format);
  return schema ? new JsonConstraint(vocabIndex(tokenizer, vocabSize), schema, eosIds) : null;
}
