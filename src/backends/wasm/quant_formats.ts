/**
 * How the WebAssembly kernels hold and multiply each block-quantised weight type: its kernel
 * kind, and the GGUF block it is uploaded from. 32-weight types go into the paired-block
 * layout of assembly/matmul_quant.ts (activations quantised per 32 values, ggml's Q8_0/Q8_1),
 * the K-quants into the paired super-block layout of assembly/matmul_kquant.ts (activations
 * quantised per 256 values, ggml's Q8_K): for each type the activation format ggml-cpu pairs
 * it with (its vec_dot_type), so the integer dot products are ggml's.
 */
import type { WeightQuantDType } from "../../tensor/dtype.js";
import { Kind } from "./kernels.js";

export interface WasmQuantFormat {
  readonly kind: Kind;
  /** Weights per GGUF block: 32, or 256 for the K-quants. */
  readonly blockSize: 32 | 256;
  /** Bytes per GGUF block. */
  readonly blockBytes: number;
  /** 32-weight blocks: f16 values before the payload (1: the scale; 2: the scale and the min). */
  readonly halves: 1 | 2;
}

export const QUANT_FORMATS: Readonly<Record<WeightQuantDType, WasmQuantFormat>> = {
  q8_0: { kind: Kind.Q8_0, blockSize: 32, blockBytes: 34, halves: 1 },
  q4_0: { kind: Kind.Q4_0, blockSize: 32, blockBytes: 18, halves: 1 },
  q5_0: { kind: Kind.Q5_0, blockSize: 32, blockBytes: 22, halves: 1 },
  q4_1: { kind: Kind.Q4_1, blockSize: 32, blockBytes: 20, halves: 2 },
  q5_1: { kind: Kind.Q5_1, blockSize: 32, blockBytes: 24, halves: 2 },
  iq4_nl: { kind: Kind.IQ4_NL, blockSize: 32, blockBytes: 18, halves: 1 },
  q2_k: { kind: Kind.Q2_K, blockSize: 256, blockBytes: 84, halves: 1 },
  q3_k: { kind: Kind.Q3_K, blockSize: 256, blockBytes: 110, halves: 1 },
  q4_k: { kind: Kind.Q4_K, blockSize: 256, blockBytes: 144, halves: 1 },
  q5_k: { kind: Kind.Q5_K, blockSize: 256, blockBytes: 176, halves: 1 },
  q6_k: { kind: Kind.Q6_K, blockSize: 256, blockBytes: 210, halves: 1 },
};

/** Whether kind's activations are quantised to Q8_K (the K-quants) rather than per 32 values. */
export function usesQ8K(kind: Kind): boolean {
  return kind >= Kind.Q2_K;
}

/** Whether kind's activations are ggml's Q8_1 (Q4_1, Q5_1): the block sums kept as f16, as their mins multiply them. */
export function usesQ8_1(kind: Kind): boolean {
  return kind === Kind.Q4_1 || kind === Kind.Q5_1;
}
