/**
 * Qwen's tool-call format: the model writes
 *
 *   <tool_call>
 *   {"name": "get_weather", "arguments": {"city": "Paris"}}
 *   </tool_call>
 *
 * (possibly several in a row). This streaming parser splits generated text into plain
 * content and complete tool calls. Text that might be the start of `<tool_call>` is held
 * back, and a call's text is held until its closing tag, so no part of a call ever reaches
 * `content`. A call whose body is not a JSON object with a string `name` degrades to plain
 * content (tags included), never to an error. Whitespace around calls is dropped.
 */

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

export interface ParsedToolCall {
  readonly name: string;
  /** The arguments as a JSON text (OpenAI's `function.arguments` is a string). */
  readonly arguments: string;
}

export type Segment = { readonly type: "content"; readonly text: string } | { readonly type: "tool_call"; readonly call: ParsedToolCall };

/** Parses one call body; null when it is not a well-formed call. */
export function parseToolCallBody(body: string): ParsedToolCall | null {
  let value: unknown;
  try {
    value = JSON.parse(body.trim());
  } catch {
    return null;
  }
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

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
function partialTagSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

export class ToolCallParser {
  private buffer = "";
  private inside = false;
  /** Trailing whitespace of content, released only if more content follows. */
  private heldWhitespace = "";
  private calls = 0;
  private lastWasCall = false;

  /** Number of well-formed calls seen so far. */
  get callCount(): number {
    return this.calls;
  }

  push(text: string): Segment[] {
    this.buffer += text;
    const out: Segment[] = [];
    for (;;) {
      if (!this.inside) {
        const at = this.buffer.indexOf(TOOL_CALL_OPEN);
        if (at < 0) {
          const keep = partialTagSuffix(this.buffer, TOOL_CALL_OPEN);
          this.content(out, this.buffer.slice(0, this.buffer.length - keep));
          this.buffer = this.buffer.slice(this.buffer.length - keep);
          return out;
        }
        this.content(out, this.buffer.slice(0, at));
        this.buffer = this.buffer.slice(at + TOOL_CALL_OPEN.length);
        this.inside = true;
      } else {
        const at = this.buffer.indexOf(TOOL_CALL_CLOSE);
        if (at < 0) return out;
        const body = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + TOOL_CALL_CLOSE.length);
        this.inside = false;
        this.call(out, body, true);
      }
    }
  }

  /** Ends the text: an unclosed call still counts if its body is a complete call. */
  flush(): Segment[] {
    const out: Segment[] = [];
    if (this.inside) {
      this.inside = false;
      this.call(out, this.buffer, false);
    } else {
      this.content(out, this.buffer);
    }
    this.buffer = "";
    if (this.calls === 0 && this.heldWhitespace) out.push({ type: "content", text: this.heldWhitespace });
    this.heldWhitespace = "";
    return out;
  }

  private call(out: Segment[], body: string, closed: boolean): void {
    const call = parseToolCallBody(body);
    if (call) {
      this.heldWhitespace = "";
      this.lastWasCall = true;
      this.calls++;
      out.push({ type: "tool_call", call });
    } else {
      this.content(out, TOOL_CALL_OPEN + body + (closed ? TOOL_CALL_CLOSE : ""));
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
