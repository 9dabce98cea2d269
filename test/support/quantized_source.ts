/**
 * A weight source that re-encodes another's matrices as Q8_0/Q4_0 GGUF blocks (vectors stay
 * float32), or, with `asFloat`, as the float32 values those blocks decode to: the pair lets a
 * test tell quantisation error from kernel error.
 */
import type { HostTensor, TensorInfo, WeightSource } from "../../src/formats/weights.js";
import { dequantize, quantize } from "../../src/tensor/quant/index.js";
import { toFloat32 } from "../../src/tensor/convert.js";

export class QuantizedSource implements WeightSource {
  constructor(
    private readonly inner: WeightSource,
    private readonly dtype: "q8_0" | "q4_0",
    private readonly asFloat = false,
  ) {}
  get location(): string {
    return this.inner.location;
  }
  names(): string[] {
    return this.inner.names();
  }
  has(name: string): boolean {
    return this.inner.has(name);
  }
  info(name: string): TensorInfo {
    return this.inner.info(name);
  }
  async read(name: string): Promise<HostTensor> {
    const t = await this.inner.read(name);
    if (t.shape.length !== 2) return t;
    const values = toFloat32("f32", t.data);
    const q = quantize(this.dtype, values);
    if (this.asFloat) return { ...t, data: new Uint8Array(dequantize(this.dtype, q, values.length).buffer) };
    return { ...t, dtype: this.dtype, data: q };
  }
  close(): void {}
}
