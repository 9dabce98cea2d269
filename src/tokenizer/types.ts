/**
 * The public shape of the tokenizer, shared by generation, the server and the CLI.
 * The implementation lives in src/tokenizer/tokenizer.ts.
 */

export interface EncodeOptions {
  /** Add the tokenizer's BOS/EOS where its post-processor asks (Qwen2 adds none). Default true. */
  readonly addSpecialTokens?: boolean;
  /** Treat added/special token text as ordinary text. Default false. */
  readonly splitSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (non-special added tokens are kept). Default false. */
  readonly skipSpecialTokens?: boolean;
}

/** One chat message as in OpenAI's and Hugging Face's chat formats. */
export interface ChatMessage {
  readonly role: string;
  readonly content?: string | null;
  readonly name?: string;
  readonly tool_calls?: readonly unknown[];
  readonly tool_call_id?: string;
  readonly [key: string]: unknown;
}

export interface ChatTemplateOptions {
  readonly addGenerationPrompt?: boolean;
  /** Tool (function) definitions in OpenAI's JSON shape, passed to the template as `tools`. */
  readonly tools?: readonly unknown[];
  /** Extra variables for the template. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * Turns token ids into text incrementally, emitting only complete UTF-8 characters, so a
 * stream never shows half a character. `flush` ends the stream, replacing any incomplete
 * trailing bytes with U+FFFD as Hugging Face's decode (errors="replace") does.
 */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}
