/** Validation of a /v1/chat/completions body into what the template and generator need. */
import type { ChatMessage } from "../tokenizer/types.js";
import { invalidField } from "./errors.js";
import {
  ANY_OBJECT,
  type ConstraintLimits,
  SchemaError,
  SchemaLimitError,
  type SchemaNode,
} from "../generation/constraints/json_schema.js";
import { compileSchemaAsync } from "../generation/constraints/schema_cache.js";
import { JsonConstraint, vocabIndexAsync } from "../generation/constraints/json_constraint.js";
import { ToolCallConstraint, type ForcedTool } from "../generation/constraints/tool_constraint.js";
import type { LogitsProcessor } from "../generation/logits_processors.js";
import type { ServerContext } from "./context.js";
import { SCHEMA_LIMIT_FLAGS } from "./limits.js";
import { Fields, describe, isObject, type Json } from "./validate.js";

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** Message content: a string, null, or text parts (`[{type:"text", text}]`) joined. */
function readContent(v: Json | undefined, param: string, role: string): string | null {
  if (v === undefined || v === null) {
    if (role === "user" || role === "system" || role === "developer" || role === "tool")
      throw invalidField(param, `a ${role} message needs content`, "missing_required_parameter");
    return null;
  }
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) throw invalidField(param, `expected a string or an array of content parts, got ${describe(v)}`, "invalid_type");
  return v
    .map((part, i) => {
      const pf = new Fields(isObject(part) ? part : {}, `${param}[${i}]`);
      if (!isObject(part) || pf.string("type") !== "text")
        throw invalidField(`${param}[${i}]`, 'only {type: "text", text} parts are supported (this model reads text only)');
      return pf.requiredString("text");
    })
    .join("");
}

/** Assistant `tool_calls` as the Qwen template reads them: arguments as an object. */
function readToolCalls(v: Json[], param: string): unknown[] {
  return v.map((tc, i) => {
    const p = `${param}[${i}]`;
    if (!isObject(tc)) throw invalidField(p, `expected an object, got ${describe(tc)}`, "invalid_type");
    const f = new Fields(tc, p);
    const fn = f.object("function");
    if (!fn) throw invalidField(`${p}.function`, "is required", "missing_required_parameter");
    const name = fn.requiredString("name");
    const rawArgs = fn.raw("arguments") ?? "{}";
    let args: unknown = rawArgs;
    if (typeof rawArgs === "string") {
      try {
        args = JSON.parse(rawArgs);
      } catch {
        throw invalidField(`${p}.function.arguments`, "must be a JSON text");
      }
    }
    return { id: f.string("id") ?? `call_${i}`, type: "function", function: { name, arguments: args } };
  });
}

export function readMessages(f: Fields): ChatMessage[] {
  const list = f.array("messages");
  if (!list) throw invalidField("messages", "is required", "missing_required_parameter");
  if (list.length === 0) throw invalidField("messages", "must hold at least one message");
  return list.map((m, i) => {
    const p = `messages[${i}]`;
    if (!isObject(m)) throw invalidField(p, `expected an object, got ${describe(m)}`, "invalid_type");
    const mf = new Fields(m, p);
    const role = mf.requiredString("role");
    if (!ROLES.has(role)) throw invalidField(`${p}.role`, `unknown role '${role}' (expected system, user, assistant or tool)`);
    const content = readContent(mf.raw("content"), `${p}.content`, role);
    const msg: Record<string, unknown> = { role: role === "developer" ? "system" : role, content };
    const name = mf.string("name");
    if (name !== undefined) msg.name = name;
    if (role === "assistant") {
      const calls = mf.array("tool_calls");
      if (calls && calls.length > 0) msg.tool_calls = readToolCalls(calls, `${p}.tool_calls`);
      else if (content === null)
        throw invalidField(`${p}.content`, "an assistant message needs content or tool_calls", "missing_required_parameter");
      if (msg.content === null) msg.content = "";
    }
    if (role === "tool") {
      const id = mf.string("tool_call_id");
      if (id !== undefined) msg.tool_call_id = id;
    }
    return msg as ChatMessage;
  });
}

/**
 * A request's JSON schema, compiled (or found in the compiled-schema cache) in slices that
 * leave the event loop free; a schema the subset refuses is a 400 naming the field, one over
 * a compilation budget a 400 naming the field, the limit and the `qwen2 serve` flag that sets it.
 */
async function compileSchema(schema: unknown, param: string, limits: Partial<ConstraintLimits>): Promise<SchemaNode> {
  try {
    return await compileSchemaAsync(schema, param, { limits });
  } catch (err) {
    if (err instanceof SchemaLimitError) {
      const flag = SCHEMA_LIMIT_FLAGS[err.limit];
      const detail = flag ? err.detail.replace(/\(limit (\w+)\)$/, `(limit $1, set by ${flag})`) : err.detail;
      throw invalidField(err.path, detail, "schema_limit_exceeded");
    }
    if (err instanceof SchemaError) throw invalidField(err.path, err.detail);
    throw err;
  }
}

export interface ToolSetup {
  /** Tools for the template (none when tool_choice is "none"). */
  readonly tools: unknown[];
  /** Parse `<tool_call>` blocks out of the answer. */
  readonly parse: boolean;
  /** tool_choice "required" or a named function: the answer must be one call of these. */
  readonly force: ForcedTool[] | null;
}

/** `tools` and `tool_choice`; tool parameter schemas compile within `limits` (the server's schema budgets). */
export async function readTools(f: Fields, limits: Partial<ConstraintLimits> = {}): Promise<ToolSetup> {
  const list = f.array("tools") ?? [];
  const schemas: { name: string; schema: unknown; param: string }[] = [];
  const tools = list.map((t, i) => {
    const p = `tools[${i}]`;
    if (!isObject(t)) throw invalidField(p, `expected an object, got ${describe(t)}`, "invalid_type");
    const tf = new Fields(t, p);
    const type = tf.string("type") ?? "function";
    if (type !== "function") throw invalidField(`${p}.type`, `only "function" tools are supported, got '${type}'`);
    const fn = tf.object("function");
    if (!fn) throw invalidField(`${p}.function`, "is required", "missing_required_parameter");
    const name = fn.requiredString("name");
    fn.string("description");
    const params = fn.object("parameters");
    schemas.push({ name, schema: params ? params.obj : { type: "object" }, param: `${p}.function.parameters` });
    return t;
  });
  // Compiled after every field is read, so a later field's 400 leaves no compilation behind.
  const forced: ForcedTool[] = [];
  for (const s of schemas) forced.push({ name: s.name, parameters: await compileSchema(s.schema, s.param, limits) });
  const choice = f.raw("tool_choice");
  if (choice === undefined || choice === "auto") return { tools, parse: tools.length > 0, force: null };
  if (choice === "required") {
    if (tools.length === 0) throw invalidField("tool_choice", '"required" needs at least one tool in tools');
    return { tools, parse: true, force: forced };
  }
  if (choice === "none") return { tools: [], parse: false, force: null };
  if (isObject(choice)) {
    const cf = new Fields(choice, "tool_choice");
    const name = cf.object("function")?.requiredString("name");
    const chosen = tools.filter((t) => (t as { function: { name: string } }).function.name === name);
    if (chosen.length === 0) throw invalidField("tool_choice.function.name", `no tool named '${String(name)}' among tools`);
    return { tools: chosen, parse: true, force: forced.filter((t) => t.name === name) };
  }
  throw invalidField("tool_choice", `expected "none", "auto", "required" or {type: "function", function: {name}}, got ${describe(choice)}`);
}

/** `response_format`: null for free text, else the schema output must follow (compiled within `limits`). */
export async function readResponseFormat(f: Fields, limits: Partial<ConstraintLimits> = {}): Promise<SchemaNode | null> {
  const rf = f.object("response_format");
  if (!rf) return null;
  const type = rf.requiredString("type");
  if (type === "text") return null;
  if (type === "json_object") return ANY_OBJECT;
  if (type === "json_schema") {
    const js = rf.object("json_schema");
    if (!js) throw invalidField("response_format.json_schema", "is required", "missing_required_parameter");
    js.requiredString("name");
    const schema = js.raw("schema");
    if (schema === undefined) return ANY_OBJECT;
    return compileSchema(schema, "response_format.json_schema.schema", limits);
  }
  throw invalidField("response_format.type", `expected "text", "json_object" or "json_schema", got '${type}'`);
}

/**
 * Builds the vocabulary index (the token tries every constraint walks) in slices before the
 * first constrained request needs it, so that build never holds the event loop for seconds.
 */
export async function prepareConstraints(ctx: ServerContext, schema: SchemaNode | null, force: ForcedTool[] | null): Promise<void> {
  if (schema || force) await vocabIndexAsync(ctx.tokenizer, ctx.model.vocabSize);
}

/**
 * The logits processors that hold one sequence to the request's output shape: the JSON
 * schema, else the forced tool call, else none. JSON mode wins over a forced call (the
 * answer cannot be both). /v1/chat/completions and /v1/responses both build theirs here.
 */
export function outputConstraints(ctx: ServerContext, schema: SchemaNode | null, force: ForcedTool[] | null): LogitsProcessor[] {
  if (schema) return [new JsonConstraint(ctx.vocab(), schema, ctx.eosIds)];
  if (force) return [new ToolCallConstraint(ctx.vocab(), force, ctx.eosIds)];
  return [];
}
