/**
 * `qwen2 chat`: an interactive terminal chat. Answers stream as they are generated; the
 * history is kept within the context (oldest turns dropped, with a notice); Ctrl-C stops
 * the current answer and keeps the session; tokens/s are shown after each answer.
 */
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { UsageError, type CliIO, type Command } from "../command.js";
import { stream } from "../../generation/generate.js";
import { optionsFromGenerationConfig, resolveGenerationOptions, type GenerationDefaults } from "../../generation/defaults.js";
import type { GenerationResult } from "../../generation/sequence_generator.js";
import type { SequenceCache } from "../../models/causal_lm.js";
import type { ChatMessage } from "../../tokenizer/types.js";
import { backendFlag, intFlag, loadModelFor, numberFlag, parseFlags, progressBar, type LoadedModel } from "../../server/model_loading.js";

const usage = `Usage: qwen2 chat --model DIR|FILE.gguf [options]

Interactive chat in the terminal. Commands inside the chat:
  /reset         forget the conversation (the system prompt stays)
  /system TEXT   set the system prompt (and reset)
  /save FILE     write the conversation as JSON
  /exit          quit (or Ctrl-D); Ctrl-C stops an answer without quitting

Options:
  --model PATH        Hugging Face model folder or .gguf file (required)
  --system TEXT       system prompt
  --ctx N             context length (default: the model's, at most 4096)
  --max-tokens N      longest answer (default 1024)
  --temperature T     sampling temperature (default: generation_config.json, 0 = greedy)
  --top-p P, --top-k K, --seed N
  --backend NAME, --threads N
`;

interface Turn {
  readonly user: string;
  assistant: string;
}

/** The messages for a prompt: system, then turns, dropping the oldest until it fits. */
export function fitHistory(
  system: string | null,
  turns: readonly Turn[],
  pending: string,
  count: (messages: ChatMessage[]) => number,
  budget: number,
): { messages: ChatMessage[]; dropped: number; tokens: number } {
  for (let dropped = 0; dropped <= turns.length; dropped++) {
    const messages: ChatMessage[] = [];
    if (system) messages.push({ role: "system", content: system });
    for (const t of turns.slice(dropped)) messages.push({ role: "user", content: t.user }, { role: "assistant", content: t.assistant });
    messages.push({ role: "user", content: pending });
    const tokens = count(messages);
    if (tokens <= budget) return { messages, dropped, tokens };
  }
  return { messages: [], dropped: turns.length, tokens: -1 };
}

class ChatSession {
  system: string | null;
  turns: Turn[] = [];
  busy: AbortController | null = null;
  /** One cache for the whole session: each turn recomputes only what follows the shared prefix. */
  private cache: SequenceCache | null = null;
  /** The ids the cache holds, oldest first. */
  private cached: number[] = [];

  constructor(
    readonly loaded: LoadedModel,
    readonly io: CliIO,
    readonly ctx: number,
    readonly options: { maxTokens: number; temperature?: number; topP?: number; topK?: number; seed?: number },
    system: string | null,
  ) {
    this.system = system;
  }

  private count(messages: ChatMessage[]): number {
    const { tokenizer } = this.loaded;
    return tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false }).length;
  }

  async answer(text: string): Promise<void> {
    const { model, tokenizer, eosIds } = this.loaded;
    // Keep room for at least a short answer.
    const reserve = Math.min(this.options.maxTokens, Math.max(16, Math.floor(this.ctx / 4)));
    const fit = fitHistory(this.system, this.turns, text, (m) => this.count(m), this.ctx - reserve);
    if (fit.tokens < 0) {
      this.io.stdout.write("(this message alone does not fit in the context; try a shorter one)\n");
      return;
    }
    if (fit.dropped > 0) {
      this.turns = this.turns.slice(fit.dropped);
      this.io.stdout.write(`(dropped the ${fit.dropped} oldest turn${fit.dropped > 1 ? "s" : ""} to stay within the ${this.ctx}-token context)\n`);
    }
    const ids = tokenizer.encode(tokenizer.applyChatTemplate(fit.messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
    this.cache ??= model.createCache(this.ctx);
    let shared = 0;
    while (shared < this.cached.length && shared < ids.length && this.cached[shared] === ids[shared]) shared++;
    try {
      this.cache.truncate(shared);
    } catch {
      // A sliding-window cache may not rewind that far: start afresh.
      this.cache.dispose();
      this.cache = model.createCache(this.ctx);
    }
    this.cached = []; // unknown until this answer completes
    const abort = new AbortController();
    this.busy = abort;
    const turn: Turn = { user: text, assistant: "" };
    const o = this.options;
    const it = stream(model, tokenizer, { ids }, {
      eosIds,
      maxNewTokens: Math.min(o.maxTokens, this.ctx - ids.length),
      cache: this.cache,
      signal: abort.signal,
      ...samplingFrom(this.loaded, o),
    });
    let result: GenerationResult | null = null;
    try {
      for (;;) {
        const step = await it.next();
        if (step.done) {
          result = step.value;
          break;
        }
        turn.assistant += step.value;
        this.io.stdout.write(step.value);
      }
    } finally {
      this.busy = null;
    }
    this.cached = [...ids, ...result.ids].slice(0, this.cache.length);
    this.turns.push(turn);
    const t = result.timings;
    const stopped = result.finishReason === "abort" ? " (stopped)" : result.finishReason === "length" ? " (length limit)" : "";
    this.io.stdout.write(`\n[${result.usage.completionTokens} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tok/s, first token ${t.timeToFirstTokenMs.toFixed(0)} ms]${stopped}\n`);
  }

  dispose(): void {
    this.cache?.dispose();
    this.cache = null;
  }

  save(file: string): void {
    const messages: ChatMessage[] = [];
    if (this.system) messages.push({ role: "system", content: this.system });
    for (const t of this.turns) messages.push({ role: "user", content: t.user }, { role: "assistant", content: t.assistant });
    writeFileSync(file, JSON.stringify({ messages }, null, 2) + "\n");
  }
}

function samplingFrom(loaded: LoadedModel, o: { temperature?: number; topP?: number; topK?: number; seed?: number }): GenerationDefaults & { seed?: number } {
  const { seed, ...overrides } = o;
  return { ...resolveGenerationOptions(optionsFromGenerationConfig(loaded.generationConfig), overrides), ...(seed !== undefined ? { seed } : {}) };
}

const command: Command = {
  summary: "Interactive chat in the terminal (streaming, /reset, /system, /save)",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values } = parseFlags(args, ["model", "system", "ctx", "max-tokens", "temperature", "top-p", "top-k", "seed", "backend", "threads"]);
    const path = values.get("model");
    if (!path) throw new UsageError("--model is required");
    const threads = intFlag(values, "threads", 1);
    const options = {
      maxTokens: intFlag(values, "max-tokens", 1, 1024)!,
      ...optional("temperature", numberFlag(values, "temperature", 0, 2)),
      ...optional("topP", numberFlag(values, "top-p", 0, 1)),
      ...optional("topK", intFlag(values, "top-k", 0)),
      ...optional("seed", intFlag(values, "seed", 0)),
    };
    const ctxFlag = intFlag(values, "ctx", 32);
    const loaded = await loadModelFor(path, {
      ...(values.get("backend") ? { backend: backendFlag(values.get("backend")!) } : {}),
      ...(threads !== undefined ? { threads } : {}),
      onProgress: progressBar(io.stderr, "loading"),
    });
    const ctx = Math.min(ctxFlag ?? 4096, loaded.model.maxContext);
    const session = new ChatSession(loaded, io, ctx, options, values.get("system") ?? null);
    io.stdout.write(`Chatting with ${path} (context ${ctx} tokens). /reset, /system TEXT, /save FILE, /exit; Ctrl-C stops an answer.\n`);

    const rl = createInterface({ input: io.stdin, output: io.stdout, prompt: "> ", terminal: (io.stdin as { isTTY?: boolean }).isTTY === true });
    let lastIdleInterrupt = 0;
    rl.on("SIGINT", () => {
      if (session.busy) {
        session.busy.abort();
        return;
      }
      // Idle: a second Ctrl-C within two seconds quits.
      const now = Date.now();
      if (now - lastIdleInterrupt < 2000) rl.close();
      else {
        lastIdleInterrupt = now;
        io.stdout.write("\n(press Ctrl-C again or type /exit to quit)\n");
        rl.prompt();
      }
    });
    rl.prompt();
    try {
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === "") {
          rl.prompt();
          continue;
        }
        if (line === "/exit" || line === "/quit") break;
        if (line === "/reset") {
          session.turns = [];
          io.stdout.write("(conversation cleared)\n");
        } else if (line === "/system" || line.startsWith("/system ")) {
          session.system = line.slice("/system".length).trim() || null;
          session.turns = [];
          io.stdout.write(session.system ? "(system prompt set; conversation cleared)\n" : "(system prompt removed; conversation cleared)\n");
        } else if (line.startsWith("/save")) {
          const file = line.slice("/save".length).trim();
          if (!file) io.stdout.write("(usage: /save FILE)\n");
          else {
            try {
              session.save(file);
              io.stdout.write(`(saved ${session.turns.length} turns to ${file})\n`);
            } catch (err) {
              io.stdout.write(`(could not save: ${(err as Error).message})\n`);
            }
          }
        } else if (line.startsWith("/")) {
          io.stdout.write("(commands: /reset, /system TEXT, /save FILE, /exit)\n");
        } else {
          await session.answer(line);
        }
        rl.prompt();
      }
    } finally {
      rl.close();
      session.dispose();
      await loaded.close();
    }
    io.stdout.write("\n");
    return 0;
  },
};

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

export default command;
