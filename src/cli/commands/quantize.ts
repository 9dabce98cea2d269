/**
 * `qwen2 quantize --model DIR --type q8_0 --out FILE.gguf`: writes a Hugging Face Qwen2
 * folder as a GGUF file (F32, F16, BF16, Q8_0 or Q4_0) that both qwen2-ts and llama.cpp run.
 */
import { basename, resolve } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { choiceFlag, parseFlags, requiredFlag } from "../flags.js";
import { itemProgress } from "../progress.js";
import type { Qwen2Config } from "../../formats/config.js";
import { GGUF_EXPORT_TYPES } from "../../formats/gguf_qwen2_export.js";
import { writeQwen2GGUF } from "../../node/gguf_writer.js";
import { readTokenizerFolder } from "../../tokenizer/folder.js";
import { loadModelFolder } from "../../formats/model_folder.js";
import { localFolder } from "#platform";
import type { WeightSource } from "../../formats/weights.js";
import { mergeLoraWeights } from "../../formats/lora_merge.js";
import type { PeftAdapter } from "../../formats/peft_adapter.js";
import { openAdapter } from "../../runtime/adapters.js";
import { LORA_FLAG, readLoraFlags } from "../lora_flags.js";

const usage = `Usage: qwen2 quantize --model DIR --type TYPE --out FILE.gguf [--tokenizer DIR] [--lora DIR[:SCALE]]

Converts a Hugging Face Qwen2 model folder to GGUF, the file format of llama.cpp:
llama.cpp's tensor names and metadata, the tokenizer stored inside.

Options:
  --model DIR        model folder (config.json, *.safetensors)
  --type TYPE        ${GGUF_EXPORT_TYPES.join(" | ")}
                     q8_0 / q4_0: 32-weight blocks with an f16 scale, bit-exact with ggml's
                     reference quantisers; norms and biases stay f32 as llama.cpp expects
  --out FILE.gguf    output file (written beside, then renamed into place)
  --tokenizer DIR    tokenizer folder, when the model folder has none
  --lora DIR[:SCALE] bake a PEFT LoRA adapter into the weights (W + SCALE * alpha/r * B A,
                     in float32 before quantising; repeatable)
  --quiet            no progress on stderr
`;

/** What the command needs from a model folder (tests pass a toy one). */
export type FolderLoader = (
  dir: string,
) => Promise<{ config: Qwen2Config; weights: WeightSource }> | { config: Qwen2Config; weights: WeightSource };

export async function runQuantize(
  args: string[],
  io: CliIO,
  load: FolderLoader = (dir) => loadModelFolder(localFolder(dir)),
): Promise<number> {
  const { values } = parseFlags(args, {
    model: { type: "string" },
    type: { type: "string" },
    out: { type: "string" },
    tokenizer: { type: "string" },
    quiet: { type: "boolean" },
    ...LORA_FLAG,
  });
  const loras = readLoraFlags(values, false);
  const model = requiredFlag(values, "model", "DIR (a Hugging Face model folder)");
  const outFlag = requiredFlag(values, "out", "FILE.gguf (the file to write)");
  if (values.type === undefined)
    throw new UsageError(`--type is required: one of ${GGUF_EXPORT_TYPES.join(", ")} (q8_0 is the usual choice)`);
  const type = choiceFlag({ type: values.type.toLowerCase() }, "type", GGUF_EXPORT_TYPES)!;

  const dir = resolve(model);
  const out = resolve(outFlag);
  const started = performance.now();
  const folder = await load(dir);
  const { config } = folder;
  const adapters: PeftAdapter[] = [];
  let weights = folder.weights;
  try {
    for (const l of loras)
      adapters.push(await openAdapter(resolve(l.path), config, { onWarning: (w) => io.stderr.write(`warning: ${w}\n`) }));
    if (adapters.length > 0)
      weights = mergeLoraWeights(
        weights,
        adapters.map((adapter, i) => ({ adapter, scale: loras[i]!.scale })),
      );
    const tokenizer = await readTokenizerFolder(localFolder(values.tokenizer ? resolve(values.tokenizer) : dir));
    if (!tokenizer) {
      io.stderr.write(
        `warning: ${values.tokenizer ?? dir} has no tokenizer files (tokenizer.json or vocab.json + merges.txt): the GGUF will have no tokenizer, and llama.cpp will not load it. Pass --tokenizer DIR.\n`,
      );
    }
    const summary = await writeQwen2GGUF(out, {
      config,
      weights,
      tokenizer,
      type,
      name: basename(dir),
      onTensor: values.quiet ? undefined : itemProgress(io.stderr),
    });
    const counts = new Map<string, number>();
    for (const t of summary.tensorTypes.values()) counts.set(t, (counts.get(t) ?? 0) + 1);
    const mix = [...counts].map(([t, n]) => `${n} ${t}`).join(", ");
    io.stdout.write(`wrote ${out} (${type}: ${mix} tensors) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    return 0;
  } finally {
    weights.close();
    for (const a of adapters) a.close();
  }
}

const command: Command = {
  summary: "convert a model folder to GGUF (f32, f16, bf16, q8_0, q4_0) for qwen2-ts and llama.cpp",
  usage,
  run: (args, io) => runQuantize(args, io),
};
export default command;
