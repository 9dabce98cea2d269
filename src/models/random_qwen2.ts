/**
 * Random Qwen2 weights built in memory, in Hugging Face names and shapes: for tests,
 * benchmarks and demos that need a model of a given shape but not a trained one. Values come
 * from tensor/random.ts, the generator `qwen2 create-random` writes to disk with: the same
 * config, seed, dtype and std give the same tensors here and in the written model.safetensors.
 */
import { InvalidArgumentError } from "../errors.js";
import type { Qwen2Config } from "../formats/config.js";
import type { HostTensor, TensorInfo, WeightSource } from "../formats/weights.js";
import { byteSize, type FloatDType } from "../tensor/dtype.js";
import { qwen2ExpectedTensors } from "../formats/qwen2_tensors.js";
import { backbonePrefix, configArchitecture } from "../formats/qwen2_architectures.js";
import { DEFAULT_RANDOM_STD, randomWeightBytes } from "../tensor/random.js";

/**
 * A WeightSource whose tensors are generated on read (so a 0.5B-shaped model costs no
 * memory until uploaded). Reading the same name twice gives the same values.
 */
export class RandomQwen2Weights implements WeightSource {
  readonly location: string;
  private readonly shapes: Map<string, number[]>;

  constructor(
    config: Qwen2Config,
    private readonly seed = 0,
    private readonly dtype: FloatDType = "f32",
    /** Standard deviation of every entry (norm weights are 1 + std * normal). */
    private readonly std = DEFAULT_RANDOM_STD,
  ) {
    this.location = `<random qwen2 weights, seed ${seed}>`;
    // The class config.json names decides the head tensors and where the backbone is stored.
    const architecture = configArchitecture(config);
    const prefix = backbonePrefix(architecture);
    const stored = (name: string): string => (name.startsWith("model.") ? prefix + name.slice("model.".length) : name);
    this.shapes = new Map(
      qwen2ExpectedTensors(config, architecture)
        .filter((t) => t.required)
        .map((t): [string, number[]] => [stored(t.name), [...t.shape]]),
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
    return { name, dtype: this.dtype, shape, data: randomWeightBytes(name, n, this.dtype, this.seed, this.std) };
  }

  close(): void {}
}
