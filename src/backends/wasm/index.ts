/** The WebAssembly SIMD backend. */
export { WasmBackend, type WasmBackendOptions } from "./backend.js";
export { relaxedSimdAvailable, relaxedSimdNodeArgs, RELAXED_SIMD_NODE_FLAG } from "./features.js";
export { relaunchWithRelaxedSimd, NO_RELAUNCH_ENV } from "./relaunch.js";
export { ShardedWasmBackend, createWasmBackend, type ShardedWasmOptions } from "./sharded.js";
