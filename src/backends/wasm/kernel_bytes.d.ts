/**
 * The two kernel builds as base64 text. scripts/build-wasm.mjs writes the module
 * (dist/src/backends/wasm/kernel_bytes.js) from the .wasm files it compiles; kernels.ts decodes it.
 */
/** Baseline WebAssembly SIMD build. */
export declare const simd: string;
/** Relaxed-SIMD build (fused multiply-add, 8-bit relaxed dot). */
export declare const relaxed: string;
