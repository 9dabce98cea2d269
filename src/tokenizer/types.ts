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

/**
 * What generation, the server and the CLI need of a tokenizer. The concrete class is
 * `Tokenizer` (src/tokenizer/tokenizer.ts); code outside src/tokenizer/ depends on this
 * interface only, so it can be tested with any implementation.
 */
export interface TextTokenizer {
  /** Number of ids (the largest id + 1), added tokens included. */
  readonly vocabSize: number;
  readonly eosToken: string | null;
  readonly eosTokenId: number | null;
  readonly padToken: string | null;
  readonly padTokenId: number | null;
  readonly bosToken: string | null;
  readonly bosTokenId: number | null;
  /** The Jinja chat template from tokenizer_config.json, or null when there is none. */
  readonly chatTemplate: string | null;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** A fresh incremental decoder (see {@link StreamDecoder}). */
  createStreamDecoder(options?: DecodeOptions): StreamDecoder;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /**
   * The bytes a token stands for once decoded: the byte-level bytes of a vocabulary token,
   * the UTF-8 of an added token's content. Undefined for an unknown id. Used by constrained
   * decoding, which must reason about bytes, not whole characters.
   */
  idToBytes(id: number): Uint8Array | undefined;
  /** True for ids of special added tokens (those `skipSpecialTokens` drops). */
  isSpecialId(id: number): boolean;
  /** Renders messages with the chat template; throws when the tokenizer has none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}
