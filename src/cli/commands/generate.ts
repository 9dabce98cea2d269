/**
 * `qwen2 generate --model DIR "prompt"`: streams a completion (or, with --chat, an
 * assistant reply) to stdout; `--json` prints one object with ids, text and timings.
 * Sampling defaults come from the folder's generation_config.json; flags override them.
 */
import { parseArgs } from "node:util";
import { UsageError, readAll, type CliIO, type Command } from "../command.js";
import { stream, type GenerateInput } from "../../generation/generate.js";
import { optionsFromGenerationConfig, resolveGenerationOptions } from "../../generation/defaults.js";
import type { GenerationOptions, GenerationResult } from "../../generation/sequence_generator.js";
import type { ChatMessage } from "../../tokenizer/types.js";
import { BACKENDS, loadModel, type BackendName, type LoadedModel, type LoadOptions } from "../../runtime/load.js";

const usage = `Usage: qwen2 generate --model DIR|FILE.gguf [options] "prompt"

Generates text from a Hugging Face Qwen2 model folder or GGUF file and streams it to stdout.
With no prompt argument, the prompt is read from stdin.

Options:
  --model PATH             model folder (config.json, *.safetensors, tokenizer files) or .gguf file
  --chat                   treat the prompt as a user message and use the chat template
  --system TEXT            system message (implies --chat)
  --max-new-tokens N       most tokens to generate (default: generation_config.json, else 256)
  --temperature T          0 = greedy; > 0 samples (default: generation_config.json)
  --top-p P                nucleus sampling mass in [0, 1]
  --top-k K                keep the K most likely tokens (0 = off)
  --min-p P                keep tokens at least P times as likely as the best
  --repetition-penalty R   Hugging Face repetition penalty (1 = off)
  --stop TEXT              stop string (repeatable)
  --seed S                 random seed: same seed, same text
  --backend NAME           ${BACKENDS.join(" | ")} (default wasm; reference is the slow float32 oracle)
  --threads N              compute threads (wasm backend)
  --json                   print one JSON object (text, ids, finish reason, usage, timings)
  --quiet                  no statistics line on stderr
`;

export type ModelLoader = (path: string, options: LoadOptions) => Promise<LoadedModel>;

function number(flag: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${flag} expects ${integer ? "an integer" : "a number"}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The message printed wherever output from random weights is shown. */
export function randomWeightsNote(path: string): string {
  return `note: ${path} holds RANDOM weights (made by \`qwen2 create-random\`): the text is noise, not a trained model's answer.\n`;
}

/** Runs the command with an injectable loader (tests pass a toy one). */
export async function runGenerate(args: string[], io: CliIO, load: ModelLoader = loadModel): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        model: { type: "string" },
        chat: { type: "boolean" },
        system: { type: "string" },
        "max-new-tokens": { type: "string" },
        temperature: { type: "string" },
        "top-p": { type: "string" },
        "top-k": { type: "string" },
        "min-p": { type: "string" },
        "repetition-penalty": { type: "string" },
        stop: { type: "string", multiple: true },
        seed: { type: "string" },
        backend: { type: "string" },
        threads: { type: "string" },
        json: { type: "boolean" },
        quiet: { type: "boolean" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.model === undefined) throw new UsageError("--model DIR is required (a Hugging Face Qwen2 folder; `qwen2 demo` makes a random one)");
  if (v.backend !== undefined && !(BACKENDS as readonly string[]).includes(v.backend)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got ${JSON.stringify(v.backend)}`);
  }
  const maxNewTokens = number("max-new-tokens", v["max-new-tokens"], true);
  const temperature = number("temperature", v.temperature);
  const topP = number("top-p", v["top-p"]);
  const topK = number("top-k", v["top-k"], true);
  const minP = number("min-p", v["min-p"]);
  const repetitionPenalty = number("repetition-penalty", v["repetition-penalty"]);
  const seed = number("seed", v.seed, true);
  const threads = number("threads", v.threads, true);

  let prompt = parsed.positionals.join(" ");
  if (parsed.positionals.length === 0) {
    const stdin = io.stdin as NodeJS.ReadableStream & { isTTY?: boolean };
    if (stdin.isTTY) throw new UsageError('give a prompt: qwen2 generate --model DIR "prompt" (or pipe it on stdin)');
    prompt = (await readAll(io.stdin)).replace(/\r?\n$/, "");
  }
  const chat = v.chat === true || v.system !== undefined;

  const loaded = await load(v.model, {
    ...(v.backend !== undefined ? { backend: v.backend as BackendName } : {}),
    ...(threads !== undefined ? { threads } : {}),
  });
  try {
    if (loaded.randomWeights) io.stderr.write(randomWeightsNote(v.model));
    if (!v.quiet) for (const w of loaded.warnings ?? []) io.stderr.write(`warning: ${w}\n`);
    const input: GenerateInput = chat
      ? [...(v.system !== undefined ? [{ role: "system", content: v.system }] : []), { role: "user", content: prompt }] satisfies ChatMessage[]
      : prompt;

    // generation_config.json first, then the flags (the policy of generation/defaults.ts).
    const sampling = resolveGenerationOptions(optionsFromGenerationConfig(loaded.generationConfig), {
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(topK !== undefined ? { topK } : {}),
      ...(minP !== undefined ? { minP } : {}),
      ...(repetitionPenalty !== undefined ? { repetitionPenalty } : {}),
      ...(maxNewTokens !== undefined ? { maxNewTokens } : {}),
    });
    const abort = new AbortController();
    const options: GenerationOptions = {
      ...sampling,
      ...(seed !== undefined ? { seed } : {}),
      ...(v.stop !== undefined ? { stop: v.stop } : {}),
      eosIds: loaded.eosIds,
      signal: abort.signal,
    };

    // Ctrl-C ends the answer cleanly (finish reason "abort") instead of killing the process.
    const onSigint = (): void => abort.abort();
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
      io.stdout.write(JSON.stringify(toJson(v.model, loaded, result)) + "\n");
    } else {
      io.stdout.write("\n");
      if (!v.quiet) io.stderr.write(statsLine(result));
    }
    return 0;
  } finally {
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
