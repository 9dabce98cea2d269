/**
 * Seeded random weights: the one generator behind `RandomQwen2Weights` (in memory) and
 * `qwen2 create-random` (on disk), so one seed gives the same model both ways.
 *
 * Each tensor has its own stream, seeded from the seed and the tensor's name, so its values do
 * not depend on which other tensors exist or in which order they are read. Values are
 * `mean + std * normal`, with mean 1 for normalisation weights (names ending in `norm.weight`,
 * as in Hugging Face checkpoints) and 0 for everything else. Normal samples come from a fixed
 * table of 65536 normal draws indexed by a fast 32-bit generator: good enough for random
 * weights and ~10x faster than Box-Muller, which matters for 0.5B-parameter models.
 */
import { f32ToF16 } from "./convert.js";
import type { FloatDType } from "./dtype.js";

/** FNV-1a of a string, for per-tensor seeds. */
function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: a small, fast, well-mixed 32-bit generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

let normalTable: Float32Array | null = null;
/** 65536 standard normal draws (Box-Muller from a fixed seed), built once. */
function getNormalTable(): Float32Array {
  if (normalTable) return normalTable;
  const table = new Float32Array(65536);
  const rng = mulberry32(0x5eed);
  for (let i = 0; i < table.length; i += 2) {
    const u1 = (rng() + 1) / 4294967297;
    const u2 = rng() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    table[i] = r * Math.cos(2 * Math.PI * u2);
    table[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  normalTable = table;
  return table;
}

/** Elements per chunk: memory stays at one chunk, never a whole tensor in float32. */
export const RANDOM_CHUNK_ELEMENTS = 1 << 20;

/**
 * Yields `count` values `mean + std * normal` for stream `key` in chunks of at most
 * RANDOM_CHUNK_ELEMENTS elements, as bytes of `dtype` (rounded to nearest even, as
 * PyTorch's casts).
 */
export function* randomNormalChunks(
  key: string,
  count: number,
  dtype: FloatDType,
  seed: number,
  mean: number,
  std: number,
): Generator<Uint8Array> {
  const table = getNormalTable();
  const rng = mulberry32(hashString(key, seed));
  const f32 = new Float32Array(Math.min(RANDOM_CHUNK_ELEMENTS, Math.max(count, 1)));
  const bits = new Uint32Array(f32.buffer);
  for (let start = 0; start < count; start += RANDOM_CHUNK_ELEMENTS) {
    const n = Math.min(RANDOM_CHUNK_ELEMENTS, count - start);
    // Indexes stay below n <= f32.length, and the table has 65536 entries (16-bit indexes).
    for (let i = 0; i < n; i += 2) {
      const r = rng();
      f32[i] = mean + std * table[r & 0xffff]!;
      if (i + 1 < n) f32[i + 1] = mean + std * table[r >>> 16]!;
    }
    if (dtype === "f32") {
      yield new Uint8Array(f32.buffer, 0, n * 4).slice();
    } else {
      const out = new Uint16Array(n);
      if (dtype === "bf16") {
        for (let i = 0; i < n; i++) {
          const x = bits[i]!;
          out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff; // values are finite here
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = f32ToF16(f32[i]!);
      }
      yield new Uint8Array(out.buffer);
    }
  }
}

/** Hugging Face's `initializer_range` for Qwen2: the default spread of random weights. */
export const DEFAULT_RANDOM_STD = 0.02;

/** True for normalisation weights, which start near 1 rather than 0. */
export function isNormWeight(name: string): boolean {
  return name.endsWith("norm.weight");
}

/** The random values of weight `name` (`count` elements): see the header for the rule. */
export function randomWeightChunks(name: string, count: number, dtype: FloatDType, seed: number, std: number): Generator<Uint8Array> {
  return randomNormalChunks(name, count, dtype, seed, isNormWeight(name) ? 1 : 0, std);
}

/** All of `randomWeightChunks` in one buffer. */
export function randomWeightBytes(name: string, count: number, dtype: FloatDType, seed: number, std: number): Uint8Array {
  const out = new Uint8Array(count * (dtype === "f32" ? 4 : 2));
  let at = 0;
  for (const chunk of randomWeightChunks(name, count, dtype, seed, std)) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
