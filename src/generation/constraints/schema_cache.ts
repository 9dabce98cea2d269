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
import { type ConstraintLimits, DEFAULT_LIMITS, type SchemaNode, canonicalSchema, compileSteps, runAsync, runSync } from "./json_schema.js";

/** Default bytes of compiled schemas kept. */
export const DEFAULT_SCHEMA_CACHE_BYTES = 64 << 20;

export const schemaCache = new ByteLru<SchemaNode>(DEFAULT_SCHEMA_CACHE_BYTES, (g) => g.bytes + 256);

/** Two 32-bit FNV-1a-style hashes with different seeds and mixing: 64 bits of key. */
function hashText(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return `${(h1 >>> 0).toString(36)}${(h2 >>> 0).toString(36)}:${text.length}`;
}

function cacheKey(canonical: string, limits: ConstraintLimits): string {
  const l = limits;
  // A schema accepted under generous limits must not bypass stricter ones.
  return `${hashText(canonical)}/${l.maxSchemaBytes},${l.maxEnumEntries},${l.maxProperties},${l.maxStates},${l.maxNesting},${l.maxRefDepth}`;
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
  const canonical = canonicalSchema(schema, param, limits);
  const key = cacheKey(canonical, limits);
  const useCache = options.cache ?? true;
  const known = useCache ? schemaCache.get(key) : undefined;
  if (known) return known;
  const g = await runAsync(compileSteps(schema, param, limits), param, limits);
  if (useCache) schemaCache.set(key, g);
  return g;
}

/** The same, synchronously (for library calls that compile once before generating). */
export function compileSchemaCached(schema: unknown, param: string, options: CompileOptions = {}): SchemaNode {
  const limits = limitsOf(options);
  const canonical = canonicalSchema(schema, param, limits);
  const key = cacheKey(canonical, limits);
  const useCache = options.cache ?? true;
  const known = useCache ? schemaCache.get(key) : undefined;
  if (known) return known;
  const g = runSync(compileSteps(schema, param, limits), param, limits);
  if (useCache) schemaCache.set(key, g);
  return g;
}
