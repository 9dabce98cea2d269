/** The WebGPU backend. */
export { WebGPUBackend, WEBGPU_DTYPES, type WebGPUBackendOptions } from "./backend.js";
export { findAdapter, type DeviceOptions } from "./device.js";
export type { GPULike, GPUDeviceLike, GPUAdapterLike } from "./gpu_types.js";
