/**
 * Which WebAssembly features this JavaScript engine offers. Relaxed SIMD is standard in
 * Node >= 22 (V8 11.4+); Node 20 has it only behind a V8 flag.
 */
import { wasm } from "./wasm_api.js";
import { readKernelBytes } from "./kernels.js";

/** The Node 20 flag that enables relaxed SIMD (pass it to `node`, or in NODE_OPTIONS). */
export const RELAXED_SIMD_NODE_FLAG = "--experimental-wasm-relaxed-simd";

let relaxedCache: boolean | undefined;

/** Whether this engine accepts the relaxed-SIMD kernel build (validation only; see the self-test). */
export function relaxedSimdAvailable(): boolean {
  if (relaxedCache === undefined) relaxedCache = wasm.validate(readKernelBytes("relaxed"));
  return relaxedCache;
}

/**
 * Extra `node` arguments that would enable relaxed SIMD in a child process of this Node:
 * [] when the engine already has it, the flag on Node versions that hide it, or null when
 * this Node cannot offer it at all.
 */
export function relaxedSimdNodeArgs(): string[] | null {
  if (relaxedSimdAvailable()) return [];
  const major = Number(process.versions.node.split(".")[0]);
  return major >= 16 && major < 22 ? [RELAXED_SIMD_NODE_FLAG] : null;
}
