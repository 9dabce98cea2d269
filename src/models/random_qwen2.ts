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

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The tensors a Qwen2 checkpoint stores, with their shapes (lm_head only when untied). */
export function qwen2TensorShapes(c: Qwen2Config): [string, number[]][] {
  const h = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [c.vocab_size, h]]];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      [`${p}input_layernorm.weight`, [h]],
      [`${p}self_attn.q_proj.weight`, [q, h]],
      [`${p}self_attn.q_proj.bias`, [q]],
      [`${p}self_attn.k_proj.weight`, [kv, h]],
      [`${p}self_attn.k_proj.bias`, [kv]],
      [`${p}self_attn.v_proj.weight`, [kv, h]],
      [`${p}self_attn.v_proj.bias`, [kv]],
      [`${p}self_attn.o_proj.weight`, [h, q]],
      [`${p}post_attention_layernorm.weight`, [h]],
      [`${p}mlp.gate_proj.weight`, [c.intermediate_size, h]],
      [`${p}mlp.up_proj.weight`, [c.intermediate_size, h]],
      [`${p}mlp.down_proj.weight`, [h, c.intermediate_size]],
    );
  }
  out.push(["model.norm.weight", [h]]);
  if (!c.tie_word_embeddings) out.push(["lm_head.weight", [c.vocab_size, h]]);
  return out;
}

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
    this.shapes = new Map(qwen2TensorShapes(config));
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

  read(name: string): HostTensor {
    const { shape } = this.info(name);
    const n = shape.reduce((a, b) => a * b, 1);
    // Each tensor gets its own stream, keyed by name, so read order does not matter.
    let key = this.seed >>> 0;
    for (let i = 0; i < name.length; i++) key = Math.imul(key ^ name.charCodeAt(i), 0x9e3779b1) >>> 0;
    const rand = mulberry32(key);
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
