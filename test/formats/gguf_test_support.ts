/**
 * Helpers for GGUF tests: a byte builder to craft files by hand (valid and broken ones),
 * a temporary folder, and an in-memory WeightSource.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../src/errors.js";
import type { Qwen2Config } from "../../src/formats/config.js";
import type { HostTensor, TensorInfo, WeightSource } from "../../src/formats/weights.js";
import { byteSize, type DType } from "../../src/tensor/dtype.js";

/** Little-endian byte builder. */
export class Bytes {
  private parts: Buffer[] = [];
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  f32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
    return this;
  }
  raw(bytes: Uint8Array): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s);
    return this.u64(b.length).raw(b);
  }
  /** Pads with zeros to a multiple of `n`. */
  pad(n: number): this {
    const rest = (n - (this.length % n)) % n;
    return this.raw(new Uint8Array(rest));
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A GGUF v3 header start: magic, version, counts. */
export function header(tensors: number, kvs: number, version = 3): Bytes {
  return new Bytes().u32(0x46554747).u32(version).u64(tensors).u64(kvs);
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), "qwen2-gguf-test-"));
  file(name: string, bytes?: Uint8Array): string {
    const p = join(this.path, name);
    if (bytes) writeFileSync(p, bytes);
    return p;
  }
  dispose(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** A WeightSource over tensors held in memory. */
export class MemoryWeights implements WeightSource {
  readonly location = "memory";
  constructor(private readonly tensors: Map<string, HostTensor>) {}
  names(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  info(name: string): TensorInfo {
    const t = this.get(name);
    return { name, dtype: t.dtype, shape: t.shape, byteLength: byteSize(t.dtype, t.shape) };
  }
  async read(name: string): Promise<HostTensor> {
    return this.get(name);
  }
  private get(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) throw new FormatError(this.location, `tensor '${name}' is missing`);
    return t;
  }
  close(): void {}
}

/** A small Qwen2 config, every field resolved. */
export function tinyConfig(overrides: Partial<Qwen2Config> = {}): Qwen2Config {
  const layers = overrides.num_hidden_layers ?? 2;
  return {
    model_type: "qwen2",
    vocab_size: 96,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: layers,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    hidden_act: "silu",
    max_position_embeddings: 256,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    rope_theta: 1000000,
    rope_scaling: null,
    use_sliding_window: false,
    sliding_window: null,
    max_window_layers: layers,
    layer_types: new Array(layers).fill("full_attention"),
    attention_dropout: 0,
    bos_token_id: null,
    eos_token_id: [],
    pad_token_id: null,
    torch_dtype: null,
    ...overrides,
  };
}

/** Random float32 weights with Hugging Face names for `config`, deterministic in `seed`. */
export function randomQwen2Weights(config: Qwen2Config, seed = 1): MemoryWeights {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
  const tensors = new Map<string, HostTensor>();
  const add = (name: string, shape: number[], scale = 0.2, offset = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () => offset + rand() * scale);
    tensors.set(name, { name, dtype: "f32", shape, data: new Uint8Array(v.buffer) });
  };
  const { hidden_size: h, intermediate_size: f, head_dim: d, num_attention_heads: q, num_key_value_heads: kv } = config;
  add("model.embed_tokens.weight", [config.vocab_size, h], 1);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [h], 0.2, 1);
    add(`${p}self_attn.q_proj.weight`, [q * d, h]);
    add(`${p}self_attn.q_proj.bias`, [q * d]);
    add(`${p}self_attn.k_proj.weight`, [kv * d, h]);
    add(`${p}self_attn.k_proj.bias`, [kv * d]);
    add(`${p}self_attn.v_proj.weight`, [kv * d, h]);
    add(`${p}self_attn.v_proj.bias`, [kv * d]);
    add(`${p}self_attn.o_proj.weight`, [h, q * d]);
    add(`${p}post_attention_layernorm.weight`, [h], 0.2, 1);
    add(`${p}mlp.gate_proj.weight`, [f, h]);
    add(`${p}mlp.up_proj.weight`, [f, h]);
    add(`${p}mlp.down_proj.weight`, [h, f]);
  }
  add("model.norm.weight", [h], 0.2, 1);
  if (!config.tie_word_embeddings) add("lm_head.weight", [config.vocab_size, h]);
  return new MemoryWeights(tensors);
}

/**
 * A small byte-level BPE tokenizer folder in Hugging Face's fast layout: the 256 byte
 * symbols, `merges` extra merged tokens, then added tokens `<|endoftext|>`, `<|im_start|>`,
 * `<|im_end|>` (special) and `<tool>` (not special).
 */
export function writeTinyTokenizer(dir: string, merges = 8): { vocabSize: number } {
  const bytesToUnicode: string[] = [];
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  for (let b = 0; b < 256; b++) bytesToUnicode.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  const vocab: Record<string, number> = {};
  bytesToUnicode.forEach((c, i) => (vocab[c] = i));
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const mergeList: string[] = [];
  for (let i = 0; i < merges; i++) {
    // Distinct pairs of letters: "a a", "a b", ..., "b a", ...
    const a = letters[Math.floor(i / 26)]!;
    const b = letters[i % 26]!;
    mergeList.push(`${a} ${b}`);
    vocab[a + b] = 256 + i;
  }
  const base = 256 + merges;
  const added = [
    { id: base, content: "<|endoftext|>", special: true },
    { id: base + 1, content: "<|im_start|>", special: true },
    { id: base + 2, content: "<|im_end|>", special: true },
    { id: base + 3, content: "<tool>", special: false },
  ].map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false }));
  writeFileSync(
    join(dir, "tokenizer.json"),
    JSON.stringify({ version: "1.0", added_tokens: added, model: { type: "BPE", vocab, merges: mergeList } }),
  );
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ eos_token: "<|im_end|>", pad_token: { content: "<|endoftext|>" }, bos_token: null, chat_template: "{{ messages }}" }),
  );
  return { vocabSize: base + 4 };
}

/**
 * A minimal single-file safetensors reader for tests of the GGUF edge only (the product's
 * validating reader lives in src/formats/safetensors.ts): reads the whole file.
 */
export function readSafetensorsForTest(file: string): MemoryWeights {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const dtypes: Record<string, DType> = { F32: "f32", F16: "f16", BF16: "bf16" };
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const dtype = dtypes[t.dtype];
    if (!dtype) throw new Error(`${file}: tensor ${name} has dtype ${t.dtype}`);
    const start = 8 + headerLength + t.data_offsets[0];
    const data = new Uint8Array(bytes.subarray(start, 8 + headerLength + t.data_offsets[1]));
    tensors.set(name, { name, dtype, shape: t.shape, data });
  }
  return new MemoryWeights(tensors);
}

/** The few config.json fields the fixture models without RoPE scaling or sliding windows use (tests only). */
export function plainConfigForTest(file: string): Qwen2Config {
  const j = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  if (j.rope_scaling || j.use_sliding_window) throw new Error(`${file}: plainConfigForTest handles plain configs only`);
  const num = (k: string): number => j[k] as number;
  const layers = num("num_hidden_layers");
  const eos = j.eos_token_id;
  return tinyConfig({
    vocab_size: num("vocab_size"),
    hidden_size: num("hidden_size"),
    intermediate_size: num("intermediate_size"),
    num_hidden_layers: layers,
    num_attention_heads: num("num_attention_heads"),
    num_key_value_heads: num("num_key_value_heads"),
    head_dim: (j.head_dim as number | undefined) ?? num("hidden_size") / num("num_attention_heads"),
    max_position_embeddings: num("max_position_embeddings"),
    rms_norm_eps: num("rms_norm_eps"),
    rope_theta: num("rope_theta"),
    tie_word_embeddings: j.tie_word_embeddings === true,
    max_window_layers: layers,
    layer_types: new Array(layers).fill("full_attention"),
    bos_token_id: (j.bos_token_id as number | undefined) ?? null,
    eos_token_id: eos === undefined || eos === null ? [] : Array.isArray(eos) ? (eos as number[]) : [eos as number],
  });
}
