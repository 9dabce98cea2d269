/**
 * `qwen2 create-random --preset P --dtype D --out DIR [--seed S]`: writes a random Qwen2
 * model of real shapes in Hugging Face layout, with the embedded tokenizer, labelled as
 * random in its config.json.
 */
import { existsSync, readdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { UsageError, type CliIO, type Command } from "../command.js";
import { createRandomModel, RANDOM_PRESETS, type RandomPreset } from "../../formats/random_model.js";
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
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        preset: { type: "string" },
        dtype: { type: "string", default: "bf16" },
        out: { type: "string" },
        seed: { type: "string", default: "0" },
        force: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const preset = values.preset;
  if (preset === undefined) throw new UsageError(`--preset is required (${RANDOM_PRESETS.join(", ")})`);
  if (!(RANDOM_PRESETS as readonly string[]).includes(preset)) throw new UsageError(`unknown --preset '${preset}' (choose ${RANDOM_PRESETS.join(", ")})`);
  const dtype = values.dtype!;
  if (!(DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`unknown --dtype '${dtype}' (choose ${DTYPES.join(", ")})`);
  if (values.out === undefined) throw new UsageError("--out DIR is required");
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed expects an integer in [0, 2^32), got '${values.seed}'`);
  if (existsSync(values.out) && readdirSync(values.out).length > 0 && !values.force) {
    throw new UsageError(`${values.out} is not empty (use --force to overwrite the model files)`);
  }

  const started = Date.now();
  const r = createRandomModel({ preset: preset as RandomPreset, dtype: dtype as FloatDType, outDir: values.out, seed });
  const c = r.config;
  io.stdout.write(
    `wrote ${values.out}: preset ${preset}, ${dtype}, ${(r.parameters / 1e6).toFixed(2)}M parameters, ` +
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB of weights (vocab ${c.vocab_size}, hidden ${c.hidden_size}, ${c.num_hidden_layers} layers) ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  io.stderr.write(`note: these weights are RANDOM (seed ${seed}): anything generated from them is noise. config.json is labelled "qwen2_ts_random_weights": true.\n`);
  return 0;
}

const command: Command = { summary: "write a random Qwen2 model (real shapes, HF layout) for tests and demos", usage, run };
export default command;
