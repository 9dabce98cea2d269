// Entry of the WebAssembly kernel module (compiled twice: baseline SIMD and relaxed SIMD by
// scripts/build-wasm.mjs). It imports the shared memory; the host owns every allocation and
// passes byte offsets, so the module keeps no state of its own.
export { matmul_f32, matmul_bf16, matmul_f16, permute8, pack_float, float_pair_bytes } from "./matmul_float";
export { matmul_q8_0, matmul_q4_0, quantize_q8, pack_blocks, pair_bytes } from "./matmul_quant";
export { rmsnorm, rope, swiglu, add, embed, touch_pages } from "./elementwise";
export { attention } from "./attention";
