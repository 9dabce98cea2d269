/**
 * `qwen2 generate --model DIR "prompt"`: streams a completion (or, with --chat, an
 * assistant reply) to stdout; `--json` prints one object with ids, text and timings.
 * Sampling defaults come from the folder's generation_config.json; flags override them.
 */
import { readAll, UsageError, type CliIO, type Command } from "../command.js";
import { parseFlags } from "../flags.js";
import {
  loadModelFor,
  MODEL_FLAGS,
  MODEL_FLAGS_USAGE,
  readModelFlags,
  readSamplingFlags,
  SAMPLING_FLAGS,
  SAMPLING_FLAGS_USAGE,
} from "../model_flags.js";
import { stream, type GenerateInput } from "../../generation/generate.js";
import { resolveGenerationOptions } from "../../generation/defaults.js";
import type { GenerationOptions, GenerationResult } from "../../generation/sequence_generator.js";
import type { ChatMessage } from "../../tokenizer/types.js";
import type { LoadedModel } from "../../runtime/load.js";
import { LORA_FLAG, loadLoraFlags, readLoraFlags } from "../lora_flags.js";

const usage = `Usage: qwen2 generate --model DIR|FILE.gguf [options] "prompt"

Generates text from a Hugging Face Qwen2 model folder or GGUF file and streams it to stdout.
With no prompt argument, the prompt is read from stdin. Ctrl-C stops generating (exit 130).

Options:
${MODEL_FLAGS_USAGE}
  --chat                   treat the prompt as a user message and use the chat template
  --system TEXT            system message (implies --chat)
  --lora DIR[:SCALE]       PEFT LoRA adapter folder applied unmerged (repeatable: summed);
                           SCALE multiplies its alpha / r (default 1)
${SAMPLING_FLAGS_USAGE}
  --json                   print one JSON object (text, ids, finish reason, usage, timings)
  --quiet                  no statistics line or loader warnings on stderr
`;

/** The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells expect. */
export const EXIT_INTERRUPTED = 130;

export async function runGenerate(args: string[], io: CliIO): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      ...MODEL_FLAGS,
      ...SAMPLING_FLAGS,
      ...LORA_FLAG,
      chat: { type: "boolean" },
      system: { type: "string" },
      json: { type: "boolean" },
      quiet: { type: "boolean" },
    },
    true,
  );
  const v = parsed.values;
  // Every flag is checked here, before the model loads.
  const modelFlags = readModelFlags(v);
  const sampling = readSamplingFlags(v);
  const loraFlags = readLoraFlags(v, false);

  let prompt = parsed.positionals.join(" ");
  if (parsed.positionals.length === 0) {
    const stdin = io.stdin as NodeJS.ReadableStream & { isTTY?: boolean };
    if (stdin.isTTY) throw new UsageError('give a prompt: qwen2 generate --model DIR "prompt" (or pipe it on stdin)');
    prompt = (await readAll(io.stdin)).replace(/\r?\n$/, "");
  }
  const chat = v.chat === true || v.system !== undefined;

  const loaded = await loadModelFor(io, modelFlags, { quiet: v.quiet === true });
  const loras: Awaited<ReturnType<typeof loadLoraFlags>> = [];
  try {
    loras.push(...(await loadLoraFlags(io, loaded, loraFlags, v.quiet === true)));
    const input: GenerateInput = chat
      ? ([
          ...(v.system !== undefined ? [{ role: "system", content: v.system }] : []),
          { role: "user", content: prompt },
        ] satisfies ChatMessage[])
      : prompt;

    // generation_config.json first, then the flags (the policy of generation/defaults.ts).
    const abort = new AbortController();
    const options: GenerationOptions = {
      ...resolveGenerationOptions(loaded.generationConfig, sampling.overrides),
      ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
      ...(sampling.stop !== undefined ? { stop: sampling.stop } : {}),
      eosIds: loaded.eosIds,
      signal: abort.signal,
      ...(loras.length > 0 ? { adapters: loras.map((l) => ({ adapter: l.adapter, scale: l.flag.scale })) } : {}),
    };

    // Ctrl-C ends the answer cleanly (finish reason "abort") instead of killing the process.
    let interrupted = false;
    const onSigint = (): void => {
      interrupted = true;
      abort.abort();
    };
    process.once("SIGINT", onSigint);
    // A closed pipe (`qwen2 generate ... | head`) stops generating instead of crashing.
    let pipeClosed = false;
    const onStdoutError = (err: NodeJS.ErrnoException): void => {
      if (err.code !== "EPIPE") throw err;
      pipeClosed = true;
      abort.abort();
    };
    io.stdout.on("error", onStdoutError);
    let result: GenerationResult;
    try {
      const it = stream(loaded.model, loaded.tokenizer, input, options);
      for (;;) {
        const step = await it.next();
        if (step.done) {
          result = step.value;
          break;
        }
        if (!v.json) io.stdout.write(step.value);
      }
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
    if (pipeClosed) return 0;

    if (v.json) {
      io.stdout.write(JSON.stringify(toJson(modelFlags.path, loaded, result)) + "\n");
    } else {
      io.stdout.write("\n");
      if (!v.quiet) io.stderr.write(statsLine(result));
    }
    return interrupted ? EXIT_INTERRUPTED : 0;
  } finally {
    for (const l of loras) l.adapter.dispose();
    loaded.close();
  }
}

function toJson(model: string, loaded: LoadedModel, r: GenerationResult): Record<string, unknown> {
  const t = r.timings;
  return {
    model,
    backend: loaded.engine ?? loaded.backend,
    random_weights: loaded.randomWeights,
    text: r.text,
    ids: r.ids,
    finish_reason: r.finishReason,
    ...(r.stoppedBy ? { stopped_by: "eosId" in r.stoppedBy ? { eos_id: r.stoppedBy.eosId } : { stop: r.stoppedBy.stop } } : {}),
    seed: r.seed,
    usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens },
    timings: {
      prefill_tokens: t.prefillTokens,
      prefill_ms: round(t.prefillMs),
      decode_tokens: t.decodeTokens,
      decode_ms: round(t.decodeMs),
      time_to_first_token_ms: round(t.timeToFirstTokenMs),
      total_ms: round(t.totalMs),
      prefill_tokens_per_second: round(t.prefillTokensPerSecond),
      decode_tokens_per_second: round(t.decodeTokensPerSecond),
    },
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function statsLine(r: GenerationResult): string {
  const t = r.timings;
  return (
    `[finish: ${r.finishReason} | prompt ${r.usage.promptTokens} tokens, ${t.prefillTokensPerSecond.toFixed(1)} tok/s` +
    ` | ${r.usage.completionTokens} new tokens, ${t.decodeTokensPerSecond.toFixed(1)} tok/s | seed ${r.seed}]\n`
  );
}

const command: Command = {
  summary: "generate text from a model folder (streams to stdout; --json for ids and timings)",
  usage,
  run: (args, io) => runGenerate(args, io),
};
export default command;
