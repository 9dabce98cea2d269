/**
 * `qwen2 inspect --model DIR|FILE.gguf [--json]`: what a model holds, without loading weights:
 * the resolved config, each layer's attention kind, every tensor with dtype and shape,
 * the parameter count and a memory estimate (weights + KV cache per token). For a GGUF file
 * also each tensor's ggml type and bits per weight, the per-type counts and the file's
 * effective bits per weight.
 */
import { basename } from "node:path";
import type { CliIO, Command } from "../command.js";
import { parseFlags, requiredFlag } from "../flags.js";
import { layerWindows, type Qwen2Config } from "../../formats/config.js";
import { loadGenerationConfig, loadQwen2Config } from "../../formats/config_parse.js";
import { openSafetensorsWeights } from "../../formats/model_folder.js";
import { validateQwen2Weights } from "../../formats/qwen2_tensors.js";
import { localFolder, localPathKind } from "#platform";
import { inspectGGUF } from "./inspect_gguf.js";
import { SAFETENSORS_DTYPE_NAMES } from "../../formats/safetensors.js";
import { ShardedSafetensors } from "../../formats/safetensors_sharded.js";
import { numel } from "../../tensor/dtype.js";

const usage = `Usage: qwen2 inspect --model DIR|FILE.gguf [--json]

Shows a Qwen2 model (a Hugging Face folder or a GGUF file): resolved config (with Hugging
Face defaults filled in), per-layer attention kind, every tensor with dtype and shape, the
parameter count and a memory estimate. For a GGUF file, each tensor's ggml type and bits per
weight, the count of tensors per type and the file's effective bits per weight.
Reads only headers, never the weights.
Exits 1 when tensors are missing or mis-shaped (each is named).

Options:
  --model PATH  model folder (config.json, model.safetensors or a sharded index) or a .gguf file
  --json        one JSON object instead of text
`;

export interface KvEstimate {
  /** Bytes of K and V per token over all layers, float32 cache. */
  readonly perTokenF32: number;
  /** The same with a 16-bit cache. */
  readonly perToken16: number;
  /** float32 cache bytes for one sequence of max_position_embeddings tokens (sliding layers capped at their window). */
  readonly fullContextF32: number;
}

/** KV cache sizes: 2 (K and V) x kv heads x head_dim per layer and token. */
export function kvEstimate(config: Qwen2Config): KvEstimate {
  const perLayer = 2 * config.num_key_value_heads * config.head_dim;
  const windows = layerWindows(config);
  let full = 0;
  for (const w of windows) full += perLayer * Math.min(w ?? Infinity, config.max_position_embeddings);
  return { perTokenF32: perLayer * windows.length * 4, perToken16: perLayer * windows.length * 2, fullContextF32: full * 4 };
}

/** Runs of equal attention kinds: "0-21 full, 22-23 sliding(4096)". */
function attentionRuns(config: Qwen2Config): string {
  const windows = layerWindows(config);
  const runs: string[] = [];
  let start = 0;
  for (let i = 1; i <= windows.length; i++) {
    if (i === windows.length || windows[i] !== windows[start]) {
      const w = windows[start];
      const range = i - 1 === start ? `${start}` : `${start}-${i - 1}`;
      runs.push(`${range} ${w === null ? "full" : `sliding(${w})`}`);
      start = i;
    }
  }
  return runs.join(", ");
}

/** Sorts tensor names with embedded numbers compared as numbers (layers 2 before 10). */
function naturalSort(names: string[]): string[] {
  const collator = new Intl.Collator("en", { numeric: true });
  return [...names].sort(collator.compare);
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(args, { model: { type: "string" }, json: { type: "boolean", default: false } });
  const dir = requiredFlag(values, "model", "DIR|FILE.gguf (a Hugging Face model folder or a GGUF file)");
  if (/\.gguf$/i.test(dir) || (await localPathKind(dir)) === "file") return inspectGGUF(dir, values.json === true, io);
  const warnings: string[] = [];
  const files = localFolder(dir);
  const config = await loadQwen2Config(files, warnings);
  const generation = await loadGenerationConfig(files, warnings);
  const weights = await openSafetensorsWeights(files);
  try {
    const report = validateQwen2Weights(config, weights, { onMismatch: "report" });
    const tensors = naturalSort(weights.names()).map((name) => {
      const info = weights.info(name);
      const file = weights instanceof ShardedSafetensors ? basename(weights.fileOf(name)) : basename(weights.location);
      return { name, dtype: info.dtype, shape: [...info.shape], bytes: info.byteLength, file };
    });
    const ignored = new Set(report.ignored);
    let parameters = 0;
    let weightBytes = 0;
    const dtypes = new Map<string, number>();
    for (const t of tensors) {
      if (ignored.has(t.name)) continue;
      parameters += numel(t.shape);
      weightBytes += t.bytes;
      dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    }
    const kv = kvEstimate(config);
    const windows = layerWindows(config);
    const ok = report.missing.length === 0 && report.misshaped.length === 0;

    if (values.json) {
      const out = {
        model: dir,
        random_weights: config.qwen2_ts_random_weights === true,
        config,
        generation_config: generation,
        layers: windows.map((w, i) => ({ layer: i, attention: w === null ? "full" : "sliding", window: w })),
        tensors,
        parameters,
        weight_bytes: weightBytes,
        kv_bytes_per_token_f32: kv.perTokenF32,
        kv_bytes_per_token_16bit: kv.perToken16,
        kv_bytes_full_context_f32: kv.fullContextF32,
        tied_lm_head: report.tiedHead,
        missing: report.missing,
        misshaped: report.misshaped,
        unexpected: report.unexpected,
        ignored: report.ignored,
        warnings,
      };
      io.stdout.write(JSON.stringify(out, null, 2) + "\n");
      return ok ? 0 : 1;
    }

    const c = config;
    const rope = c.rope_scaling
      ? `${c.rope_scaling.rope_type} x${c.rope_scaling.factor}` +
        (c.rope_scaling.original_max_position_embeddings ? ` (original ${c.rope_scaling.original_max_position_embeddings})` : "")
      : "none";
    const lines = [
      `model        ${dir}${c.qwen2_ts_random_weights ? "   [RANDOM WEIGHTS: made by qwen2 create-random, outputs are noise]" : ""}`,
      `architecture Qwen2ForCausalLM (model_type qwen2), torch_dtype ${c.torch_dtype ?? "unset"}`,
      `vocab        ${c.vocab_size}`,
      `hidden       ${c.hidden_size}, intermediate ${c.intermediate_size}, ${c.num_hidden_layers} layers`,
      `attention    ${c.num_attention_heads} heads, ${c.num_key_value_heads} kv heads (GQA ${c.num_attention_heads / c.num_key_value_heads}), head_dim ${c.head_dim}`,
      `positions    max ${c.max_position_embeddings}, rope_theta ${c.rope_theta}, rope scaling ${rope}`,
      `norm         rms_norm_eps ${c.rms_norm_eps}`,
      `lm_head      ${c.tie_word_embeddings ? "tied to embed_tokens" : "separate"}${report.tiedHead ? " (no lm_head.weight stored)" : ""}`,
      `layers       ${attentionRuns(c)}`,
      `tokens       bos ${c.bos_token_id ?? "-"}, eos [${c.eos_token_id.join(", ")}], pad ${c.pad_token_id ?? "-"}`,
      `generation   ${Object.keys(generation).length === 0 ? "(no generation_config.json)" : JSON.stringify(generation)}`,
      "",
      `tensors (${tensors.length}):`,
    ];
    const nameWidth = Math.max(...tensors.map((t) => t.name.length), 10);
    const sharded = weights instanceof ShardedSafetensors;
    for (const t of tensors) {
      const dt = (SAFETENSORS_DTYPE_NAMES[t.dtype] ?? t.dtype).padEnd(5);
      lines.push(
        `  ${t.name.padEnd(nameWidth)}  ${dt} [${t.shape.join(", ")}]${sharded ? `  ${t.file}` : ""}${ignored.has(t.name) ? "  (ignored)" : ""}`,
      );
    }
    lines.push(
      "",
      `parameters   ${parameters.toLocaleString("en-US")} (${(parameters / 1e6).toFixed(2)}M); dtypes ${[...dtypes].map(([d, n]) => `${d} x${n}`).join(", ")}`,
      `memory       weights ${mib(weightBytes)}; KV cache ${kv.perTokenF32.toLocaleString("en-US")} B/token (f32), ${kv.perToken16.toLocaleString("en-US")} B/token (16-bit); ` +
        `${mib(kv.fullContextF32)} for ${c.max_position_embeddings} tokens (f32)`,
    );
    for (const m of report.missing) lines.push(`ERROR missing tensor ${m}`);
    for (const m of report.misshaped) lines.push(`ERROR mis-shaped tensor ${m}`);
    if (report.unexpected.length > 0) lines.push(`unused tensors: ${report.unexpected.join(", ")}`);
    for (const w of warnings) lines.push(`warning: ${w}`);
    io.stdout.write(lines.join("\n") + "\n");
    return ok ? 0 : 1;
  } finally {
    weights.close();
  }
}

const command: Command = { summary: "show a model folder's config, layers, tensors, parameters and memory", usage, run };
export default command;
