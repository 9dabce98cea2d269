/**
 * Constrained decoding as logits processors: JSON (any object, or a JSON Schema subset) and
 * one forced Qwen tool call. Each masks, before every sample, the tokens whose bytes the
 * grammar would refuse; see json_constraint.ts for how that stays fast on 151k tokens.
 */
export { JsonConstraint, VocabIndex, vocabIndex } from "./json_constraint.js";
export { ToolCallConstraint, type ForcedTool } from "./tool_constraint.js";
export { compileSchema, SchemaError, ANY_OBJECT, ANY_VALUE, type SchemaNode, type JsonType } from "./json_schema.js";
export { responseFormatConstraint, responseFormatSchema, type ResponseFormat } from "./response_format.js";
