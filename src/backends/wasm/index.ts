/** The WebAssembly SIMD backend. */
export { WasmBackend, type WasmBackendOptions } from "./backend.js";
export { relaxedSimdAvailable, RELAXED_SIMD_ENV, RELAXED_SIMD_NODE_FLAG } from "./features.js";
export { ShardedWasmBackend, createWasmBackend, type ShardedWasmOptions } from "./sharded.js";
