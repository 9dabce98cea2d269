/**
 * The server's limits: what one client may cost before it gets an error naming the limit.
 * Defaults follow llama.cpp's server where it has one (a 600 s read timeout, a 5 s keep-alive
 * idle timeout) and are otherwise sized so a legitimate client never meets them on a
 * machine that can run the model. Each has a `qwen2 serve` flag (docs/server.md, Operations).
 * The schema budgets are the constraint engine's (generation/constraints/json_schema.ts)
 * with the same defaults, named here so an operator can tighten them.
 */
import type { ConstraintLimits } from "../generation/constraints/json_schema.js";
import { DEFAULT_LIMITS as SCHEMA_DEFAULTS } from "../generation/constraints/json_schema.js";
import { DEFAULT_MASK_CACHE_BYTES } from "../generation/constraints/json_constraint.js";
import { DEFAULT_SCHEMA_CACHE_BYTES } from "../generation/constraints/schema_cache.js";

export interface ServerLimits {
  /** Headers and body of a request must arrive within this (ms; 0: no limit). `--read-timeout`. */
  readonly readTimeoutMs: number;
  /** A keep-alive connection idle this long between requests is closed (ms). `--idle-timeout`. */
  readonly idleTimeoutMs: number;
  /** The headers of a request must arrive within this (ms); Node answers 408 itself. */
  readonly headersTimeoutMs: number;
  /** A request still generating after this is ended with 408 (ms; 0: no deadline). `--request-timeout`. */
  readonly requestDeadlineMs: number;
  /** Open connections at once; one more is answered 503 and closed. `--max-connections`. */
  readonly maxConnections: number;
  /** Largest request body in bytes; larger gets 413. `--body-limit`. */
  readonly bodyLimit: number;
  /** Deepest nesting of arrays and objects a JSON body may have; deeper gets 400. */
  readonly maxJsonDepth: number;
  /** Most inputs one /v1/embeddings request may embed. `--max-embedding-inputs`. */
  readonly maxEmbeddingInputs: number;
  /** Most tokens /tokenize returns for one text. `--max-tokenize-tokens`. */
  readonly maxTokenizeTokens: number;
  /** Largest JSON schema (response_format, text.format, a tool's parameters) as canonical JSON text, in bytes. `--max-schema-bytes`. */
  readonly maxSchemaBytes: number;
  /** Most `enum`/`const` values one schema may list. `--max-schema-enum`. */
  readonly maxSchemaEnum: number;
  /** Most object properties one schema may declare. `--max-schema-properties`. */
  readonly maxSchemaProperties: number;
  /** Most automaton states (compiled nodes plus pattern states) one schema may compile to. `--max-schema-states`. */
  readonly maxSchemaStates: number;
  /** Work time one schema's compilation may take (ms; it runs in slices between other work). `--max-schema-compile-time`. */
  readonly maxSchemaCompileMs: number;
  /** Bytes of compiled schemas kept for reuse, process-wide. `--schema-cache-bytes`. */
  readonly schemaCacheBytes: number;
  /** Bytes of token masks (allowed tokens per grammar state) kept for reuse, process-wide. `--mask-cache-bytes`. */
  readonly maskCacheBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  readTimeoutMs: 600_000,
  idleTimeoutMs: 5_000,
  headersTimeoutMs: 60_000,
  requestDeadlineMs: 600_000,
  maxConnections: 512,
  bodyLimit: 4 * 1024 * 1024,
  maxJsonDepth: 64,
  maxEmbeddingInputs: 2048,
  maxTokenizeTokens: 131_072,
  maxSchemaBytes: SCHEMA_DEFAULTS.maxSchemaBytes,
  maxSchemaEnum: SCHEMA_DEFAULTS.maxEnumEntries,
  maxSchemaProperties: SCHEMA_DEFAULTS.maxProperties,
  maxSchemaStates: SCHEMA_DEFAULTS.maxStates,
  maxSchemaCompileMs: SCHEMA_DEFAULTS.maxCompileMs,
  schemaCacheBytes: DEFAULT_SCHEMA_CACHE_BYTES,
  maskCacheBytes: DEFAULT_MASK_CACHE_BYTES,
};

/** The `qwen2 serve` flag of each schema budget, by the constraint engine's name for it. */
export const SCHEMA_LIMIT_FLAGS: Partial<Record<keyof ConstraintLimits, string>> = {
  maxSchemaBytes: "--max-schema-bytes",
  maxEnumEntries: "--max-schema-enum",
  maxProperties: "--max-schema-properties",
  maxStates: "--max-schema-states",
  maxCompileMs: "--max-schema-compile-time",
};

/** The server's schema budgets in the constraint engine's terms (nesting limits keep its defaults). */
export function schemaLimits(l: ServerLimits): Partial<ConstraintLimits> {
  return {
    maxSchemaBytes: l.maxSchemaBytes,
    maxEnumEntries: l.maxSchemaEnum,
    maxProperties: l.maxSchemaProperties,
    maxStates: l.maxSchemaStates,
    maxCompileMs: l.maxSchemaCompileMs,
  };
}

/** The defaults with `given` over them; each value is checked (a RangeError names the field). */
export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS, ...dropUndefined(given) };
  for (const [name, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`limits.${name} must be a non-negative integer, got ${String(v)}`);
  }
  const positive = [
    "maxConnections",
    "bodyLimit",
    "maxJsonDepth",
    "maxEmbeddingInputs",
    "maxTokenizeTokens",
    "idleTimeoutMs",
    "maxSchemaBytes",
    "maxSchemaStates",
    "maxSchemaCompileMs",
  ] as const;
  for (const name of positive) {
    if (out[name] === 0) throw new RangeError(`limits.${name} must be at least 1`);
  }
  // Node requires the headers to be due no later than the whole request.
  if (out.readTimeoutMs > 0 && out.headersTimeoutMs > out.readTimeoutMs) out.headersTimeoutMs = out.readTimeoutMs;
  return out;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
