import { Template } from "@huggingface/jinja";
import type { ChatMessage } from "./types.js";

/** What a chat template sees besides the messages. */
export interface RenderOptions {
  readonly addGenerationPrompt?: boolean;
  /** Tool definitions in OpenAI's JSON shape, exposed to the template as `tools`. */
  readonly tools?: readonly unknown[];
  readonly bosToken?: string | null;
  readonly eosToken?: string | null;
  /** Extra template variables (e.g. `enable_thinking`); they never override the above. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * Renders a Hugging Face chat template with @huggingface/jinja, passing the variables
 * transformers' `apply_chat_template` passes.
 */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], options: RenderOptions = {}): string {
  const context: Record<string, unknown> = {
    ...(options.extra ?? {}),
    messages,
    add_generation_prompt: options.addGenerationPrompt ?? false,
    bos_token: options.bosToken ?? "",
    eos_token: options.eosToken ?? "",
  };
  if (options.tools !== undefined && options.tools.length > 0) context.tools = options.tools;
  return new Template(template).render(context);
}
