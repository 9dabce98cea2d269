/**
 * Compiled schemas by a hash of their canonical text (sorted keys), in an LRU bounded by the
 * compiled forms' bytes. The same schema sent by every request of a client compiles once;
 * its grammar's states (and so its cached token masks) are shared by all of them.
 *
 * {@link compileSchemaAsync} is the entry for servers: compilation runs in slices of a few
 * milliseconds with the event loop served in between, within the time and size budgets of
 * {@link ConstraintLimits}.
 */
import { ByteLru } from "./byte_lru.js";
import { type ConstraintLimits, DEFAULT_LIMITS, type SchemaNode, compileSteps, runAsync, runSync, schemaKeySteps } from "./json_schema.js";

/** Default bytes of compiled schemas kept. */
export const DEFAULT_SCHEMA_CACHE_BYTES = 32 << 20;

export const schemaCache = new ByteLru<SchemaNode>(DEFAULT_SCHEMA_CACHE_BYTES, (g) => g.bytes + 256);

function limitsKey(l: ConstraintLimits): string {
  // A schema accepted under generous limits must not bypass stricter ones.
  return `${l.maxSchemaBytes},${l.maxEnumEntries},${l.maxProperties},${l.maxStates},${l.maxNesting},${l.maxRefDepth}`;
}

/** Hash (checking size and nesting), then the cache, then compilation, as one sliced run. */
function* cachedSteps(schema: unknown, param: string, limits: ConstraintLimits, useCache: boolean): Generator<void, SchemaNode> {
  const key = `${yield* schemaKeySteps(schema, param, limits)}/${limitsKey(limits)}`;
  const known = useCache ? schemaCache.get(key) : undefined;
  if (known) return known;
  const g = yield* compileSteps(schema, param, limits);
  if (useCache) schemaCache.set(key, g);
  return g;
}

export interface CompileOptions {
  readonly limits?: Partial<ConstraintLimits>;
  /** Keep (and look up) the result in {@link schemaCache}; default true. */
  readonly cache?: boolean;
}

function limitsOf(options: CompileOptions): ConstraintLimits {
  return { ...DEFAULT_LIMITS, ...options.limits };
}

/**
 * Compiles a JSON schema without blocking the event loop for more than a few milliseconds at a
 * time; a schema over a budget rejects with a SchemaLimitError naming the limit, an unsupported
 * one with a SchemaError naming the field (`param` prefixes the path).
 */
export async function compileSchemaAsync(schema: unknown, param: string, options: CompileOptions = {}): Promise<SchemaNode> {
  const limits = limitsOf(options);
  return runAsync(cachedSteps(schema, param, limits, options.cache ?? true), param, limits);
}

/** The same, synchronously (for library calls that compile once before generating). */
export function compileSchemaCached(schema: unknown, param: string, options: CompileOptions = {}): SchemaNode {
  const limits = limitsOf(options);
  return runSync(cachedSteps(schema, param, limits, options.cache ?? true), param, limits);
}
