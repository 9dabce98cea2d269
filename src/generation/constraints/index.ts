/**
 * Constrained decoding as logits processors: JSON (any object, or a JSON Schema) and one
 * forced Qwen tool call. A schema compiles once (cached by hash, within budgets) into a
 * grammar; each step masks the tokens the grammar would refuse, with masks cached per grammar
 * state (json_constraint.ts tells how that stays O(1) per token).
 */
export { JsonConstraint, VocabIndex, vocabIndex, maskCache, type TokenMask } from "./json_constraint.js";
export { ToolCallConstraint, toolCallGrammar, type ForcedTool } from "./tool_constraint.js";
export {
  compileSchema,
  SchemaError,
  SchemaLimitError,
  DEFAULT_LIMITS,
  ANY_OBJECT,
  ANY_VALUE,
  type ConstraintLimits,
  type SchemaNode,
  type JsonType,
} from "./json_schema.js";
export { Grammar, type ParseState } from "./json_grammar.js";
export { compileSchemaAsync, compileSchemaCached, schemaCache, type CompileOptions } from "./schema_cache.js";
export {
  responseFormatConstraint,
  responseFormatSchema,
  responseFormatSchemaAsync,
  type ResponseFormat,
} from "./response_format.js";
