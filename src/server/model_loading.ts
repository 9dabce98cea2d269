/**
 * How `qwen2 serve` and `qwen2 chat` get a model: through `loadModel` of
 * src/runtime/load.ts (a Hugging Face folder or a .gguf file), imported lazily so the
 * server code depends only on the CausalLM/TextTokenizer interfaces. QWEN2_MODEL_LOADER
 * may name another module exporting the same `loadModel` (the chat tests use a toy one).
 */
import { pathToFileURL } from "node:url";
import { isAbsolute, resolve } from "node:path";
import type { CausalLM } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { UsageError } from "../cli/command.js";
import type { SamplingDefaults } from "./sampling_params.js";

export interface LoadProgress {
  readonly loaded: number;
  readonly total: number;
}

export interface LoadOptions {
  readonly backend?: string;
  readonly threads?: number;
  /** A fraction in [0, 1] or {loaded, total}. */
  readonly onProgress?: (progress: number | LoadProgress) => void;
}

export interface LoadedModel {
  readonly model: CausalLM;
  readonly tokenizer: TextTokenizer;
  readonly eosIds: readonly number[];
  readonly generationConfig?: {
    readonly temperature?: number;
    readonly top_p?: number;
    readonly top_k?: number;
    readonly repetition_penalty?: number;
    readonly do_sample?: boolean;
  } | null;
  close(): void | Promise<void>;
}

type LoadFn = (path: string, options: LoadOptions) => Promise<LoadedModel>;

export async function loadModelFor(path: string, options: LoadOptions): Promise<LoadedModel> {
  const override = process.env.QWEN2_MODEL_LOADER;
  const spec = override ? pathToFileURL(isAbsolute(override) ? override : resolve(override)).href : "../runtime/load.js";
  let mod: { loadModel?: LoadFn };
  try {
    mod = (await import(spec)) as { loadModel?: LoadFn };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") throw new UsageError(`model loading is not available in this build (${spec} is missing)`);
    throw err;
  }
  if (typeof mod.loadModel !== "function") throw new UsageError(`${spec} does not export loadModel`);
  return mod.loadModel(path, options);
}

/** generation_config.json sampling fields as server defaults (greedy when do_sample is false). */
export function samplingDefaults(gc: LoadedModel["generationConfig"]): SamplingDefaults {
  if (!gc) return {};
  if (gc.do_sample === false) return { temperature: 0 };
  const d: { -readonly [K in keyof SamplingDefaults]: SamplingDefaults[K] } = {};
  if (gc.temperature !== undefined) d.temperature = gc.temperature;
  if (gc.top_p !== undefined) d.topP = gc.top_p;
  if (gc.top_k !== undefined) d.topK = gc.top_k;
  if (gc.repetition_penalty !== undefined) d.repetitionPenalty = gc.repetition_penalty;
  return d;
}

/** `--name value` / `--name=value` / `--flag` parsing against a fixed list of options. */
export function parseFlags(args: readonly string[], valued: readonly string[], flags: readonly string[] = []): { values: Map<string, string>; flags: Set<string>; rest: string[] } {
  const values = new Map<string, string>();
  const set = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.includes(name)) {
      set.add(name);
      continue;
    }
    if (!valued.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    values.set(name, value);
  }
  return { values, flags: set, rest };
}

export function intFlag(values: Map<string, string>, name: string, min: number, fallback?: number): number | undefined {
  const v = values.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

export function numberFlag(values: Map<string, string>, name: string, min: number, max: number): number | undefined {
  const v = values.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in [${min}, ${max}], got '${v}'`);
  return n;
}

/** A one-line progress bar on a terminal stream (redrawn in place). */
export function progressBar(out: NodeJS.WritableStream, label: string): (p: number | LoadProgress) => void {
  let last = -1;
  return (p) => {
    const f = Math.max(0, Math.min(1, typeof p === "number" ? p : p.total > 0 ? p.loaded / p.total : 0));
    const pct = Math.floor(f * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const filled = Math.round(f * width);
    out.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(pct).padStart(3)}%${f >= 1 ? "\n" : ""}`);
  };
}
