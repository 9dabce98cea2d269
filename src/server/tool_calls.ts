/**
 * Tool calls in the text Qwen models write. Qwen2.5's template asks for Hermes blocks:
 *
 *   <tool_call>
 *   {"name": "get_weather", "arguments": {"city": "Paris"}}
 *   </tool_call>
 *
 * (possibly several in a row). Qwen2.5-Coder often answers the same template in other
 * wrappings, which are accepted too when the request declared tools (`toolNames`): a
 * ```json fence, `<tools>…</tools>`, `<function_call>…</function_call>`, or the bare JSON
 * object as the whole answer; a body may also be an array of calls. These looser forms
 * count only when every call names a declared tool, so an ordinary JSON code block stays
 * content.
 *
 * This streaming parser splits generated text into plain content and complete tool calls.
 * Text that might be the start of an opening tag is held back, and a call's text is held
 * until its closing tag, so no part of a call ever reaches `content`. A closed block whose
 * body is not a call degrades to plain content (tags included), never to an error. A block
 * cut off by the token budget (`flush(true)`) is dropped: neither a half call nor its raw
 * text reaches the client. Whitespace around calls is dropped.
 */
import { partialTagSuffix } from "./reasoning.js";

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

export interface ParsedToolCall {
  readonly name: string;
  /** The arguments as a JSON text (OpenAI's `function.arguments` is a string). */
  readonly arguments: string;
}

export type Segment = { readonly type: "content"; readonly text: string } | { readonly type: "tool_call"; readonly call: ParsedToolCall };

interface Wrapping {
  readonly open: string;
  readonly close: string;
  /** Counts only when every call names a declared tool. */
  readonly loose: boolean;
}

const HERMES: Wrapping = { open: TOOL_CALL_OPEN, close: TOOL_CALL_CLOSE, loose: false };
const CODER: readonly Wrapping[] = [
  { open: "<tools>", close: "</tools>", loose: true },
  { open: "<function_call>", close: "</function_call>", loose: true },
  { open: "```json", close: "```", loose: true },
];

/** Parses one call object; null when it is not a well-formed call. */
function readCall(value: unknown): ParsedToolCall | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.name !== "string" || v.name.length === 0) return null;
  const args = v.arguments ?? v.parameters ?? {};
  if (typeof args === "string") {
    try {
      JSON.parse(args);
    } catch {
      return null;
    }
    return { name: v.name, arguments: args };
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) return null;
  return { name: v.name, arguments: JSON.stringify(args) };
}

/** Parses a block's body: one call object or an array of them; null when it is not that. */
export function parseToolCallBodies(body: string): ParsedToolCall[] | null {
  let value: unknown;
  try {
    value = JSON.parse(body.trim());
  } catch {
    return null;
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return null;
  const calls = list.map(readCall);
  return calls.every((c) => c !== null) ? (calls as ParsedToolCall[]) : null;
}

/** Parses one call body; null when it is not a single well-formed call. */
export function parseToolCallBody(body: string): ParsedToolCall | null {
  const calls = parseToolCallBodies(body);
  return calls?.length === 1 ? calls[0]! : null;
}

export class ToolCallParser {
  private buffer = "";
  private inside: Wrapping | null = null;
  private readonly wrappings: readonly Wrapping[];
  private readonly toolNames: ReadonlySet<string> | null;
  /** Nothing but whitespace seen yet: a bare JSON answer may still be a call. */
  private atStart = true;
  /** Holding a bare JSON answer until the end. */
  private bare = false;
  /** Trailing whitespace of content, released only if more content follows. */
  private heldWhitespace = "";
  private calls = 0;
  private lastWasCall = false;

  /** @param toolNames the request's tools: enables the looser Coder forms, which must name one of them */
  constructor(toolNames?: readonly string[]) {
    this.toolNames = toolNames && toolNames.length > 0 ? new Set(toolNames) : null;
    this.wrappings = this.toolNames ? [HERMES, ...CODER] : [HERMES];
  }

  /** Number of well-formed calls seen so far. */
  get callCount(): number {
    return this.calls;
  }

  push(text: string): Segment[] {
    this.buffer += text;
    const out: Segment[] = [];
    if (this.atStart && this.toolNames) {
      const head = this.buffer.trimStart();
      if (head.length === 0) return out;
      this.atStart = false;
      if (head.startsWith("{") || head.startsWith("[")) this.bare = true;
    }
    this.atStart = false;
    if (this.bare) return out;
    for (;;) {
      if (this.inside === null) {
        const found = this.firstOpening();
        if (found === null) {
          const keep = Math.max(...this.wrappings.map((w) => partialTagSuffix(this.buffer, w.open)));
          this.content(out, this.buffer.slice(0, this.buffer.length - keep));
          this.buffer = this.buffer.slice(this.buffer.length - keep);
          return out;
        }
        this.content(out, this.buffer.slice(0, found.at));
        this.buffer = this.buffer.slice(found.at + found.wrapping.open.length);
        this.inside = found.wrapping;
      } else {
        const at = this.buffer.indexOf(this.inside.close);
        if (at < 0) return out;
        const body = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + this.inside.close.length);
        const w = this.inside;
        this.inside = null;
        this.block(out, w, body, true);
      }
    }
  }

  /**
   * Ends the text. An unclosed block still counts if its body is complete calls, unless the
   * text was cut by the token budget (`truncated`): then it is dropped, as a half call would
   * mislead and its raw text is no answer.
   */
  flush(truncated = false): Segment[] {
    const out: Segment[] = [];
    // Whitespace before a dropped call was its layout, not content.
    const dropped = this.inside !== null && truncated;
    if (this.bare) {
      const calls = this.knownCalls(parseToolCallBodies(this.buffer), true);
      if (calls) this.emitCalls(out, calls);
      else this.content(out, this.buffer);
    } else if (this.inside) {
      const w = this.inside;
      this.inside = null;
      if (!truncated) this.block(out, w, this.buffer, false);
    } else {
      this.content(out, this.buffer);
    }
    this.buffer = "";
    if (this.calls === 0 && !dropped && this.heldWhitespace) out.push({ type: "content", text: this.heldWhitespace });
    this.heldWhitespace = "";
    return out;
  }

  private firstOpening(): { at: number; wrapping: Wrapping } | null {
    let best: { at: number; wrapping: Wrapping } | null = null;
    for (const w of this.wrappings) {
      const at = this.buffer.indexOf(w.open);
      if (at >= 0 && (best === null || at < best.at)) best = { at, wrapping: w };
    }
    return best;
  }

  /** The calls, when they may count: a loose form must name declared tools only. */
  private knownCalls(calls: ParsedToolCall[] | null, loose: boolean): ParsedToolCall[] | null {
    if (calls === null) return null;
    if (loose && !calls.every((c) => this.toolNames?.has(c.name))) return null;
    return calls;
  }

  private block(out: Segment[], w: Wrapping, body: string, closed: boolean): void {
    const calls = this.knownCalls(parseToolCallBodies(body), w.loose);
    if (calls) this.emitCalls(out, calls);
    else this.content(out, w.open + body + (closed ? w.close : ""));
  }

  private emitCalls(out: Segment[], calls: readonly ParsedToolCall[]): void {
    this.heldWhitespace = "";
    this.lastWasCall = true;
    for (const call of calls) {
      this.calls++;
      out.push({ type: "tool_call", call });
    }
  }

  private content(out: Segment[], text: string): void {
    if (text.length === 0) return;
    let t = this.heldWhitespace + text;
    // Whitespace between or after calls is layout, not content.
    if (this.lastWasCall) t = t.trimStart();
    const trimmed = t.trimEnd();
    this.heldWhitespace = t.slice(trimmed.length);
    if (trimmed.length > 0) {
      out.push({ type: "content", text: trimmed });
      this.lastWasCall = false;
    }
  }
}
