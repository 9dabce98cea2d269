/**
 * Flag parsing for every `qwen2` command: `node:util` parseArgs in strict mode, plus what it
 * lacks: typed numbers with ranges, "did you mean --x?" for a mistyped flag, and errors that
 * are {@link UsageError}s (exit code 2). Commands read and check every flag before they load
 * anything, so a bad value costs no model load.
 * The flag groups of the model commands are in model_flags.ts.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./command.js";

export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;
export type FlagValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/**
 * parseArgs with every flag declared and positionals allowed or not; its errors become
 * usage errors, a mistyped flag with the closest known one suggested.
 */
export type ParsedFlags<O extends FlagOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

export function parseFlags<O extends FlagOptions>(args: readonly string[], options: O, allowPositionals = false): ParsedFlags<O> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true }) as ParsedFlags<O>;
  } catch (err) {
    throw usageErrorFrom(err, options);
  }
}

function usageErrorFrom(err: unknown, options: FlagOptions): Error {
  const e = err as NodeJS.ErrnoException;
  const flag = /'(-{1,2}[^'\s]+)'/.exec(e.message ?? "")?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const name = (flag ?? "").replace(/^-+/, "").split("=")[0]!;
      const guess = closestFlag(name, Object.keys(options));
      return new UsageError(`unknown option --${name}${guess ? `; did you mean --${guess}?` : ""}`);
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = /--([\w-]+)/.exec(e.message ?? "")?.[1];
      const spec = name ? options[name] : undefined;
      if (name && spec?.type === "boolean") return new UsageError(`--${name} is a switch and takes no value`);
      if (name && /ambiguous/.test(e.message ?? ""))
        return new UsageError(`--${name} needs a value; write one that starts with "-" as --${name}=-1`);
      return new UsageError(name ? `--${name} needs a value` : (e.message ?? String(err)));
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `unexpected argument ${JSON.stringify(/'([^']*)'/.exec(e.message ?? "")?.[1] ?? "")}: this command takes only --flags`,
      );
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** The known flag a mistyped one most likely meant, or null when none is close. */
export function closestFlag(typed: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(typed, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== null && bestDistance <= Math.max(2, Math.floor(typed.length / 3))) return best;
  // `--max-tokens` for `--max-new-tokens`: every word of what was typed, in a longer name.
  const words = typed.split("-").filter((w) => w.length > 0);
  const containing = known.filter((k) => words.length > 0 && words.every((w) => k.split("-").includes(w)));
  return containing.length === 1 ? containing[0]! : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export interface NumberRange {
  /** Smallest allowed value (inclusive unless `minExclusive`). */
  readonly min?: number;
  readonly minExclusive?: boolean;
  /** Largest allowed value (inclusive). */
  readonly max?: number;
}

function describeRange(kind: string, r: NumberRange): string {
  const lo = r.min === undefined ? null : `${r.minExclusive ? ">" : ">="} ${r.min}`;
  if (r.min !== undefined && r.max !== undefined && !r.minExclusive) return `${kind} in [${r.min}, ${r.max}]`;
  return [kind, lo, r.max === undefined ? null : `<= ${r.max}`].filter(Boolean).join(" ");
}

function readNumber(values: FlagValues, name: string, range: NumberRange, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw);
  const n = Number(text);
  const parsed = text.trim() !== "" && (integer ? Number.isSafeInteger(n) : Number.isFinite(n));
  const inRange =
    (range.min === undefined || (range.minExclusive ? n > range.min : n >= range.min)) && (range.max === undefined || n <= range.max);
  if (!parsed || !inRange)
    throw new UsageError(`--${name} must be ${describeRange(integer ? "an integer" : "a number", range)}, got ${JSON.stringify(text)}`);
  return n;
}

/** A `type: "string"` flag read as a finite number within `range`; undefined when absent. */
export function numberFlag(values: FlagValues, name: string, range: NumberRange = {}): number | undefined {
  return readNumber(values, name, range, false);
}

/** A `type: "string"` flag read as an integer within `range`; undefined when absent. */
export function intFlag(values: FlagValues, name: string, range: NumberRange = {}): number | undefined {
  return readNumber(values, name, range, true);
}

/** A flag whose value is one of `choices`; undefined when absent. */
export function choiceFlag<T extends string>(values: FlagValues, name: string, choices: readonly T[]): T | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = String(raw);
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** A flag that must be given. */
export function requiredFlag(values: FlagValues, name: string, what: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} ${what} is required`);
  return v;
}
