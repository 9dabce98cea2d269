/**
 * How ggml-cpu multiplies block-quantised weights: it first quantises the activation row to
 * the weight type's `vec_dot_type` (Q8_0 for Q8_0, Q4_0, Q5_0 and IQ4_NL; Q8_1 for Q4_1 and
 * Q5_1; Q8_K for the K-quants), then takes integer block dot products scaled in float32. This
 * module reproduces the activation side bit for bit (ggml-cpu's x86 `quantize_row_q8_0`,
 * `quantize_row_q8_1`, `quantize_row_q8_K`; tested against libggml-cpu in
 * test/tensor/ggml_activations.test.ts), so that a product computed from it differs from
 * ggml's only by the order and rounding of float32 sums.
 *
 * The x86 Q8_0/Q8_1 quantiser differs from `quantize_row_q8_0_ref` (legacy.ts): it scales by
 * 127 / amax (not 1 / d) and rounds halves to even (not away from zero), and it stores the
 * scale d = amax / 127 as f16, which every dot product then reads back. Q8_1 also keeps
 * s = d · Σq (with d the float32 scale) as f16; the Q4_1/Q5_1 products add min · s.
 */
import type { WeightQuantDType } from "../dtype.js";
import { QK_K, QUANT_BLOCK } from "../dtype.js";
import { blockCount, fround, readF16, writeF16 } from "./block_math.js";
import { dequantizeQ8_K, quantizeQ8_K } from "./q8_k.js";

/** ggml's activation block types. */
export type ActivationFormat = "q8_0" | "q8_1" | "q8_k";

export const Q8_1_BLOCK_BYTES = 36;

/** ggml-cpu's `vec_dot_type` of a weight type: the format its activations are quantised to. */
export function activationFormat(weight: WeightQuantDType): ActivationFormat {
  switch (weight) {
    case "q4_1":
    case "q5_1":
      return "q8_1";
    case "q2_k":
    case "q3_k":
    case "q4_k":
    case "q5_k":
    case "q6_k":
      return "q8_k";
    default:
      return "q8_0";
  }
}

/** Round half to even, as `_mm256_round_ps(…, _MM_ROUND_NEAREST)` (v is a float32 value). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantises x (whole 32-value blocks) as ggml-cpu's x86 `quantize_row_q8_0` (with `withSum`,
 * `quantize_row_q8_1`): Q8_0 blocks are d f16 · qs[32]; Q8_1 blocks d f16 · s f16 · qs[32].
 */
function quantizeQ8(x: Float32Array, withSum: boolean): Uint8Array {
  const blocks = blockCount(withSum ? "quantizeActivationsQ8_1" : "quantizeActivationsQ8_0", x.length, QUANT_BLOCK);
  const size = withSum ? Q8_1_BLOCK_BYTES : 34;
  const head = withSum ? 4 : 2;
  const out = new Uint8Array(blocks * size);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK;
    let amax = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
    const d = fround(amax / 127);
    const id = amax !== 0 ? fround(127 / amax) : 0;
    const o = b * size;
    writeF16(out, o, d);
    let sum = 0;
    for (let j = 0; j < QUANT_BLOCK; j++) {
      const q = roundHalfEven(fround(x[base + j]! * id));
      out[o + head + j] = q & 0xff;
      sum += q;
    }
    if (withSum) writeF16(out, o + 2, fround(d * sum));
  }
  return out;
}

/** x as ggml-cpu quantises it to Q8_0 (34-byte blocks) on x86. */
export function quantizeActivationsQ8_0(x: Float32Array): Uint8Array {
  return quantizeQ8(x, false);
}

/** x as ggml-cpu quantises it to Q8_1 (36-byte blocks: d f16, s f16, qs[32]) on x86. */
export function quantizeActivationsQ8_1(x: Float32Array): Uint8Array {
  return quantizeQ8(x, true);
}

/**
 * One activation row as ggml quantises it for a product with `weight`-type rows: the values
 * each quant stands for (q · d, d as stored), and for Q8_1 the per-block excess of the stored
 * s over d · Σq, which the Q4_1/Q5_1 products multiply by the weight block's min.
 */
export class GgmlActivationRow {
  readonly format: ActivationFormat;
  /** q · d for every element (exact in float64: an int8 times an f16 or float32 scale). */
  readonly values: Float64Array;
  /** Q8_1 only: s − d · Σq per 32-block (the f16 rounding of s), else empty. */
  readonly sumExcess: Float64Array;
  /** Σ|values|: with the weight row's largest magnitude, the scale of the product's float error. */
  readonly absSum: number;

  constructor(
    readonly weight: WeightQuantDType,
    x: Float32Array,
  ) {
    this.format = activationFormat(weight);
    const n = x.length;
    this.values = new Float64Array(n);
    this.sumExcess = new Float64Array(this.format === "q8_1" ? n / QUANT_BLOCK : 0);
    if (this.format === "q8_k") {
      blockCount("GgmlActivationRow", n, QK_K);
      this.values.set(dequantizeQ8_K(quantizeQ8_K(x), n));
    } else {
      const withSum = this.format === "q8_1";
      const bytes = quantizeQ8(x, withSum);
      const size = withSum ? Q8_1_BLOCK_BYTES : 34;
      const head = withSum ? 4 : 2;
      for (let b = 0; b < n / QUANT_BLOCK; b++) {
        const o = b * size;
        const d = readF16(bytes, o);
        let sum = 0;
        for (let j = 0; j < QUANT_BLOCK; j++) {
          const q = (bytes[o + head + j]! << 24) >> 24;
          this.values[b * QUANT_BLOCK + j] = q * d;
          sum += q;
        }
        if (withSum) this.sumExcess[b] = readF16(bytes, o + 2) - d * sum;
      }
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(this.values[i]!);
    this.absSum = s;
  }

  /**
   * ggml's product of one weight row with this row: `w` is the row dequantised (as ggml's
   * `dequantize_row_*`), `rowBytes` its blocks (read for the Q4_1/Q5_1 mins). Summed in
   * float64, so it differs from ggml's float32 arithmetic by rounding alone.
   */
  dot(w: Float32Array, rowBytes: Uint8Array): number {
    const v = this.values;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += w[i]! * v[i]!;
    if (this.format === "q8_1") {
      // Q4_1 and Q5_1 blocks keep the min as the f16 at byte 2 (blocks of 20 and 24 bytes).
      const size = this.weight === "q4_1" ? 20 : 24;
      for (let b = 0; b < this.sumExcess.length; b++) s += readF16(rowBytes, b * size + 2) * this.sumExcess[b]!;
    }
    return s;
  }
}
