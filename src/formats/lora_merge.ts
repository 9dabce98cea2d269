/**
 * LoRA adapters merged into the weights they adapt, as a WeightSource: every adapted
 * linear weight reads as float32 W' = W + sum over adapters of (multiplier * scale) * B A,
 * accumulated in float64 and rounded once; every other tensor reads as stored. What loaders
 * and `qwen2 quantize --lora` (bake an adapter into a GGUF) put between the files and the
 * model, so a merged model is an ordinary model.
 *
 * A quantised base (Q8_0, Q4_0 GGUF) is dequantised first: merging gives float32 weights
 * (quantise them again to keep the size).
 */
import { FormatError } from "../errors.js";
import { weightToFloat32 } from "../tensor/quant/index.js";
import type { WeightDType } from "../tensor/dtype.js";
import { loraFloat32, type LoraModuleSpec, type PeftAdapter } from "./peft_adapter.js";
import type { HostTensor, TensorInfo, WeightSource } from "./weights.js";

export interface MergedAdapter {
  readonly adapter: PeftAdapter;
  /** Multiplies the adapter's trained scale; default 1. */
  readonly scale?: number;
}

/** `base` with `adapters` merged; closing it closes `base` (the adapters stay open: close them yourself). */
export function mergeLoraWeights(base: WeightSource, adapters: readonly MergedAdapter[]): WeightSource {
  return new MergedLoraSource(base, adapters);
}

class MergedLoraSource implements WeightSource {
  /** Weight name → the adapted modules that touch it, with their adapter and multiplier. */
  private readonly deltas = new Map<string, { adapter: PeftAdapter; module: LoraModuleSpec; multiplier: number }[]>();
  /** The last merged tensor, for a backend reading it in pieces. */
  private last: { name: string; data: Promise<Uint8Array> } | null = null;
  readonly readInto?: (name: string, dest: Uint8Array, offset?: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly base: WeightSource,
    adapters: readonly MergedAdapter[],
  ) {
    for (const { adapter, scale } of adapters) {
      for (const module of adapter.modules) {
        const name = `${module.module}.weight`;
        if (!base.has(name))
          throw new FormatError(base.location, `LoRA adapter ${adapter.location} adapts ${name}, which these weights lack`);
        const list = this.deltas.get(name) ?? [];
        list.push({ adapter, module, multiplier: scale ?? 1 });
        this.deltas.set(name, list);
      }
    }
    if (base.readInto !== undefined) {
      const baseReadInto = base.readInto.bind(base);
      this.readInto = async (name, dest, offset = 0, signal) => {
        if (!this.deltas.has(name)) return baseReadInto(name, dest, offset, signal);
        if (this.last?.name !== name) this.last = { name, data: this.merged(name).then((t) => t.data) };
        const data = await this.last.data;
        if (!(offset >= 0 && offset + dest.byteLength <= data.byteLength))
          throw new RangeError(`tensor ${name}: bytes [${offset}, ${offset + dest.byteLength}) are outside its ${data.byteLength} bytes`);
        dest.set(data.subarray(offset, offset + dest.byteLength));
        if (offset + dest.byteLength === data.byteLength) this.last = null; // read to the end: done with it
      };
    }
  }

  get location(): string {
    return this.base.location;
  }
  names(): string[] {
    return this.base.names();
  }
  has(name: string): boolean {
    return this.base.has(name);
  }
  info(name: string): TensorInfo {
    const info = this.base.info(name);
    if (!this.deltas.has(name)) return info;
    const n = info.shape.reduce((a, b) => a * b, 1);
    return { name, dtype: "f32", shape: info.shape, byteLength: n * 4 };
  }
  read(name: string): Promise<HostTensor> {
    return this.deltas.has(name) ? this.merged(name) : this.base.read(name);
  }
  close(): void {
    this.base.close();
  }

  private async merged(name: string): Promise<HostTensor> {
    const t = await this.base.read(name);
    const [rows, cols] = t.shape as [number, number];
    const w = weightToFloat32(t.dtype as WeightDType, t.data, rows * cols);
    const sum = new Float64Array(rows * cols);
    for (const { adapter, module, multiplier } of this.deltas.get(name)!) {
      const a = loraFloat32(await adapter.weights.read(module.a)); // [r, cols]
      const b = loraFloat32(await adapter.weights.read(module.b)); // [rows, r]
      const s = module.scale * multiplier;
      const r = module.r;
      for (let o = 0; o < rows; o++) {
        for (let k = 0; k < r; k++) {
          const f = s * b[o * r + k]!;
          if (f === 0) continue;
          const ao = k * cols;
          const so = o * cols;
          for (let i = 0; i < cols; i++) sum[so + i] = sum[so + i]! + f * a[ao + i]!;
        }
      }
    }
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < out.length; i++) out[i] = w[i]! + sum[i]!;
    return { name, dtype: "f32", shape: t.shape, data: new Uint8Array(out.buffer) };
  }
}
