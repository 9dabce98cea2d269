/**
 * `qwen2 demo` (`npx qwen2 demo`; in a clone, `npm run demo`): makes a tiny Qwen2 model with RANDOM weights in
 * a cache folder (through `qwen2 create-random`), then chats with it using the real Qwen2
 * tokenizer and chat template. It proves the whole path (files → tokenizer → template →
 * model → sampler → streamed text) on a fresh machine with no download, and says plainly
 * that the words are noise and how to run a real model instead.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { intFlag, parseFlags } from "../flags.js";
import { loadModelFor, MODEL_FLAGS, readModelFlags } from "../model_flags.js";
import { stream } from "../../generation/generate.js";
import type { GenerationResult } from "../../generation/sequence_generator.js";
import { parseQwen2Config } from "../../formats/config_parse.js";
import { BACKENDS } from "../../runtime/load.js";
import { createRandomModel } from "../../node/random_model.js";

const usage = `Usage: qwen2 demo [--model DIR | --dir DIR [--fresh]] [--prompt TEXT] [--max-new-tokens N] [--seed S] [--backend NAME]

Makes a tiny Qwen2 model with RANDOM weights (qwen2 create-random --preset tiny) in a cache
folder, then generates a chat reply with the real Qwen2 tokenizer and chat template.
The reply is noise: the weights are random. Point \`qwen2 generate --model DIR\` at a real
Qwen2 folder for real answers.

Options:
  --model DIR          run the same demo on a real Hugging Face Qwen2 folder instead
  --dir DIR            where the random model lives (default: $QWEN2_CACHE_DIR, else
                       $XDG_CACHE_HOME/qwen2-ts, else ~/.cache/qwen2-ts; + /demo-tiny-random)
  --fresh              make the random model again even if it exists
  --prompt TEXT        the user message (default: a greeting)
  --max-new-tokens N   default 24
  --seed S             default 0 (same seed, same text)
  --backend NAME       ${BACKENDS.join(" | ")} (default wasm; reference is the slow float32 oracle)
  --threads N          compute threads for the wasm backend
`;

/** Makes a random model folder; the default runs `qwen2 create-random --preset tiny --out DIR`. */
export type RandomModelMaker = (dir: string) => Promise<void>;

export function defaultDemoDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.QWEN2_CACHE_DIR ?? (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, "qwen2-ts") : join(homedir(), ".cache", "qwen2-ts"));
  return join(base, "demo-tiny-random");
}

const createRandomTiny: RandomModelMaker = async (dir) => {
  // What `qwen2 create-random --preset tiny --out DIR` does (it overwrites the model files).
  await createRandomModel({ preset: "tiny", dtype: "bf16", outDir: dir, seed: 0 });
};

/** A folder create-random finished: its config.json parses and carries the random-weights label, beside weights. */
function looksComplete(dir: string): boolean {
  const file = join(dir, "config.json");
  if (!existsSync(file)) return false;
  try {
    if (parseQwen2Config(JSON.parse(readFileSync(file, "utf8")), file).qwen2_ts_random_weights !== true) return false;
  } catch {
    return false;
  }
  return readdirSync(dir).some((f) => f.endsWith(".safetensors"));
}

export async function runDemo(args: string[], io: CliIO, make: RandomModelMaker = createRandomTiny): Promise<number> {
  const { values: v } = parseFlags(args, {
    ...MODEL_FLAGS,
    dir: { type: "string" },
    fresh: { type: "boolean" },
    prompt: { type: "string" },
    "max-new-tokens": { type: "string" },
    seed: { type: "string" },
  });
  // Every flag is checked here, before anything is made or loaded.
  const maxNewTokens = intFlag(v, "max-new-tokens", { min: 1 }) ?? 24;
  const seed = intFlag(v, "seed") ?? 0;
  if (v.model !== undefined && (v.dir !== undefined || v.fresh))
    throw new UsageError("--model runs a real folder; --dir and --fresh are for the random one");
  const dir = resolve(v.model ?? v.dir ?? defaultDemoDir());
  const modelFlags = readModelFlags({ ...v, model: dir });
  const w = (s: string): void => void io.stdout.write(s);

  if (v.model === undefined) {
    w("qwen2 demo — a tiny Qwen2 model with RANDOM weights, the real Qwen2 tokenizer and chat template.\n");
    w("The reply below is noise: the weights are random, so only the machinery is real.\n\n");
    if (v.fresh || !looksComplete(dir)) {
      w(`Making the random model: qwen2 create-random --preset tiny --out ${dir}\n`);
      await make(dir);
    } else {
      w(`Using the random model in ${dir} (--fresh to remake it)\n`);
    }
  } else {
    w(`qwen2 demo — ${dir}\n\n`);
  }

  // The random model's noise is announced above; a real folder that turns out random is announced by the loader.
  const loaded = await loadModelFor(io, modelFlags, { announceRandom: v.model !== undefined });
  try {
    const c = loaded.config;
    w(
      `Model: ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.num_attention_heads} heads (${c.num_key_value_heads} KV), vocabulary ${c.vocab_size}; backend ${loaded.engine ?? loaded.backend}\n`,
    );
    const messages = [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: v.prompt ?? "Hello! Can you tell me a short story?" },
    ];
    const rendered = loaded.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    w(
      `\nChat template output (what the model reads, ${loaded.tokenizer.encode(rendered, { addSpecialTokens: false }).length} tokens):\n${rendered}\n`,
    );
    w(`\nuser> ${messages[1]!.content}\nassistant${loaded.randomWeights ? " (random weights)" : ""}> `);
    const it = stream(loaded.model, loaded.tokenizer, messages, {
      maxNewTokens,
      temperature: 0.8,
      topP: 0.95,
      seed,
      eosIds: loaded.eosIds,
    });
    let result: GenerationResult;
    for (;;) {
      const step = await it.next();
      if (step.done) {
        result = step.value;
        break;
      }
      w(step.value);
    }
    const t = result.timings;
    w(
      `\n\n[${result.usage.completionTokens} tokens, finish: ${result.finishReason}, ` +
        `prefill ${t.prefillTokensPerSecond.toFixed(0)} tok/s, decode ${t.decodeTokensPerSecond.toFixed(0)} tok/s, seed ${result.seed}]\n`,
    );
    if (loaded.randomWeights) {
      w(
        "\nTo talk to a real model, download a Qwen2 folder (config.json, *.safetensors, tokenizer files), e.g.\n" +
          "  huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct --local-dir qwen2.5-0.5b-instruct\n" +
          "and point the same command at it:\n  npx qwen2 demo --model qwen2.5-0.5b-instruct\n" +
          'or ask your own question:\n  npx qwen2 generate --model qwen2.5-0.5b-instruct --chat "Hello!"\n',
      );
    }
    return 0;
  } finally {
    loaded.close();
  }
}

const command: Command = {
  summary: "make a tiny RANDOM-weight model and chat with it (real tokenizer and template)",
  usage,
  run: (args, io) => runDemo(args, io),
};
export default command;
