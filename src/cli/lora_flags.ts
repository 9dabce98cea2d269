/**
 * `--lora DIR[:SCALE]` (generate, quantize) and `--lora NAME=DIR[:SCALE]` (serve): PEFT LoRA
 * adapter folders, repeatable. SCALE multiplies the adapter's trained alpha / r (default 1),
 * as llama.cpp's `--lora-scaled` does. A path whose last `:` part is not a number is taken
 * whole (`C:\adapters\x`).
 */
import { UsageError, type CliIO } from "./command.js";
import type { FlagOptions, FlagValues } from "./flags.js";
import type { LoadedModel } from "../runtime/load.js";
import type { LoraAdapter } from "../models/lora.js";

export const LORA_FLAG = { lora: { type: "string", multiple: true } } as const satisfies FlagOptions;

export interface LoraFlag {
  /** Serve only: the name requests choose it by. */
  readonly name?: string;
  readonly path: string;
  readonly scale: number;
}

function pathAndScale(value: string, flag: string): { path: string; scale: number } {
  const m = /^(.+):([^:/\\]+)$/.exec(value);
  if (m && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(m[2]!)) {
    const scale = Number(m[2]);
    if (!Number.isFinite(scale)) throw new UsageError(`${flag} ${value}: the scale must be a finite number`);
    return { path: m[1]!, scale };
  }
  if (value === "") throw new UsageError(`${flag} needs an adapter folder`);
  return { path: value, scale: 1 };
}

/** The `--lora` values; `named` (serve) wants NAME=DIR[:SCALE]. */
export function readLoraFlags(values: FlagValues, named: boolean): LoraFlag[] {
  const given = (values.lora as string[] | undefined) ?? [];
  return given.map((value) => {
    if (!named) return pathAndScale(value, "--lora");
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`--lora ${value}: expected NAME=DIR[:SCALE] (the name requests pass as "model")`);
    return { name: value.slice(0, eq), ...pathAndScale(value.slice(eq + 1), "--lora") };
  });
}

/** Loads each adapter onto the loaded model (unmerged), saying on stderr what it adapts. */
export async function loadLoraFlags(
  io: CliIO,
  loaded: LoadedModel,
  flags: readonly LoraFlag[],
  quiet = false,
): Promise<{ flag: LoraFlag; adapter: LoraAdapter }[]> {
  if (flags.length === 0) return [];
  const { loadAdapter } = await import("../runtime/adapters.js");
  const out: { flag: LoraFlag; adapter: LoraAdapter }[] = [];
  try {
    for (const flag of flags) {
      const adapter = await loadAdapter(loaded, flag.path, {
        name: flag.name ?? flag.path,
        onWarning: (w) => void (quiet || io.stderr.write(`warning: ${w}\n`)),
      });
      out.push({ flag, adapter });
      if (!quiet)
        io.stderr.write(
          `lora: ${flag.name ? `'${flag.name}' ` : ""}${flag.path}: ${adapter.modules.length} linear layers, scale x${flag.scale}\n`,
        );
    }
  } catch (err) {
    for (const a of out) a.adapter.dispose();
    throw err;
  }
  return out;
}
