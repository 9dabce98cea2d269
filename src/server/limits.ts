/**
 * The server's limits: what one client may cost before it gets an error naming the limit.
 * Defaults follow llama.cpp's server where it has one (a 600 s read timeout, a 5 s keep-alive
 * idle timeout) and are otherwise sized so a legitimate client never meets them on a
 * machine that can run the model. Each has a `qwen2 serve` flag (docs/server.md, Operations).
 */

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
};

/** The defaults with `given` over them; each value is checked (a RangeError names the field). */
export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS, ...dropUndefined(given) };
  for (const [name, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`limits.${name} must be a non-negative integer, got ${String(v)}`);
  }
  for (const name of ["maxConnections", "bodyLimit", "maxJsonDepth", "maxEmbeddingInputs", "maxTokenizeTokens", "idleTimeoutMs"] as const) {
    if (out[name] === 0) throw new RangeError(`limits.${name} must be at least 1`);
  }
  // Node requires the headers to be due no later than the whole request.
  if (out.readTimeoutMs > 0 && out.headersTimeoutMs > out.readTimeoutMs) out.headersTimeoutMs = out.readTimeoutMs;
  return out;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
