import { Environment, parse, tokenize } from "@huggingface/jinja";
import { FormatError, InvalidArgumentError } from "../errors.js";
import { applyJinjaWhitespace, createPythonInterpreter } from "./chat_template_python.js";
import type { ChatMessage } from "./types.js";

/** What a chat template sees besides the messages. */
export interface RenderOptions {
  readonly addGenerationPrompt?: boolean;
  /** Tool definitions in OpenAI's JSON shape, exposed to the template as `tools`. */
  readonly tools?: readonly unknown[];
  /** Retrieval documents, exposed as `documents` (transformers passes None when absent). */
  readonly documents?: readonly unknown[];
  /** Special tokens; a null or absent one is left undefined in the template, as transformers does. */
  readonly bosToken?: string | null;
  readonly eosToken?: string | null;
  /** Extra template variables (e.g. `enable_thinking`); they never override the above. */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Where the template came from, for error messages (default "tokenizer_config.json"). */
  readonly source?: string;
}

type Program = ReturnType<typeof parse>;

/** Parsed templates by source text: a tokenizer renders the same template for every request. */
const compiled = new Map<string, Program>();
const MAX_COMPILED = 16;

function compile(template: string, source: string): Program {
  let program = compiled.get(template);
  if (program === undefined) {
    try {
      program = parse(tokenize(applyJinjaWhitespace(template), {}));
    } catch (e) {
      throw new FormatError(source, `field chat_template does not parse: ${(e as Error).message}`);
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
    compiled.set(template, program);
  }
  return program;
}

/**
 * The template refuses the messages: its own `raise_exception(...)`, or an operation Python
 * would refuse too (e.g. `str + None`). An InvalidArgumentError, since the caller's
 * messages are what cannot be formatted (a server answers 400).
 */
export class ChatTemplateError extends InvalidArgumentError {}

/** Python's `datetime.now().strftime` for the directives chat templates use. */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
  const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  return format.replace(/%[YmdBbHMSAajyIp%]/g, (t) => {
    switch (t) {
      case "%Y":
        return String(d.getFullYear());
      case "%y":
        return pad(d.getFullYear() % 100);
      case "%m":
        return pad(d.getMonth() + 1);
      case "%d":
        return pad(d.getDate());
      case "%B":
        return months[d.getMonth()]!;
      case "%b":
        return months[d.getMonth()]!.slice(0, 3);
      case "%A":
        return days[d.getDay()]!;
      case "%a":
        return days[d.getDay()]!.slice(0, 3);
      case "%H":
        return pad(d.getHours());
      case "%I":
        return pad(d.getHours() % 12 === 0 ? 12 : d.getHours() % 12);
      case "%p":
        return d.getHours() < 12 ? "AM" : "PM";
      case "%M":
        return pad(d.getMinutes());
      case "%S":
        return pad(d.getSeconds());
      case "%j":
        return pad(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86400000) + 1, 3);
      default:
        return "%";
    }
  });
}

/** Python's range(). */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new ChatTemplateError("range() arg 3 must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * Renders a Hugging Face chat template exactly as transformers' `apply_chat_template` does
 * with Python Jinja2 (sandboxed environment, trim_blocks, lstrip_blocks, loopcontrols,
 * `tojson` = json.dumps with ensure_ascii=False, `raise_exception`, `strftime_now`).
 * @huggingface/jinja parses and runs the template; chat_template_python.ts supplies the
 * Python semantics it lacks.
 *
 * `template` null/undefined/empty means the tokenizer has no chat template: the error names
 * the tokenizer_config.json field to fill.
 */
export function renderChatTemplate(
  template: string | null | undefined,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): string {
  const source = options.source ?? "tokenizer_config.json";
  if (typeof template !== "string" || template.length === 0) {
    throw new FormatError(
      source,
      "field chat_template is missing, so chat messages cannot be formatted; add a chat_template (a Jinja template) or format the prompt yourself",
    );
  }
  if (!Array.isArray(messages)) throw new InvalidArgumentError("renderChatTemplate: messages must be an array of {role, content} objects");
  const program = compile(template, source);
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(`chat template (${source}) refused the input: ${String(message)}`);
    },
    strftime_now: strftimeNow,
    range,
  };
  // transformers passes the special tokens that are set, then its own arguments, then
  // the caller's extra variables, which may not replace the named ones.
  const context: Record<string, unknown> = { ...globals };
  if (options.bosToken != null) context.bos_token = options.bosToken;
  if (options.eosToken != null) context.eos_token = options.eosToken;
  for (const [key, value] of Object.entries(options.extra ?? {})) context[key] = value;
  context.messages = messages;
  context.tools = options.tools ?? null;
  context.documents = options.documents ?? null;
  context.add_generation_prompt = options.addGenerationPrompt ?? false;
  for (const [key, value] of Object.entries(context)) env.set(key, value);
  try {
    return createPythonInterpreter(env).run(program).value as string;
  } catch (e) {
    if (e instanceof ChatTemplateError) throw e;
    // Where Python raises too (e.g. `str + None` for a message without content), say
    // which template failed and that the messages are what it could not format.
    throw new ChatTemplateError(`chat template (${source}, field chat_template) could not render these messages: ${(e as Error).message}`);
  }
}
