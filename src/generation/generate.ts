/**
 * The one-sequence generation loop: prompt (text, chat messages or ids) → prefill in one
 * forward call → decode token by token with the cache → text.
 *
 *   const result = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 50 });
 *   for await (const piece of stream(model, tokenizer, messages, { temperature: 0.7 })) ...
 *   await generate(model, tokenizer, messages, { responseFormat: { type: "json_object" } });
 *
 * Between steps the loop yields to the event loop, so an AbortSignal fired by a timer, a
 * closed socket or Ctrl-C takes effect at the next token.
 */
import type { CausalLM } from "../models/causal_lm.js";
import type { ChatMessage, TextTokenizer } from "../tokenizer/types.js";
import { SequenceGenerator, stepBatch, yieldToEventLoop, type GenerationOptions, type GenerationResult } from "./sequence_generator.js";

/** Plain text, chat messages (rendered with the tokenizer's chat template) or ready ids. */
export type GenerateInput = string | readonly ChatMessage[] | { readonly ids: ArrayLike<number> };

/**
 * The prompt ids for an input. Chat messages are rendered with `addGenerationPrompt` and
 * encoded without adding special tokens (the template already wrote them), as
 * transformers' `apply_chat_template(tokenize=True)` does.
 */
export function encodePrompt(tokenizer: TextTokenizer, input: GenerateInput, options: GenerationOptions = {}): number[] {
  if (typeof input === "string") return tokenizer.encode(input);
  if (Array.isArray(input)) {
    const rendered = tokenizer.applyChatTemplate(input as readonly ChatMessage[], {
      addGenerationPrompt: true,
      ...(options.tools ? { tools: options.tools } : {}),
      ...(options.templateVariables ? { extra: options.templateVariables } : {}),
    });
    return tokenizer.encode(rendered, { addSpecialTokens: false });
  }
  return Array.from((input as { readonly ids: ArrayLike<number> }).ids);
}

/**
 * Streams the generated text as it becomes safe to show: whole characters only, never any
 * part of a stop string. The generator's return value (the `value` of the final `next()`
 * result) is the full {@link GenerationResult}.
 */
export async function* stream(
  model: CausalLM,
  tokenizer: TextTokenizer,
  input: GenerateInput,
  options: GenerationOptions = {},
): AsyncGenerator<string, GenerationResult, void> {
  const gen = new SequenceGenerator(model, tokenizer, encodePrompt(tokenizer, input, options), options);
  try {
    while (!gen.done) {
      const [event] = await stepBatch(model, [gen]);
      if (event && event.text.length > 0) yield event.text;
      if (!gen.done) await yieldToEventLoop();
    }
    return gen.result();
  } finally {
    // A consumer that stops iterating early (break, throw) must not leak the cache;
    // finish() disposes a cache the generator owns unless keepCache was asked for.
    if (!gen.done) gen.finish("abort");
  }
}

/** Generates to the end and returns text, ids, finish reason, usage and timings. */
export async function generate(
  model: CausalLM,
  tokenizer: TextTokenizer,
  input: GenerateInput,
  options: GenerationOptions = {},
): Promise<GenerationResult> {
  const it = stream(model, tokenizer, input, options);
  for (;;) {
    const step = await it.next();
    if (step.done) return step.value;
  }
}
