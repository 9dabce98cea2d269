/**
 * `tool_choice: "required"` or a named function: the answer is forced to be exactly one
 * well-formed Qwen tool call,
 *
 *   <tool_call>\n{"name": "NAME", "arguments": ARGS}\n</tool_call>  then end of sequence
 *
 * where NAME is one of the offered tools and ARGS a JSON object following that tool's
 * `parameters` schema. The call is one more grammar (a union over the tools of head, arguments,
 * tail) run by the same automaton and mask cache as JSON mode; the grammar is built once per
 * tool set (cached by the tools' names and compiled schemas).
 */
import type { LogitsProcessor } from "../logits_processors.js";
import type { ProcessorContext } from "../logits_processors.js";
import { ByteTable, binaryString } from "./byte_table.js";
import { type GNode, newNodeId } from "./grammar_nodes.js";
import { JsonConstraint, type VocabIndex } from "./json_constraint.js";
import { Grammar } from "./json_grammar.js";
import type { SchemaNode } from "./json_schema.js";

export interface ForcedTool {
  readonly name: string;
  readonly parameters: SchemaNode;
}

const TAIL: GNode = { kind: "raw", id: newNodeId(), table: new ByteTable([binaryString("}\n</tool_call>")]) };

/** Tool-call grammars by tool set, few and small (the parameter schemas are shared). */
const grammars = new Map<string, Grammar>();
const MAX_GRAMMARS = 64;

/** The grammar of one call of one of `tools`. */
export function toolCallGrammar(tools: readonly ForcedTool[]): Grammar {
  const key = tools.map((t) => `${JSON.stringify(t.name)}#${t.parameters.uid}`).join("|");
  const known = grammars.get(key);
  if (known) return known;
  const options: GNode[] = tools.map((t) => ({
    kind: "seq",
    id: newNodeId(),
    items: [
      {
        kind: "raw",
        id: newNodeId(),
        table: new ByteTable([binaryString(`<tool_call>\n{"name": ${JSON.stringify(t.name)}, "arguments": `)]),
      },
      t.parameters.root,
      TAIL,
    ],
  }));
  const root: GNode = options.length === 1 ? options[0]! : { kind: "union", id: newNodeId(), options };
  const depth = Math.max(...tools.map((t) => t.parameters.maxDepth));
  const g = new Grammar(
    root,
    depth + 1,
    tools.reduce((n, t) => n + t.parameters.bytes, 0),
    false,
  );
  if (grammars.size >= MAX_GRAMMARS) grammars.delete(grammars.keys().next().value!);
  grammars.set(key, g);
  return g;
}

export class ToolCallConstraint implements LogitsProcessor {
  private readonly inner: JsonConstraint;

  constructor(index: VocabIndex, tools: readonly ForcedTool[], eosIds: readonly number[]) {
    this.inner = new JsonConstraint(index, toolCallGrammar(tools), eosIds);
  }

  /** True once the call is complete. */
  get complete(): boolean {
    return this.inner.complete;
  }

  process(logits: Float32Array, context: ProcessorContext): void {
    this.inner.process(logits, context);
  }
}
