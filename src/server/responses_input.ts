/**
 * The Responses API's `input` (a string, or a list of items) as the chat messages the
 * template renders: message items by role (text parts joined), `function_call` items as the
 * assistant's tool calls, `function_call_output` items as tool messages, reasoning items
 * left out (templates drop earlier turns' thinking), and `item_reference` items looked up
 * among the stored responses' outputs.
 */
import type { ChatMessage } from "../tokenizer/types.js";
import { invalidField } from "./errors.js";
import type { ResponseStore } from "./response_store.js";
import { Fields, describe, isObject, type Json, type JsonObject } from "./validate.js";

const ROLES = new Set(["user", "system", "developer", "assistant"]);
const TEXT_PARTS = new Set(["input_text", "output_text", "text", "summary_text", "reasoning_text"]);

/** The input as a list of items (a string is one user message), references resolved. */
export function readInputItems(v: Json | undefined, store: ResponseStore): JsonObject[] {
  if (v === undefined) throw invalidField("input", "is required", "missing_required_parameter");
  if (typeof v === "string") return [{ type: "message", role: "user", content: v }];
  if (!Array.isArray(v)) throw invalidField("input", `expected a string or an array of items, got ${describe(v)}`, "invalid_type");
  return v.map((item, i) => {
    const p = `input[${i}]`;
    if (!isObject(item)) throw invalidField(p, `expected an object, got ${describe(item)}`, "invalid_type");
    if (item.type !== "item_reference") return item;
    const id = new Fields(item, p).requiredString("id");
    const found = store.item(id);
    if (!found)
      throw invalidField(
        `${p}.id`,
        `no stored item '${id}': this server keeps the outputs of its last ${store.capacity} stored responses in memory only; send the item itself, or use store: false`,
      );
    return found;
  });
}

/** Message content: a string or text parts, joined; other parts are refused (this model reads text). */
function readText(v: Json | undefined, param: string): string {
  if (v === undefined) throw invalidField(param, "is required", "missing_required_parameter");
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) throw invalidField(param, `expected a string or an array of content parts, got ${describe(v)}`, "invalid_type");
  return v
    .map((part, i) => {
      const pp = `${param}[${i}]`;
      if (!isObject(part)) throw invalidField(pp, `expected an object, got ${describe(part)}`, "invalid_type");
      const pf = new Fields(part, pp);
      const type = pf.requiredString("type");
      if (type === "refusal") return pf.requiredString("refusal");
      if (!TEXT_PARTS.has(type))
        throw invalidField(`${pp}.type`, `only text parts are supported (this model reads text only), got '${type}'`);
      return pf.requiredString("text");
    })
    .join("");
}

interface AssistantTurn {
  role: "assistant";
  content: string;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: unknown } }[];
}

/** The items as chat messages, `instructions` first as a system message. */
export function itemsToMessages(items: readonly JsonObject[], instructions: string | undefined): ChatMessage[] {
  const out: Record<string, unknown>[] = [];
  if (instructions !== undefined && instructions !== "") out.push({ role: "system", content: instructions });
  // Consecutive assistant text and calls form one assistant turn, as the template expects.
  const assistant = (): AssistantTurn => {
    const last = out.at(-1) as AssistantTurn | undefined;
    if (last?.role === "assistant") return last;
    const turn: AssistantTurn = { role: "assistant", content: "" };
    out.push(turn as unknown as Record<string, unknown>);
    return turn;
  };
  items.forEach((item, i) => {
    const p = `input[${i}]`;
    const f = new Fields(item, p);
    const type = f.string("type") ?? "message";
    switch (type) {
      case "message": {
        const role = f.requiredString("role");
        if (!ROLES.has(role)) throw invalidField(`${p}.role`, `expected user, system, developer or assistant, got '${role}'`);
        const text = readText(f.raw("content"), `${p}.content`);
        if (role === "assistant") {
          const turn = assistant();
          turn.content += text;
        } else {
          out.push({ role: role === "developer" ? "system" : role, content: text });
        }
        return;
      }
      case "function_call": {
        const name = f.requiredString("name");
        const raw = f.requiredString("arguments");
        let args: unknown;
        try {
          args = JSON.parse(raw);
        } catch {
          throw invalidField(`${p}.arguments`, "must be a JSON text");
        }
        const turn = assistant();
        (turn.tool_calls ??= []).push({ id: f.string("call_id") ?? `call_${i}`, type: "function", function: { name, arguments: args } });
        return;
      }
      case "function_call_output": {
        const output = f.raw("output");
        out.push({ role: "tool", content: readText(output, `${p}.output`), tool_call_id: f.requiredString("call_id") });
        return;
      }
      case "reasoning":
        return;
      default:
        throw invalidField(
          `${p}.type`,
          `unsupported item type '${type}' (expected message, function_call, function_call_output, reasoning or item_reference)`,
        );
    }
  });
  if (!out.some((m) => m.role !== "system")) throw invalidField("input", "must hold at least one message that is not a system message");
  return out as unknown as ChatMessage[];
}
