/**
 * Storage types of tensors. Weights keep their storage type on every backend (they are
 * never expanded to float32 wholesale); activations are always float32.
 *
 * Block-quantised types follow ggml's definitions (ggml-common.h) and take ggml's names in
 * lower case. A block covers `blockSize` consecutive weights of a row and takes
 * `blockBytes` bytes: 32-weight blocks for the legacy types and IQ4_NL, 256-weight
 * "super-blocks" for the K-quants. Their shape is the logical shape; `byteSize` gives the
 * storage size. Q8_K is ggml's activation format for K-quant dot products, never a weight.
 */
export type FloatDType = "f32" | "f16" | "bf16";
/** 32-weight blocks: one f16 scale (and for _1 types an f16 minimum) per block. */
export type LegacyQuantDType = "q8_0" | "q4_0" | "q4_1" | "q5_0" | "q5_1" | "iq4_nl";
/** 256-weight super-blocks with per-sub-block scales. */
export type KQuantDType = "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k";
/** Block types a weight can be stored in. */
export type WeightQuantDType = LegacyQuantDType | KQuantDType;
export type QuantDType = WeightQuantDType | "q8_k";
export type IntDType = "i8" | "u8" | "i16" | "u16" | "i32" | "u32" | "i64" | "u64" | "bool";
export type WeightDType = FloatDType | WeightQuantDType;
export type DType = WeightDType | IntDType | "f64" | "q8_k";

/** Weights per block of the legacy block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL). */
export const QUANT_BLOCK = 32;
/** Weights per super-block of the K-quants (ggml's QK_K). */
export const QK_K = 256;

export interface BlockLayout {
  /** Weights per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

/** Block layouts, as ggml-common.h declares the structs (little-endian, no padding). */
export const QUANT_LAYOUT: Readonly<Record<QuantDType, BlockLayout>> = {
  q8_0: { blockSize: 32, blockBytes: 34 }, // d f16 · qs[32] int8
  q4_0: { blockSize: 32, blockBytes: 18 }, // d f16 · qs[16] nibbles
  q4_1: { blockSize: 32, blockBytes: 20 }, // d f16 · m f16 · qs[16]
  q5_0: { blockSize: 32, blockBytes: 22 }, // d f16 · qh u32 · qs[16]
  q5_1: { blockSize: 32, blockBytes: 24 }, // d f16 · m f16 · qh u32 · qs[16]
  iq4_nl: { blockSize: 32, blockBytes: 18 }, // d f16 · qs[16] indices into a 16-value table
  q2_k: { blockSize: 256, blockBytes: 84 }, // scales[16] · qs[64] · d f16 · dmin f16
  q3_k: { blockSize: 256, blockBytes: 110 }, // hmask[32] · qs[64] · scales[12] · d f16
  q4_k: { blockSize: 256, blockBytes: 144 }, // d f16 · dmin f16 · scales[12] · qs[128]
  q5_k: { blockSize: 256, blockBytes: 176 }, // d f16 · dmin f16 · scales[12] · qh[32] · qs[128]
  q6_k: { blockSize: 256, blockBytes: 210 }, // ql[128] · qh[64] · scales[16] int8 · d f16
  q8_k: { blockSize: 256, blockBytes: 292 }, // d f32 · qs[256] int8 · bsums[16] int16
};

/** Every block-quantised dtype, legacy types first. */
export const QUANT_DTYPES = Object.keys(QUANT_LAYOUT) as readonly QuantDType[];

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
  return Object.hasOwn(QUANT_LAYOUT, dtype);
}

/** Whether a tensor of this dtype can be a weight (a float type or a block type other than Q8_K). */
export function isWeightDType(dtype: DType): dtype is WeightDType {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16" || (isQuantized(dtype) && dtype !== "q8_k");
}

export function isKQuant(dtype: DType): dtype is KQuantDType | "q8_k" {
  return isQuantized(dtype) && QUANT_LAYOUT[dtype].blockSize === QK_K;
}

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Bytes needed to store `shape` in `dtype`. Block types need a last dimension that is a
 * multiple of their block size (32, or 256 for the K-quants).
 */
export function byteSize(dtype: DType, shape: readonly number[]): number {
  const n = numel(shape);
  if (isQuantized(dtype)) {
    const { blockSize, blockBytes } = QUANT_LAYOUT[dtype];
    const last = shape[shape.length - 1] ?? 1;
    if (last % blockSize !== 0)
      throw new RangeError(`${dtype} needs a last dimension divisible by ${blockSize}, got shape [${shape.join(", ")}]`);
    return (n / blockSize) * blockBytes;
  }
  return n * ELEMENT_BYTES[dtype];
}

/** Storage bits per weight: 8.5 for q8_0, 4.5 for q4_k, 16 for f16. */
export function bitsPerWeight(dtype: DType): number {
  if (isQuantized(dtype)) {
    const { blockSize, blockBytes } = QUANT_LAYOUT[dtype];
    return (blockBytes * 8) / blockSize;
  }
  return ELEMENT_BYTES[dtype] * 8;
}
