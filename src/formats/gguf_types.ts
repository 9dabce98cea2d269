/**
 * GGUF's vocabulary: metadata value types and ggml tensor types, with the block layout of
 * every tensor type ggml defines, so that a file can be validated (byte ranges, offsets)
 * even when it holds a type we cannot compute with. Shared by the reader and the writer.
 *
 * Layout of a GGUF file (version 2 and 3, little-endian):
 *   magic "GGUF" · u32 version · u64 tensor count · u64 metadata count
 *   metadata: (string key, u32 value type, value)*
 *   tensor infos: (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)*
 *   padding to `general.alignment` (default 32) · tensor data (offsets relative to here)
 * A string is a u64 byte length then UTF-8 bytes; an array is u32 item type, u64 count, items.
 * ne[0] is the innermost (contiguous) dimension: the reverse of a PyTorch shape.
 */
import { type DType, isWeightDType } from "../tensor/dtype.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most 4 dimensions. */
export const GGML_MAX_DIMS = 4;

export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];

export const GGUF_VALUE_TYPE_NAMES: Record<GGUFValueType, string> = {
  0: "uint8",
  1: "int8",
  2: "uint16",
  3: "int16",
  4: "uint32",
  5: "int32",
  6: "float32",
  7: "bool",
  8: "string",
  9: "array",
  10: "uint64",
  11: "int64",
  12: "float64",
};

export function isGGUFValueType(t: number): t is GGUFValueType {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

/** A metadata value: 64-bit integers are bigints, arrays are JavaScript arrays (possibly nested). */
export type GGUFScalar = number | bigint | boolean | string;
export type GGUFValue = GGUFScalar | readonly GGUFValue[];

export interface GGUFEntry {
  readonly type: GGUFValueType;
  /** For arrays: the type of the items. */
  readonly itemType?: GGUFValueType;
  readonly value: GGUFValue;
}

/** One ggml tensor type: its name, weights per block, bytes per block, and our storage type if we run it. */
export interface GGMLType {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
  readonly dtype: DType | null;
}

function t(id: number, name: string, blockSize: number, typeSize: number, dtype: DType | null = null): GGMLType {
  return { id, name, blockSize, typeSize, dtype };
}

/** Every ggml type id with its block layout (ggml-common.h), including ids since removed from ggml. */
const GGML_TYPE_LIST: readonly GGMLType[] = [
  t(0, "F32", 1, 4, "f32"),
  t(1, "F16", 1, 2, "f16"),
  t(2, "Q4_0", 32, 18, "q4_0"),
  t(3, "Q4_1", 32, 20, "q4_1"),
  t(6, "Q5_0", 32, 22, "q5_0"),
  t(7, "Q5_1", 32, 24, "q5_1"),
  t(8, "Q8_0", 32, 34, "q8_0"),
  t(9, "Q8_1", 32, 36),
  t(10, "Q2_K", 256, 84, "q2_k"),
  t(11, "Q3_K", 256, 110, "q3_k"),
  t(12, "Q4_K", 256, 144, "q4_k"),
  t(13, "Q5_K", 256, 176, "q5_k"),
  t(14, "Q6_K", 256, 210, "q6_k"),
  t(15, "Q8_K", 256, 292),
  t(16, "IQ2_XXS", 256, 66),
  t(17, "IQ2_XS", 256, 74),
  t(18, "IQ3_XXS", 256, 98),
  t(19, "IQ1_S", 256, 50),
  t(20, "IQ4_NL", 32, 18, "iq4_nl"),
  t(21, "IQ3_S", 256, 110),
  t(22, "IQ2_S", 256, 82),
  t(23, "IQ4_XS", 256, 136),
  t(24, "I8", 1, 1, "i8"),
  t(25, "I16", 1, 2, "i16"),
  t(26, "I32", 1, 4, "i32"),
  t(27, "I64", 1, 8, "i64"),
  t(28, "F64", 1, 8, "f64"),
  t(29, "IQ1_M", 256, 56),
  t(30, "BF16", 1, 2, "bf16"),
  t(31, "Q4_0_4_4", 32, 18),
  t(32, "Q4_0_4_8", 32, 18),
  t(33, "Q4_0_8_8", 32, 18),
  t(34, "TQ1_0", 256, 54),
  t(35, "TQ2_0", 256, 66),
  t(36, "IQ4_NL_4_4", 32, 18),
  t(37, "IQ4_NL_4_8", 32, 18),
  t(38, "IQ4_NL_8_8", 32, 18),
  t(39, "MXFP4", 32, 17),
];

const GGML_TYPES = new Map<number, GGMLType>(GGML_TYPE_LIST.map((x) => [x.id, x]));

export function ggmlType(id: number): GGMLType | undefined {
  return GGML_TYPES.get(id);
}

/** The ggml types a weight can be stored in and we run (float and block types; Q8_K is activations only). */
export function weightTypes(): GGMLType[] {
  return GGML_TYPE_LIST.filter((t) => t.dtype !== null && isWeightDType(t.dtype));
}

/** The ggml type that stores one of our weight dtypes. */
export function ggmlTypeOf(dtype: DType): GGMLType {
  const found = GGML_TYPE_LIST.find((x) => x.dtype === dtype);
  if (!found) throw new RangeError(`no ggml type stores dtype ${dtype}`);
  return found;
}

/** llama.cpp's token types (tokenizer.ggml.token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
