/**
 * Storage types of tensors. Weights keep their storage type on every backend (they are
 * never expanded to float32 wholesale); activations are always float32.
 *
 * Block-quantised types follow GGUF's definitions: 32 weights per block, one scale per
 * block. Their shape is the logical shape; `byteSize` gives the storage size.
 */
export type FloatDType = "f32" | "f16" | "bf16";
export type QuantDType = "q8_0" | "q4_0";
export type IntDType = "i8" | "u8" | "i16" | "u16" | "i32" | "u32" | "i64" | "u64" | "bool";
export type WeightDType = FloatDType | QuantDType;
export type DType = WeightDType | IntDType | "f64";

/** Weights per quantisation block for the block-quantised types. */
export const QUANT_BLOCK = 32;

/** Bytes per block of 32 weights (GGUF layout: f16 scale then quants). */
const BLOCK_BYTES: Record<QuantDType, number> = { q8_0: 34, q4_0: 18 };

const ELEMENT_BYTES: Record<Exclude<DType, QuantDType>, number> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  i64: 8,
  u64: 8,
};

export function isQuantized(dtype: DType): dtype is QuantDType {
  return dtype === "q8_0" || dtype === "q4_0";
}

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes needed to store `shape` in `dtype`. Quantised types need a multiple of 32 in the last dimension. */
export function byteSize(dtype: DType, shape: readonly number[]): number {
  const n = numel(shape);
  if (isQuantized(dtype)) {
    const last = shape[shape.length - 1] ?? 1;
    if (last % QUANT_BLOCK !== 0)
      throw new RangeError(`${dtype} needs a last dimension divisible by ${QUANT_BLOCK}, got shape [${shape.join(", ")}]`);
    return (n / QUANT_BLOCK) * BLOCK_BYTES[dtype];
  }
  return n * ELEMENT_BYTES[dtype];
}
