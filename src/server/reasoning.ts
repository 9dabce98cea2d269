/**
 * Reasoning models of the Qwen2 family (DeepSeek-R1-Distill-Qwen, QwQ) think first:
 *
 *   <think>
 *   …the reasoning…
 *   </think>
 *
 *   the answer
 *
 * With the "deepseek" format (llama.cpp's name, and the default here) the reasoning goes to
 * `reasoning_content` (chat) or a reasoning item (Responses) and only the answer is content;
 * "none" keeps everything inline as the model wrote it. Their templates often open `<think>`
 * in the prompt itself (the generation prompt ends with `<think>\n`), so the answer starts
 * inside the reasoning and only `</think>` appears in the output: `promptOpensThink` tells.
 *
 * A model that does not start its answer with `<think>` (a plain instruct model) is never
 * split, so the default costs nothing there. Text that might be the start of a tag is held
 * back until it is decided, so no tag ever reaches a client in pieces.
 */

import { invalidField } from "./errors.js";
import type { Fields } from "./validate.js";

export type ReasoningFormat = "none" | "deepseek";
export const REASONING_FORMATS: readonly ReasoningFormat[] = ["none", "deepseek"];

export function isReasoningFormat(v: string): v is ReasoningFormat {
  return (REASONING_FORMATS as readonly string[]).includes(v);
}

/** A request's `reasoning_format` (llama.cpp's field), when it gives one. */
export function readReasoningFormat(f: Fields): ReasoningFormat | undefined {
  const v = f.string("reasoning_format");
  if (v === undefined) return undefined;
  if (!isReasoningFormat(v)) throw invalidField("reasoning_format", `expected one of ${REASONING_FORMATS.join(", ")}, got '${v}'`);
  return v;
}

export const THINK_OPEN = "<think>";
export const THINK_CLOSE = "</think>";

export type ReasoningSegment = { readonly type: "reasoning" | "content"; readonly text: string };

/** Whether a rendered prompt leaves the answer inside an opened `<think>` block. */
export function promptOpensThink(prompt: string): boolean {
  return prompt.trimEnd().endsWith(THINK_OPEN);
}

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
export function partialTagSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

type State = "start" | "reasoning" | "after" | "content";

export class ReasoningSplitter {
  private state: State;
  private buffer = "";

  /**
   * @param format "none" passes text through (with `<think>` restored in front when the
   *   prompt opened it, so the inline text is well formed).
   * @param opened the prompt opened `<think>` (see {@link promptOpensThink}).
   */
  constructor(
    readonly format: ReasoningFormat,
    readonly opened: boolean,
  ) {
    if (format === "none") {
      this.state = "content";
      if (opened) this.buffer = `${THINK_OPEN}\n`;
    } else {
      this.state = opened ? "reasoning" : "start";
    }
  }

  push(text: string): ReasoningSegment[] {
    this.buffer += text;
    const out: ReasoningSegment[] = [];
    for (;;) {
      switch (this.state) {
        case "content":
          this.emit(out, "content", this.buffer);
          this.buffer = "";
          return out;
        case "start": {
          // Undecided while the text (past leading whitespace) could still be `<think>`.
          const head = this.buffer.trimStart();
          if (head.startsWith(THINK_OPEN)) {
            this.buffer = head.slice(THINK_OPEN.length);
            this.state = "reasoning";
            continue;
          }
          if (THINK_OPEN.startsWith(head)) return out;
          this.state = "content";
          continue;
        }
        case "reasoning": {
          const at = this.buffer.indexOf(THINK_CLOSE);
          if (at < 0) {
            const keep = partialTagSuffix(this.buffer, THINK_CLOSE);
            this.emit(out, "reasoning", this.buffer.slice(0, this.buffer.length - keep));
            this.buffer = this.buffer.slice(this.buffer.length - keep);
            return out;
          }
          this.emit(out, "reasoning", this.buffer.slice(0, at));
          this.buffer = this.buffer.slice(at + THINK_CLOSE.length);
          this.state = "after";
          continue;
        }
        case "after": {
          // The blank lines between `</think>` and the answer are layout.
          const rest = this.buffer.trimStart();
          if (rest.length === 0) {
            this.buffer = "";
            return out;
          }
          this.buffer = rest;
          this.state = "content";
          continue;
        }
      }
    }
  }

  /** Ends the text: whatever was held back is released as what it turned out to be. */
  flush(): ReasoningSegment[] {
    const out: ReasoningSegment[] = [];
    if (this.state === "reasoning") this.emit(out, "reasoning", this.buffer);
    else if (this.state === "start" || this.state === "content") this.emit(out, "content", this.buffer);
    this.buffer = "";
    return out;
  }

  private emit(out: ReasoningSegment[], type: ReasoningSegment["type"], text: string): void {
    if (text.length > 0) out.push({ type, text });
  }
}
