/**
 * The part of the WebGPU API this backend uses, declared here instead of depending on
 * `@webgpu/types`: the package builds against ES2023 without the DOM library, and its public
 * declarations must not ask users to install GPU typings. Names and members follow the
 * WebGPU specification; only what the backend calls is declared.
 */

export interface GPULike {
  requestAdapter(options?: { powerPreference?: "low-power" | "high-performance" }): Promise<GPUAdapterLike | null>;
}

export interface GPUSupportedLimitsLike {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly minUniformBufferOffsetAlignment: number;
  readonly minStorageBufferOffsetAlignment: number;
}

export interface GPUAdapterInfoLike {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

export interface GPUAdapterLike {
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimitsLike;
  readonly info?: GPUAdapterInfoLike;
  requestDevice(descriptor?: {
    requiredFeatures?: string[];
    requiredLimits?: Record<string, number>;
    label?: string;
  }): Promise<GPUDeviceLike>;
}

export interface GPUDeviceLostInfoLike {
  readonly reason: "unknown" | "destroyed";
  readonly message: string;
}

export interface GPUErrorLike {
  readonly message: string;
}

export interface GPUDeviceLike {
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimitsLike;
  readonly queue: GPUQueueLike;
  readonly lost: Promise<GPUDeviceLostInfoLike>;
  onuncapturederror: ((event: { readonly error: GPUErrorLike }) => void) | null;
  createBuffer(descriptor: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GPUBufferLike;
  createShaderModule(descriptor: { code: string; label?: string }): GPUShaderModuleLike;
  createComputePipeline(descriptor: {
    layout: "auto";
    compute: { module: GPUShaderModuleLike; entryPoint: string };
    label?: string;
  }): GPUComputePipelineLike;
  createBindGroup(descriptor: { layout: GPUBindGroupLayoutLike; entries: GPUBindGroupEntryLike[]; label?: string }): GPUBindGroupLike;
  createCommandEncoder(descriptor?: { label?: string }): GPUCommandEncoderLike;
  pushErrorScope(filter: "validation" | "out-of-memory" | "internal"): void;
  popErrorScope(): Promise<GPUErrorLike | null>;
  destroy(): void;
}

export interface GPUBufferLike {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GPUShaderModuleLike {
  getCompilationInfo?(): Promise<{ messages: readonly { type: string; message: string; lineNum: number }[] }>;
}

// biome-ignore lint/suspicious/noEmptyInterface: an opaque handle
export interface GPUBindGroupLayoutLike {}
// biome-ignore lint/suspicious/noEmptyInterface: an opaque handle
export interface GPUBindGroupLike {}
// biome-ignore lint/suspicious/noEmptyInterface: an opaque handle
export interface GPUCommandBufferLike {}

export interface GPUComputePipelineLike {
  getBindGroupLayout(index: number): GPUBindGroupLayoutLike;
}

export interface GPUBindGroupEntryLike {
  binding: number;
  resource: { buffer: GPUBufferLike; offset?: number; size?: number };
}

export interface GPUComputePassLike {
  setPipeline(pipeline: GPUComputePipelineLike): void;
  setBindGroup(index: number, group: GPUBindGroupLike): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GPUCommandEncoderLike {
  beginComputePass(descriptor?: { label?: string }): GPUComputePassLike;
  copyBufferToBuffer(
    source: GPUBufferLike,
    sourceOffset: number,
    destination: GPUBufferLike,
    destinationOffset: number,
    size: number,
  ): void;
  clearBuffer(buffer: GPUBufferLike, offset?: number, size?: number): void;
  finish(): GPUCommandBufferLike;
}

export interface GPUQueueLike {
  submit(buffers: GPUCommandBufferLike[]): void;
  writeBuffer(buffer: GPUBufferLike, bufferOffset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number): void;
  onSubmittedWorkDone(): Promise<void>;
}

/** GPUBufferUsage flags (numeric values from the specification). */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

/** GPUMapMode.READ */
export const MAP_READ = 0x0001;

/** `navigator.gpu` where this runtime has WebGPU, else null. */
export function navigatorGpu(): GPULike | null {
  const nav = (globalThis as { navigator?: { gpu?: GPULike } }).navigator;
  return nav?.gpu ?? null;
}
