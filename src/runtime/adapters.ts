/**
 * PEFT LoRA adapters for a loaded model, from wherever a model can come from: a folder path
 * (Node, Deno, Bun), a URL (read with range requests), a dropped folder's Files, or any
 * ModelFiles.
 *
 *   const m = await fromPretrained("Qwen2.5-0.5B-Instruct/");
 *   const sql = await loadAdapter(m, "adapters/sql-lora/", { name: "sql" });
 *   await generate(m.model, m.tokenizer, prompt, { adapters: [{ adapter: sql }] });
 *
 * Unmerged (`loadAdapter`): several adapters on one model, chosen per request, each beside
 * the base weights whatever their type. Merged (`fromPretrained(..., { mergeAdapters })`):
 * W + scale B A baked into float32 weights at load, for one fixed adapter at no per-token cost.
 */
import { FormatError, InvalidArgumentError, UnsupportedError } from "../errors.js";
import type { Qwen2Config } from "../formats/config.js";
import { openPeftAdapter, type PeftAdapter } from "../formats/peft_adapter.js";
import type { ModelFiles } from "../io/byte_source.js";
import { blobFiles } from "../io/blob_source.js";
import type { FetchLike } from "../io/http.js";
import { urlFiles } from "../io/url_files.js";
import { LoraAdapter } from "../models/lora.js";
import { Qwen2ForCausalLM } from "../models/qwen2.js";
import type { CausalLM } from "../models/causal_lm.js";
import { hasLocalFiles, localFolder, localPathKind } from "#platform";

/** Where an adapter folder is: a path or URL, a dropped folder's Files, or any ModelFiles. */
export type AdapterSource = string | URL | readonly Blob[] | ArrayLike<Blob> | ModelFiles;

/** An adapter to merge at load, with a multiplier of its trained scale (default 1). */
export type MergeAdapterSpec = AdapterSource | { readonly source: AdapterSource; readonly scale?: number };

export interface AdapterLoadOptions {
  /** The name requests choose it by (default: the folder's location). */
  readonly name?: string;
  readonly signal?: AbortSignal;
  /** The fetch used for URLs. */
  readonly fetch?: FetchLike;
  /** Receives notes on legal oddities (a targeted module the file lacks, fan_in_fan_out). */
  readonly onWarning?: (message: string) => void;
}

function isModelFiles(x: unknown): x is ModelFiles {
  return (
    typeof x === "object" && x !== null && typeof (x as ModelFiles).open === "function" && typeof (x as ModelFiles).text === "function"
  );
}

/** The adapter folder a source names. */
export async function adapterFiles(source: AdapterSource, options: { fetch?: FetchLike; signal?: AbortSignal } = {}): Promise<ModelFiles> {
  if (isModelFiles(source)) return source;
  if (typeof source === "string" || source instanceof URL) {
    const text = source instanceof URL ? source.href : source;
    if (/^[a-z][a-z0-9+.-]+:/i.test(text) && !text.startsWith("file:")) {
      const url = new URL(text).href;
      return urlFiles(url.endsWith("/") ? url : `${url}/`, {
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    if (!hasLocalFiles)
      throw new UnsupportedError(`${text}: local paths cannot be opened here; pass a URL, the folder's Files or a ModelFiles`);
    const path = text.startsWith("file:") ? decodeURIComponent(new URL(text).pathname) : text;
    const kind = await localPathKind(path);
    if (kind !== "folder")
      throw new FormatError(
        path,
        kind === null ? "no such folder (expected a PEFT adapter folder)" : "expected a PEFT adapter folder, not a file",
      );
    return localFolder(path);
  }
  const blobs = Array.from(source as ArrayLike<Blob>);
  if (blobs.length === 0) throw new InvalidArgumentError("loadAdapter: an empty list of files");
  return blobFiles(blobs);
}

/** Opens and checks an adapter folder against a base config (headers only: tensors are read when used). */
export async function openAdapter(source: AdapterSource, base: Qwen2Config, options: AdapterLoadOptions = {}): Promise<PeftAdapter> {
  const files = await adapterFiles(source, options);
  const adapter = await openPeftAdapter(files, base, options.signal);
  for (const w of adapter.warnings) options.onWarning?.(w);
  return adapter;
}

/** The Qwen2 model under a CausalLM (or a LoadedModel's), which adapters attach to. */
function qwen2Of(model: CausalLM | { readonly model: CausalLM }): Qwen2ForCausalLM {
  const lm = model instanceof Qwen2ForCausalLM ? model : "model" in model ? model.model : model;
  if (!(lm instanceof Qwen2ForCausalLM)) throw new UnsupportedError("LoRA adapters attach to a Qwen2ForCausalLM loaded in this thread");
  return lm;
}

/**
 * Loads a PEFT LoRA adapter onto a loaded model's backend, to be chosen per sequence
 * (`adapters: [{ adapter, scale }]` in generate/stream, ForwardItem.adapters). Dispose it
 * when done (the model's dispose does not).
 */
export async function loadAdapter(
  model: CausalLM | { readonly model: CausalLM },
  source: AdapterSource,
  options: AdapterLoadOptions = {},
): Promise<LoraAdapter> {
  const lm = qwen2Of(model);
  const peft = await openAdapter(source, lm.config, options);
  try {
    return await LoraAdapter.load(peft, lm.config, lm.model.backend, {
      name: options.name ?? peft.location,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    peft.close();
  }
}

/** A merge spec's source and multiplier. */
export function mergeSpec(spec: MergeAdapterSpec): { source: AdapterSource; scale: number } {
  if (typeof spec === "object" && spec !== null && "source" in spec && !isModelFiles(spec))
    return { source: spec.source, scale: spec.scale ?? 1 };
  return { source: spec as AdapterSource, scale: 1 };
}
