/**
 * `qwen2 create-random --preset P --dtype D --out DIR [--seed S]`: writes a random Qwen2
 * model of real shapes in Hugging Face layout, with the embedded tokenizer, labelled as
 * random in its config.json.
 */
import { existsSync, readdirSync } from "node:fs";
import { UsageError, type CliIO, type Command } from "../command.js";
import { choiceFlag, intFlag, parseFlags, requiredFlag } from "../flags.js";
import { RANDOM_PRESETS } from "../../formats/random_model.js";
import { createRandomModel } from "../../node/random_model.js";
import type { FloatDType } from "../../tensor/dtype.js";

const DTYPES: readonly FloatDType[] = ["f32", "bf16", "f16"];

const usage = `Usage: qwen2 create-random --preset NAME --out DIR [--dtype f32|bf16|f16] [--seed S] [--force]

Writes a Qwen2 model with RANDOM weights at real shapes, in Hugging Face layout
(config.json, generation_config.json, model.safetensors, tokenizer files), for tests,
benchmarks and demos. config.json is labelled "qwen2_ts_random_weights": true, and
commands that show its output say the weights are random.

Options:
  --preset NAME   ${RANDOM_PRESETS.join(" | ")}
                  (tiny: the real Qwen2.5 tokenizer and vocabulary, hidden 64, 2 layers)
  --dtype D       f32 | bf16 | f16 (default bf16)
  --out DIR       output folder (created; must be empty unless --force)
  --seed S        non-negative integer seed (default 0): same seed, same weights
  --force         write into a non-empty folder, replacing the model files
`;

async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(args, {
    preset: { type: "string" },
    dtype: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
    force: { type: "boolean", default: false },
  });
  if (values.preset === undefined) throw new UsageError(`--preset is required (one of ${RANDOM_PRESETS.join(", ")})`);
  const preset = choiceFlag(values, "preset", RANDOM_PRESETS)!;
  const dtype = choiceFlag(values, "dtype", DTYPES) ?? "bf16";
  const out = requiredFlag(values, "out", "DIR (the folder to write)");
  const seed = intFlag(values, "seed", { min: 0, max: 0xffffffff }) ?? 0;
  if (existsSync(out) && readdirSync(out).length > 0 && !values.force) {
    throw new UsageError(`${out} is not empty (use --force to overwrite the model files)`);
  }

  const started = Date.now();
  const r = await createRandomModel({ preset, dtype, outDir: out, seed });
  const c = r.config;
  io.stdout.write(
    `wrote ${values.out}: preset ${preset}, ${dtype}, ${(r.parameters / 1e6).toFixed(2)}M parameters, ` +
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB of weights (vocab ${c.vocab_size}, hidden ${c.hidden_size}, ${c.num_hidden_layers} layers) ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  io.stderr.write(
    `note: these weights are RANDOM (seed ${seed}): anything generated from them is noise. config.json is labelled "qwen2_ts_random_weights": true.\n`,
  );
  return 0;
}

const command: Command = { summary: "write a random Qwen2 model (real shapes, HF layout) for tests and demos", usage, run };
export default command;
