/**
 * Finding a WebGPU device: the adapter (navigator.gpu, or a `GPU` object handed in, such as
 * the one Node's `webgpu` package exports), the features and limits this backend asks for,
 * and why none could be had, in words a log can show.
 */
import { UnsupportedError } from "../../errors.js";
import { type GPUAdapterInfoLike, type GPUAdapterLike, type GPUDeviceLike, type GPULike, navigatorGpu } from "./gpu_types.js";

export interface DeviceOptions {
  /** The WebGPU entry point; default `navigator.gpu`. */
  readonly gpu?: GPULike;
  readonly powerPreference?: "low-power" | "high-performance";
}

export interface AcquiredDevice {
  readonly adapter: GPUAdapterLike;
  readonly device: GPUDeviceLike;
  /** "vendor architecture description", for logs and benchmark records. */
  readonly description: string;
  /** Whether the adapter has `shader-f16` (requested when present; the kernels compute in f32 either way). */
  readonly shaderF16: boolean;
}

function describe(info: GPUAdapterInfoLike | undefined): string {
  if (info === undefined) return "unknown adapter";
  return [info.vendor, info.architecture, info.device, info.description].filter((s) => s !== "").join(" ") || "unknown adapter";
}

/** The adapter, or the reason there is none (no WebGPU in this runtime, or no adapter offered). */
export async function findAdapter(options: DeviceOptions = {}): Promise<{ adapter: GPUAdapterLike } | { reason: string }> {
  const gpu = options.gpu ?? navigatorGpu();
  if (gpu === null) return { reason: "this runtime has no WebGPU (navigator.gpu is undefined)" };
  let adapter: GPUAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? "high-performance" });
  } catch (err) {
    return { reason: `requestAdapter failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (adapter === null) return { reason: "WebGPU is present but offers no adapter (no usable GPU, or WebGPU disabled)" };
  return { adapter };
}

/** A device with the adapter's full storage-buffer limits (the defaults are far smaller: 128 MiB bindings). */
export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const found = await findAdapter(options);
  if ("reason" in found) throw new UnsupportedError(`WebGPU backend: ${found.reason}`);
  const { adapter } = found;
  const a = adapter.limits;
  const shaderF16 = adapter.features.has("shader-f16");
  const device = await adapter.requestDevice({
    label: "qwen2-ts",
    requiredFeatures: shaderF16 ? ["shader-f16"] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    },
  });
  return { adapter, device, description: describe(adapter.info), shaderF16 };
}
