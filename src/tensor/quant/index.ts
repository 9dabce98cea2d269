/**
 * Block quantisation in ggml's formats: one reference per family (legacy.ts, k_quants.ts,
 * iq4_nl.ts, q8_k.ts), all bit-exact with ggml's own C code (tested against it through
 * libggml-base in test/tensor/quant_ggml.test.ts). This module maps a dtype to its functions.
 */
import { toFloat32 } from "../convert.js";
import type { FloatDType, QuantDType, WeightDType } from "../dtype.js";
import { dequantizeIQ4_NL, quantizeIQ4_NL } from "./iq4_nl.js";
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  quantizeQ2_K,
  quantizeQ3_K,
  quantizeQ4_K,
  quantizeQ5_K,
  quantizeQ6_K,
} from "./k_quants.js";
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ5_0,
  quantizeQ5_1,
  quantizeQ8_0,
} from "./legacy.js";
import { dequantizeQ8_K, quantizeQ8_K } from "./q8_k.js";

export * from "./legacy.js";
export * from "./k_quants.js";
export * from "./iq4_nl.js";
export * from "./q8_k.js";
export * from "./ggml_activations.js";

/** Expands `n` values (whole blocks) to float32, into `out` when given. */
export type Dequantizer = (bytes: Uint8Array, n: number, out?: Float32Array) => Float32Array;
/** Quantises float32 values (whole blocks) to the block bytes. */
export type Quantizer = (x: Float32Array) => Uint8Array;

const DEQUANTIZERS: Record<QuantDType, Dequantizer> = {
  q8_0: dequantizeQ8_0,
  q4_0: dequantizeQ4_0,
  q4_1: dequantizeQ4_1,
  q5_0: dequantizeQ5_0,
  q5_1: dequantizeQ5_1,
  iq4_nl: dequantizeIQ4_NL,
  q2_k: dequantizeQ2_K,
  q3_k: dequantizeQ3_K,
  q4_k: dequantizeQ4_K,
  q5_k: dequantizeQ5_K,
  q6_k: dequantizeQ6_K,
  q8_k: dequantizeQ8_K,
};

/** The types we write, with ggml's reference quantiser for each (`quantize_row_<type>_ref`). */
const QUANTIZERS = {
  q8_0: quantizeQ8_0,
  q4_0: quantizeQ4_0,
  q4_1: quantizeQ4_1,
  q5_0: quantizeQ5_0,
  q5_1: quantizeQ5_1,
  iq4_nl: (x: Float32Array) => quantizeIQ4_NL(x),
  q2_k: quantizeQ2_K,
  q3_k: quantizeQ3_K,
  q4_k: quantizeQ4_K,
  q5_k: quantizeQ5_K,
  q6_k: quantizeQ6_K,
  q8_k: (x: Float32Array) => quantizeQ8_K(x),
} as const satisfies Partial<Record<QuantDType, Quantizer>>;

/** A block type we can write. */
export type WritableQuantDType = keyof typeof QUANTIZERS;

export function canQuantize(dtype: QuantDType): dtype is WritableQuantDType {
  return Object.hasOwn(QUANTIZERS, dtype);
}

/** Quantises float32 values to `dtype`. */
export function quantize(dtype: WritableQuantDType, x: Float32Array): Uint8Array {
  return QUANTIZERS[dtype](x);
}

/** Expands `n` values stored as `dtype` to float32. */
export function dequantize(dtype: QuantDType, bytes: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return DEQUANTIZERS[dtype](bytes, n, out);
}

/** The dequantiser of `dtype`, for callers that decode row after row. */
export function dequantizer(dtype: QuantDType): Dequantizer {
  return DEQUANTIZERS[dtype];
}

/**
 * Any weight storage type to float32: the float types through the reference conversions,
 * the block-quantised ones through dequantisation. `n` is the number of values.
 */
export function weightToFloat32(dtype: WeightDType, bytes: Uint8Array, n: number): Float32Array {
  if (dtype === "f32" || dtype === "f16" || dtype === "bf16") return toFloat32(dtype satisfies FloatDType, bytes);
  return dequantize(dtype, bytes, n);
}
