/**
 * The float32 arithmetic of ggml's block quantisers, spelled out for JavaScript, whose
 * numbers are doubles. ggml computes in float32 and every intermediate is rounded to
 * float32; here every product, sum and quotient goes through `fround` where C rounds, or the
 * last bit of a scale (and then a quant) can differ from the file llama.cpp writes. A single
 * +, -, *, / or sqrt of float32 values computed in double and then rounded to float32 is the
 * correctly rounded float32 result, so one `fround` per C operation is exact.
 */
import { InvalidArgumentError } from "../../errors.js";
import { f16ToF32, f32ToF16 } from "../convert.js";

export const fround = Math.fround;

/** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
export const GROUP_MAX_EPS = fround(1e-15);

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * ggml's `nearest_int`: adds 1.5·2²³ in float32 and reads the integer from the mantissa
 * bits, which rounds halves to even. Outside ±4194303 (where ggml asserts, in debug builds
 * only) the mantissa trick gives what the C code gives, so it is reproduced bit for bit.
 */
export function nearestInt(v: number): number {
  const s = fround(v + 12582912);
  if (s >= 8388608 && s < 16777216) return s - 12582912;
  f32[0] = s;
  return (i32[0]! & 0x007fffff) - 0x00400000;
}

/**
 * C's conversion of a float to an 8-bit integer as x86-64 compilers emit it: truncation
 * through a 32-bit integer, where NaN and out-of-range values become INT_MIN, then the low
 * 8 bits. Only a scale that overflowed (1/d = ∞ for a subnormal d) reaches those cases.
 */
export function truncToByte(v: number): number {
  const t = v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
  return t & 0xff;
}

/** As truncToByte, read as a signed int8. */
export function truncToInt8(v: number): number {
  return (truncToByte(v) << 24) >> 24;
}

/** C's roundf: nearest integer, halves away from zero. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** f16 bits → float32 for all 65536 patterns: one lookup per block scale instead of a branchy decode. */
let halfTable: Float32Array | null = null;
export function f16Table(): Float32Array {
  if (halfTable === null) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = f16ToF32(i);
  }
  return halfTable;
}

/** Reads the little-endian f16 at `o` as float32. */
export function readF16(b: Uint8Array, o: number): number {
  return f16Table()[b[o]! | (b[o + 1]! << 8)]!;
}

/** Writes `v` as a little-endian f16 at `o`; returns the f16 value as float32 (what a reader sees). */
export function writeF16(b: Uint8Array, o: number, v: number): number {
  const bits = f32ToF16(v);
  b[o] = bits & 0xff;
  b[o + 1] = bits >> 8;
  return f16Table()[bits]!;
}

/** The number of blocks in `n` values, or an error naming the function and the block size. */
export function blockCount(what: string, n: number, blockSize: number): number {
  if (!Number.isInteger(n) || n < 0 || n % blockSize !== 0) {
    throw new InvalidArgumentError(`${what}: ${n} values is not a multiple of the block size ${blockSize}`);
  }
  return n / blockSize;
}

/** Checks that `bytes` holds `blocks` blocks of `blockBytes`. */
export function checkBlockBytes(what: string, bytes: Uint8Array, n: number, blocks: number, blockBytes: number): void {
  if (bytes.byteLength < blocks * blockBytes) {
    throw new InvalidArgumentError(`${what}: ${n} values need ${blocks * blockBytes} bytes, got ${bytes.byteLength}`);
  }
}
