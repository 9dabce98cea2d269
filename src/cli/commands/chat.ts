/**
 * `qwen2 chat`: an interactive terminal chat. Answers stream as they are generated; the
 * history is kept within the context (oldest turns dropped, with a notice); Ctrl-C stops
 * the current answer and keeps the session; tokens/s are shown after each answer.
 */
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { CliIO, Command } from "../command.js";
import { intFlag, parseFlags } from "../flags.js";
import {
  loadModelFor,
  MODEL_FLAGS,
  MODEL_FLAGS_USAGE,
  readModelFlags,
  readSamplingFlags,
  SAMPLING_FLAGS,
  SAMPLING_FLAGS_USAGE,
  type SamplingFlags,
} from "../model_flags.js";
import { stream } from "../../generation/generate.js";
import { resolveGenerationOptions } from "../../generation/defaults.js";
import type { GenerationResult } from "../../generation/sequence_generator.js";
import type { SequenceCache } from "../../models/causal_lm.js";
import type { LoadedModel } from "../../runtime/load.js";
import type { ChatMessage } from "../../tokenizer/types.js";
import { withAdapters } from "../../models/lora.js";
import { LORA_FLAG, loadLoraFlags, readLoraFlags } from "../lora_flags.js";

/** Longest answer when neither --max-new-tokens nor generation_config.json says. */
const DEFAULT_ANSWER_TOKENS = 1024;

const usage = `Usage: qwen2 chat --model DIR|FILE.gguf [options]

Interactive chat in the terminal. Commands inside the chat:
  /reset         forget the conversation (the system prompt stays)
  /system TEXT   set the system prompt (and reset)
  /save FILE     write the conversation as JSON
  /exit          quit (or Ctrl-D); Ctrl-C stops an answer without quitting

Options:
${MODEL_FLAGS_USAGE}
  --system TEXT            system prompt
  --lora DIR[:SCALE]       PEFT LoRA adapter applied unmerged (repeatable; see generate)
  --ctx N                  context length (default: the model's, at most 4096)
${SAMPLING_FLAGS_USAGE}
  Each answer is at most --max-new-tokens long (default: generation_config.json, else ${DEFAULT_ANSWER_TOKENS}).
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
    readonly sampling: SamplingFlags,
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
    const { maxNewTokens = DEFAULT_ANSWER_TOKENS, ...generation } = resolveGenerationOptions(
      this.loaded.generationConfig,
      this.sampling.overrides,
    );
    // Keep room for at least a short answer.
    const reserve = Math.min(maxNewTokens, Math.max(16, Math.floor(this.ctx / 4)));
    const fit = fitHistory(this.system, this.turns, text, (m) => this.count(m), this.ctx - reserve);
    if (fit.tokens < 0) {
      this.io.stdout.write("(this message alone does not fit in the context; try a shorter one)\n");
      return;
    }
    if (fit.dropped > 0) {
      this.turns = this.turns.slice(fit.dropped);
      this.io.stdout.write(
        `(dropped the ${fit.dropped} oldest turn${fit.dropped > 1 ? "s" : ""} to stay within the ${this.ctx}-token context)\n`,
      );
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
    const it = stream(
      model,
      tokenizer,
      { ids },
      {
        ...generation,
        ...(this.sampling.seed !== undefined ? { seed: this.sampling.seed } : {}),
        ...(this.sampling.stop !== undefined ? { stop: this.sampling.stop } : {}),
        eosIds,
        maxNewTokens: Math.min(maxNewTokens, this.ctx - ids.length),
        cache: this.cache,
        signal: abort.signal,
      },
    );
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
    this.io.stdout.write(
      `\n[${result.usage.completionTokens} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tok/s, first token ${t.timeToFirstTokenMs.toFixed(0)} ms]${stopped}\n`,
    );
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

const command: Command = {
  summary: "Interactive chat in the terminal (streaming, /reset, /system, /save)",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values } = parseFlags(args, {
      ...MODEL_FLAGS,
      ...SAMPLING_FLAGS,
      ...LORA_FLAG,
      system: { type: "string" },
      ctx: { type: "string" },
    });
    // Every flag is checked here, before the model loads.
    const modelFlags = readModelFlags(values);
    const sampling = readSamplingFlags(values);
    const ctxFlag = intFlag(values, "ctx", { min: 32 });
    const loraFlags = readLoraFlags(values, false);
    const loaded = await loadModelFor(io, modelFlags, { progress: true });
    const loras = await loadLoraFlags(io, loaded, loraFlags);
    const ctx = Math.min(ctxFlag ?? 4096, loaded.model.maxContext);
    // With adapters, every answer runs through a view of the model that applies them (caches included).
    const adapted =
      loras.length > 0
        ? {
            ...loaded,
            model: withAdapters(
              loaded.model,
              loras.map((l) => ({ adapter: l.adapter, scale: l.flag.scale })),
            ),
          }
        : loaded;
    const session = new ChatSession(adapted, io, ctx, sampling, values.system ?? null);
    io.stdout.write(
      `Chatting with ${modelFlags.path} (context ${ctx} tokens). /reset, /system TEXT, /save FILE, /exit; Ctrl-C stops an answer.\n`,
    );

    const rl = createInterface({
      input: io.stdin,
      output: io.stdout,
      prompt: "> ",
      terminal: (io.stdin as { isTTY?: boolean }).isTTY === true,
    });
    // Input that ends (a pipe, a file) closes the interface while lines are still queued or an
    // answer is streaming; Node 22+ throws on prompt() after close, Node 20 ignored it.
    let closed = false;
    rl.on("close", () => {
      closed = true;
    });
    const prompt = (): void => {
      if (!closed) rl.prompt();
    };
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
        prompt();
      }
    });
    prompt();
    try {
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === "") {
          prompt();
          continue;
        }
        if (line === "/exit" || line === "/quit") break;
        if (line === "/reset") {
          session.turns = [];
          io.stdout.write("(conversation cleared)\n");
        } else if (line === "/system" || line.startsWith("/system ")) {
          session.system = line.slice("/system".length).trim() || null;
          session.turns = [];
          io.stdout.write(
            session.system ? "(system prompt set; conversation cleared)\n" : "(system prompt removed; conversation cleared)\n",
          );
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
        prompt();
      }
    } finally {
      rl.close();
      session.dispose();
      for (const l of loras) l.adapter.dispose();
      await loaded.close();
    }
    io.stdout.write("\n");
    return 0;
  },
};

export default command;
