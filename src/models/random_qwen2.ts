/**
 * Random Qwen2 weights built in memory, in Hugging Face names and shapes: for tests,
 * benchmarks and demos that need a model of a given shape but not a trained one. Values are
 * deterministic for a seed (normal, std 0.02 like `initializer_range`, norms at 1, biases
 * small) so results can be compared across runs.
 */
import { InvalidArgumentError } from "../errors.js";
import type { Qwen2Config } from "../formats/config.js";
import type { HostTensor, TensorInfo, WeightSource } from "../formats/weights.js";
import { f32ToBf16, f32ToF16 } from "../tensor/convert.js";
import { byteSize, type FloatDType } from "../tensor/dtype.js";
import { qwen2ExpectedTensors } from "../formats/qwen2_tensors.js";
import { mulberry32 } from "../formats/random_model.js";

/**
 * A WeightSource whose tensors are generated on read (so a 0.5B-shaped model costs no
 * memory until uploaded). Reading the same name twice gives the same values.
 */
export class RandomQwen2Weights implements WeightSource {
  readonly location: string;
  private readonly shapes: Map<string, number[]>;

  constructor(
    private readonly config: Qwen2Config,
    private readonly seed = 0,
    private readonly dtype: FloatDType = "f32",
    /** Standard deviation of matrix entries. */
    private readonly std = 0.02,
  ) {
    this.location = `<random qwen2 weights, seed ${seed}>`;
    this.shapes = new Map(
      qwen2ExpectedTensors(config)
        .filter((t) => t.required)
        .map((t): [string, number[]] => [t.name, [...t.shape]]),
    );
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  info(name: string): TensorInfo {
    const shape = this.shapes.get(name);
    if (!shape) throw new InvalidArgumentError(`${this.location}: no tensor ${name}`);
    return { name, dtype: this.dtype, shape, byteLength: byteSize(this.dtype, shape) };
  }

  async read(name: string): Promise<HostTensor> {
    const { shape } = this.info(name);
    const n = shape.reduce((a, b) => a * b, 1);
    // Each tensor gets its own stream, keyed by name, so read order does not matter.
    let key = this.seed >>> 0;
    for (let i = 0; i < name.length; i++) key = Math.imul(key ^ name.charCodeAt(i), 0x9e3779b1) >>> 0;
    const next = mulberry32(key);
    const rand = (): number => next() / 4294967296;
    const values = new Float32Array(n);
    const isNorm = name.endsWith("layernorm.weight") || name === "model.norm.weight";
    const isBias = name.endsWith(".bias");
    for (let i = 0; i < n; i++) {
      // Sum of 4 uniforms: roughly normal, cheap, bounded.
      const z = (rand() + rand() + rand() + rand() - 2) * Math.sqrt(3);
      values[i] = isNorm ? 1 + 0.1 * z : isBias ? 0.1 * z : this.std * z;
    }
    return { name, dtype: this.dtype, shape, data: encode(values, this.dtype) };
  }

  close(): void {}
}

function encode(values: Float32Array, dtype: FloatDType): Uint8Array {
  if (dtype === "f32") return new Uint8Array(values.buffer);
  const bits = new Uint16Array(values.length);
  const conv = dtype === "bf16" ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < values.length; i++) bits[i] = conv(values[i]!);
  return new Uint8Array(bits.buffer);
}
