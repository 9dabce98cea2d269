/**
 * What the chat-style endpoints (/v1/chat/completions, /v1/responses) make of generated
 * text, piece by piece: reasoning (`<think>…</think>`, reasoning.ts) first, then tool calls
 * in the answer after it (tool_calls.ts), then plain content.
 */
import { ReasoningSplitter, type ReasoningFormat } from "./reasoning.js";
import { ToolCallParser, type ParsedToolCall } from "./tool_calls.js";

export type AnswerSegment =
  | { readonly type: "reasoning"; readonly text: string }
  | { readonly type: "content"; readonly text: string }
  | { readonly type: "tool_call"; readonly call: ParsedToolCall };

export interface AnswerParserOptions {
  readonly reasoningFormat: ReasoningFormat;
  /** The rendered prompt opened `<think>` (reasoning.ts `promptOpensThink`). */
  readonly thinkOpened: boolean;
  /** Parse tool calls out of the answer; the declared tools' names enable Qwen2.5-Coder's forms. */
  readonly tools: readonly string[] | null;
}

export class AnswerParser {
  private readonly reasoning: ReasoningSplitter;
  private readonly calls: ToolCallParser | null;

  constructor(o: AnswerParserOptions) {
    this.reasoning = new ReasoningSplitter(o.reasoningFormat, o.thinkOpened);
    this.calls = o.tools === null ? null : new ToolCallParser(o.tools);
  }

  push(text: string): AnswerSegment[] {
    return this.route(this.reasoning.push(text), false);
  }

  /** Ends the text; `truncated`: cut by the token budget (a half tool call is dropped). */
  finish(truncated: boolean): AnswerSegment[] {
    return this.route(this.reasoning.flush(), true, truncated);
  }

  private route(pieces: readonly { type: "reasoning" | "content"; text: string }[], end: boolean, truncated = false): AnswerSegment[] {
    const out: AnswerSegment[] = [];
    for (const p of pieces) {
      if (p.type === "reasoning") out.push(p);
      else if (this.calls) out.push(...this.calls.push(p.text));
      else out.push(p);
    }
    if (end && this.calls) out.push(...this.calls.flush(truncated));
    return out;
  }
}
