/**
 * How `qwen2 serve` and `qwen2 chat` get a model: through `loadModel` of
 * src/runtime/load.ts (a Hugging Face folder or a .gguf file), imported lazily so the
 * server code depends only on the CausalLM/TextTokenizer interfaces. QWEN2_MODEL_LOADER
 * may name another module exporting the same `loadModel` (the chat tests use a toy one).
 */
import { pathToFileURL } from "node:url";
import { isAbsolute, resolve } from "node:path";
import { UsageError } from "../cli/command.js";
import { BACKENDS, loadModel, type LoadOptions, type LoadProgress, type LoadedModel } from "../runtime/load.js";

export type { LoadOptions, LoadProgress, LoadedModel };

type LoadFn = (path: string, options: LoadOptions) => Promise<LoadedModel>;

export async function loadModelFor(path: string, options: LoadOptions): Promise<LoadedModel> {
  const override = process.env.QWEN2_MODEL_LOADER;
  if (!override) return loadModel(path, options);
  const spec = pathToFileURL(isAbsolute(override) ? override : resolve(override)).href;
  const mod = (await import(spec)) as { loadModel?: LoadFn };
  if (typeof mod.loadModel !== "function") throw new UsageError(`QWEN2_MODEL_LOADER=${override} does not export loadModel`);
  return mod.loadModel(path, options);
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
export function progressBar(out: NodeJS.WritableStream, label: string): (p: LoadProgress) => void {
  let last = -1;
  return (p) => {
    const f = p.phase === "ready" ? 1 : p.total && p.total > 0 ? Math.max(0, Math.min(1, (p.done ?? 0) / p.total)) : 0;
    const pct = Math.floor(f * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const filled = Math.round(f * width);
    out.write(`\r${label} ${p.phase.padEnd(9)} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(pct).padStart(3)}%${f >= 1 ? "\n" : ""}`);
  };
}

/** --backend: one of the backends loadModel knows. */
export function backendFlag(v: string): NonNullable<LoadOptions["backend"]> {
  if (!(BACKENDS as readonly string[]).includes(v)) throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got '${v}'`);
  return v as NonNullable<LoadOptions["backend"]>;
}
