/**
 * `qwen2 quantize --model DIR|FILE.gguf --type q4_k_m --out FILE.gguf`: writes a Qwen2 model
 * as a GGUF file in one of llama-quantize's presets, each tensor in the type llama.cpp's
 * preset gives it, for qwen2-ts and llama.cpp alike. Ends with the per-type tensor counts
 * and the bits per weight.
 */
import { basename, resolve } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { choiceFlag, intFlag, parseFlags, requiredFlag } from "../flags.js";
import { itemProgress } from "../progress.js";
import type { Qwen2Config } from "../../formats/config.js";
import { GGUF_EXPORT_TYPES } from "../../formats/gguf_qwen2_export.js";
import { openGGUF } from "../../formats/gguf_qwen2.js";
import type { GGUFEntry } from "../../formats/gguf_types.js";
import { writeQwen2GGUF } from "../../node/gguf_writer.js";
import { QuantizePool } from "../../node/quantize_pool.js";
import { availableParallelism } from "node:os";
import { readTokenizerFolder } from "../../tokenizer/folder.js";
import { loadModelFolder } from "../../formats/model_folder.js";
import { localFolder, localPathKind, openLocalFile } from "#platform";
import type { WeightSource } from "../../formats/weights.js";
import { byteSize, type DType, numel } from "../../tensor/dtype.js";
import { mergeLoraWeights } from "../../formats/lora_merge.js";
import type { PeftAdapter } from "../../formats/peft_adapter.js";
import { openAdapter } from "../../runtime/adapters.js";
import { LORA_FLAG, readLoraFlags } from "../lora_flags.js";

const usage = `Usage: qwen2 quantize --model DIR|FILE.gguf --type TYPE --out FILE.gguf [options]

Writes a Qwen2 model (a Hugging Face folder, or a GGUF file to re-quantise) as GGUF, the
file format of llama.cpp: llama.cpp's tensor names and metadata, the tokenizer inside, and
each tensor in the type llama-quantize's preset gives it.

Options:
  --model PATH       model folder (config.json, *.safetensors) or a .gguf file
  --type TYPE        ${GGUF_EXPORT_TYPES.join(" | ")}
                     q4_k_m is llama.cpp's usual choice; the _s/_m/_l mixtures give attn_v
                     and ffn_down more bits in some layers, the head gets q6_k, and rows that
                     are not a multiple of 256 fall back to 32-weight types (q4_k -> q5_0 ...).
                     Norms and biases stay f32. Quantisation is bit-exact with ggml's.
  --pure             every quantised tensor in the preset's base type (llama-quantize --pure)
  --allow-requantize write a quantised GGUF tensor with more bits than it has (refused
                     otherwise: the precision it lost does not come back)
  --out FILE.gguf    output file (written beside, then renamed into place)
  --tokenizer DIR    tokenizer folder, when the model folder has none
  --lora DIR[:SCALE] bake a PEFT LoRA adapter into the weights (W + SCALE * alpha/r * B A,
                     in float32 before quantising; repeatable)
  --threads N        worker threads for the block quantisers (default: cores - 1; 1 = none)
  --quiet            no progress on stderr
`;

/** What the command needs from a model folder (tests pass a toy one). */
export type FolderLoader = (
  dir: string,
) => Promise<{ config: Qwen2Config; weights: WeightSource }> | { config: Qwen2Config; weights: WeightSource };

/** The model to write: a folder's config and weights, or a GGUF file's (with its metadata to copy). */
interface Source {
  readonly config: Qwen2Config;
  readonly weights: WeightSource;
  readonly metadata?: ReadonlyMap<string, GGUFEntry>;
}

async function openSource(path: string, load: FolderLoader): Promise<Source> {
  if (/\.gguf$/i.test(path) || (await localPathKind(path)) === "file") {
    const g = await openGGUF(await openLocalFile(path));
    return { config: g.config, weights: g.weights, metadata: g.file.metadata };
  }
  return load(path);
}

/** "q4_k 120 (41.2%), q6_k 25, f32 121" and the bits per weight of the whole file. */
export function typeSummary(types: ReadonlyMap<string, DType>, shapes: ReadonlyMap<string, readonly number[]>): string {
  const counts = new Map<string, number>();
  let bits = 0;
  let weights = 0;
  for (const [name, dtype] of types) {
    counts.set(dtype, (counts.get(dtype) ?? 0) + 1);
    const shape = shapes.get(name)!;
    bits += byteSize(dtype, shape) * 8;
    weights += numel(shape);
  }
  const mix = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${n} ${t}`)
    .join(", ");
  return `${mix} tensors; ${(bits / weights).toFixed(2)} bits per weight`;
}

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
    pure: { type: "boolean" },
    "allow-requantize": { type: "boolean" },
    quiet: { type: "boolean" },
    threads: { type: "string" },
    ...LORA_FLAG,
  });
  const loras = readLoraFlags(values, false);
  const model = requiredFlag(values, "model", "DIR|FILE.gguf (a Hugging Face model folder or a GGUF file)");
  const outFlag = requiredFlag(values, "out", "FILE.gguf (the file to write)");
  if (values.type === undefined)
    throw new UsageError(`--type is required: one of ${GGUF_EXPORT_TYPES.join(", ")} (q4_k_m is the usual choice)`);
  const type = choiceFlag({ type: values.type.toLowerCase() }, "type", GGUF_EXPORT_TYPES)!;

  const path = resolve(model);
  const out = resolve(outFlag);
  if (out === path) throw new UsageError(`--out ${outFlag} is the model file itself; write to another file`);
  const started = performance.now();
  const threads =
    values.threads === undefined ? Math.max(1, availableParallelism() - 1) : intFlag(values, "threads", { min: 1, max: 256 })!;
  const source = await openSource(path, load);
  const pool = threads > 1 ? new QuantizePool(threads) : null;
  const { config, metadata } = source;
  const adapters: PeftAdapter[] = [];
  let weights = source.weights;
  try {
    for (const l of loras)
      adapters.push(await openAdapter(resolve(l.path), config, { onWarning: (w) => io.stderr.write(`warning: ${w}\n`) }));
    if (adapters.length > 0)
      weights = mergeLoraWeights(
        weights,
        adapters.map((adapter, i) => ({ adapter, scale: loras[i]!.scale })),
      );
    const tokenizer = metadata ? null : await readTokenizerFolder(localFolder(values.tokenizer ? resolve(values.tokenizer) : path));
    if (!metadata && !tokenizer) {
      io.stderr.write(
        `warning: ${values.tokenizer ?? path} has no tokenizer files (tokenizer.json or vocab.json + merges.txt): the GGUF will have no tokenizer, and llama.cpp will not load it. Pass --tokenizer DIR.\n`,
      );
    }
    const summary = await writeQwen2GGUF(out, {
      config,
      weights,
      tokenizer,
      type,
      pure: values.pure === true,
      metadata,
      allowRequantize: values["allow-requantize"] === true,
      quantizer: pool ? (dtype, v, cols) => pool.quantize(dtype, v, cols) : undefined,
      name: basename(path).replace(/\.gguf$/i, ""),
      onTensor: values.quiet ? undefined : itemProgress(io.stderr),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    io.stdout.write(`wrote ${out} (${type}: ${typeSummary(summary.tensorTypes, summary.tensorShapes)}) in ${seconds} s\n`);
    return 0;
  } finally {
    await pool?.close();
    weights.close();
    for (const a of adapters) a.close();
  }
}

const command: Command = {
  summary: "write a model folder or GGUF as GGUF in a llama.cpp preset (q4_k_m, q5_k_m, q6_k, q8_0, f16 ...)",
  usage,
  run: (args, io) => runQuantize(args, io),
};
export default command;
