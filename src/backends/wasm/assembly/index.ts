// Entry of the WebAssembly kernel module (compiled twice: baseline SIMD and relaxed SIMD by
// scripts/build-wasm.mjs). It imports the shared memory; the host owns every allocation and
// passes byte offsets, so the module keeps no state of its own.
export { matmul_f32, matmul_bf16, matmul_f16, permute8, pack_float, float_pair_bytes } from "./matmul_float";
export { matmul_q8_0, matmul_q4_0, matmul_q5_0, matmul_q4_1, matmul_q5_1, matmul_iq4_nl, quantize_q8, pack_blocks, pair_bytes } from "./matmul_quant";
export { matmul_q2_k, matmul_q3_k, matmul_q4_k, matmul_q5_k, matmul_q6_k, quantize_q8_k, pack_superblocks, superpair_bytes } from "./matmul_kquant";
export { rmsnorm, rope, swiglu, add, embed, touch_pages, zero_bytes, copy_f32, store_kv, copy_rows, add_scaled_rows } from "./elementwise";
export { attention } from "./attention";
