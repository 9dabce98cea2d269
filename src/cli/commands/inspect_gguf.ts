/**
 * `qwen2 inspect --model FILE.gguf`: a GGUF file's config (from its `qwen2.*` metadata), every
 * tensor with its llama.cpp and Hugging Face names, ggml type, shape and bits per weight, the
 * tensors per type, and the effective bits per weight of the whole file (what llama.cpp's
 * quantiser reports as BPW). Files with types we do not run are shown too, marked.
 */
import type { CliIO } from "../command.js";
import { layerWindows } from "../../formats/config.js";
import { GGUFFile } from "../../formats/gguf.js";
import { openGGUF } from "../../formats/gguf_qwen2.js";
import { ggufToHfName } from "../../formats/gguf_qwen2_names.js";
import { presetOfFileType } from "../../formats/gguf_quant_presets.js";
import { isWeightDType, numel } from "../../tensor/dtype.js";
import { openLocalFile } from "#platform";
import { kvEstimate } from "./inspect.js";

interface GGUFTensorRow {
  readonly name: string;
  readonly hf_name: string | null;
  readonly type: string;
  readonly shape: number[];
  readonly bytes: number;
  readonly bits_per_weight: number;
  readonly runs: boolean;
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export async function inspectGGUF(path: string, json: boolean, io: CliIO): Promise<number> {
  // The raw file first: its tensor table is shown even when the model cannot be opened.
  const file = await GGUFFile.open(await openLocalFile(path));
  let rows: GGUFTensorRow[];
  let fileType: number | undefined;
  try {
    fileType = file.number("general.file_type");
    rows = file.tensors.map((t) => {
      const shape = [...t.shape];
      const n = numel(shape);
      return {
        name: t.name,
        hf_name: ggufToHfName(t.name) ?? null,
        type: t.type.name,
        shape,
        bytes: t.byteLength,
        bits_per_weight: (t.byteLength * 8) / n,
        runs: t.type.dtype !== null && isWeightDType(t.type.dtype),
      };
    });
  } finally {
    file.close();
  }
  const byType = new Map<string, { tensors: number; weights: number; bytes: number }>();
  let weights = 0;
  let bytes = 0;
  for (const r of rows) {
    const e = byType.get(r.type) ?? { tensors: 0, weights: 0, bytes: 0 };
    const n = numel(r.shape);
    byType.set(r.type, { tensors: e.tensors + 1, weights: e.weights + n, bytes: e.bytes + r.bytes });
    weights += n;
    bytes += r.bytes;
  }
  const bpw = (bytes * 8) / weights;
  const preset = fileType === undefined ? undefined : presetOfFileType(fileType);
  const unsupported = rows.filter((r) => !r.runs);

  let config = null;
  let problem: string | null = null;
  try {
    const g = await openGGUF(await openLocalFile(path));
    config = g.config;
    g.close();
  } catch (err) {
    problem = (err as Error).message;
  }

  if (json) {
    const out = {
      model: path,
      file_type: fileType ?? null,
      preset: preset ?? null,
      config,
      tensors: rows,
      types: Object.fromEntries([...byType].map(([t, e]) => [t, { ...e, bits_per_weight: (e.bytes * 8) / e.weights }])),
      parameters: weights,
      weight_bytes: bytes,
      bits_per_weight: bpw,
      kv_bytes_per_token_f32: config ? kvEstimate(config).perTokenF32 : null,
      error: problem,
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return problem === null ? 0 : 1;
  }

  const lines = [
    `model        ${path}${config?.qwen2_ts_random_weights ? "   [RANDOM WEIGHTS: made by qwen2 create-random, outputs are noise]" : ""}`,
  ];
  lines.push(`file type    ${fileType ?? "unset"}${preset ? ` (${preset.toUpperCase()})` : ""}`);
  if (config) {
    const c = config;
    lines.push(
      `vocab        ${c.vocab_size}`,
      `hidden       ${c.hidden_size}, intermediate ${c.intermediate_size}, ${c.num_hidden_layers} layers`,
      `attention    ${c.num_attention_heads} heads, ${c.num_key_value_heads} kv heads (GQA ${c.num_attention_heads / c.num_key_value_heads}), head_dim ${c.head_dim}`,
      `positions    max ${c.max_position_embeddings}, rope_theta ${c.rope_theta}`,
      `lm_head      ${c.tie_word_embeddings ? "tied to token_embd" : "separate (output.weight)"}`,
      `layers       ${layerWindows(c).filter((w) => w !== null).length} sliding of ${c.num_hidden_layers}`,
    );
  }
  lines.push("", `tensors (${rows.length}):`);
  const nameWidth = Math.max(...rows.map((r) => r.name.length), 10);
  const typeWidth = Math.max(...rows.map((r) => r.type.length), 4);
  for (const r of rows) {
    lines.push(
      `  ${r.name.padEnd(nameWidth)}  ${r.type.padEnd(typeWidth)} ${r.bits_per_weight.toFixed(2).padStart(5)} bpw  [${r.shape.join(", ")}]` +
        `${r.runs ? "" : "  (qwen2-ts does not run this type)"}`,
    );
  }
  lines.push("", "types:");
  for (const [t, e] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes)) {
    lines.push(
      `  ${t.padEnd(typeWidth)} ${String(e.tensors).padStart(4)} tensors  ${((e.bytes * 8) / e.weights).toFixed(2).padStart(5)} bpw  ${mib(e.bytes)}`,
    );
  }
  lines.push(
    "",
    `parameters   ${weights.toLocaleString("en-US")} (${(weights / 1e6).toFixed(2)}M)`,
    `size         ${mib(bytes)} of tensors; ${bpw.toFixed(2)} bits per weight`,
  );
  if (config) lines.push(`KV cache     ${kvEstimate(config).perTokenF32.toLocaleString("en-US")} B/token (f32)`);
  if (unsupported.length > 0)
    lines.push(
      `warning: ${unsupported.length} tensors are in types qwen2-ts does not run (${[...new Set(unsupported.map((r) => r.type))].join(", ")})`,
    );
  if (problem !== null) lines.push(`ERROR ${problem}`);
  io.stdout.write(`${lines.join("\n")}\n`);
  return problem === null ? 0 : 1;
}
