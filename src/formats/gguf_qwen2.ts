/**
 * A Qwen2 GGUF file seen as a Hugging Face model: the config resolved from `qwen2.*`
 * metadata, the weights under Hugging Face names (a WeightSource, read lazily), and the
 * tokenizer stored in `tokenizer.*` metadata. This is the only place that knows how
 * llama.cpp spells a Qwen2 model; the model code never sees GGUF names.
 */
import { FormatError, UnsupportedError } from "../errors.js";
import type { GenerationConfig, LayerType, Qwen2Config, RopeScaling } from "./config.js";
import type { ByteSource } from "../io/byte_source.js";
import { GGUFFile, type GGUFTensorInfo } from "./gguf.js";
import { TokenType, weightTypes } from "./gguf_types.js";
import { ggufToHfName } from "./gguf_qwen2_names.js";
import type { HostTensor, TensorInfo, WeightSource } from "./weights.js";

/** Storage types we compute with (the others are reported by name). */
/** The ggml types a Qwen2 weight may be stored in: the float types and every block type we dequantise. */
const RUNNABLE = new Set(weightTypes().map((t) => t.name));

/** An added (special or user-defined) token, in tokenizer.json's `added_tokens` shape. */
export interface GGUFAddedToken {
  readonly id: number;
  readonly content: string;
  /** CONTROL tokens are special; USER_DEFINED ones are not. */
  readonly special: boolean;
  readonly lstrip: false;
  readonly rstrip: false;
  readonly normalized: false;
  readonly single_word: false;
}

/** Metadata key marking weights made by `qwen2 create-random` (config.json's `qwen2_ts_random_weights`). */
export const RANDOM_WEIGHTS_KEY = "qwen2_ts.random_weights";

/** The tokenizer as stored in GGUF metadata, in the shapes Hugging Face files use. */
export interface GGUFTokenizerData {
  /** tokenizer.ggml.model, "gpt2" for Qwen2's byte-level BPE. */
  readonly model: string;
  /** tokenizer.ggml.pre, "qwen2" for Qwen2's split regex. */
  readonly pre: string | null;
  /** Ordinary tokens (NORMAL and BYTE types) → id, as in vocab.json. */
  readonly vocab: Record<string, number>;
  /** Merges as "a b" strings, in rank order, as in merges.txt. */
  readonly merges: readonly string[];
  readonly addedTokens: readonly GGUFAddedToken[];
  /** Every token string by id (padding slots included) and its llama.cpp token type. */
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[];
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly eosToken: string | null;
  readonly bosToken: string | null;
  readonly padToken: string | null;
  readonly addBosToken: boolean;
  readonly chatTemplate: string | null;
}

export interface Qwen2GGUF {
  readonly path: string;
  readonly file: GGUFFile;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig;
  readonly weights: WeightSource;
  /** null when the file has no tokenizer metadata. */
  readonly tokenizerData: GGUFTokenizerData | null;
  /** The storage type of the large matrices (general.file_type, or the type of most weight bytes). */
  readonly dtype: string;
  close(): void;
}

/** The float32 value stored in metadata, written back as the shortest decimal that is the same float32 (1e-6, not 9.99999997e-7). */
function shortestF32(x: number): number {
  if (!Number.isFinite(x) || Math.fround(x) !== x) return x;
  for (let p = 1; p <= 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

function required(file: GGUFFile, key: string): number {
  const v = file.number(key);
  if (v === undefined) throw new FormatError(file.path, `missing metadata '${key}'`);
  return v;
}

function positiveInt(file: GGUFFile, key: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new FormatError(file.path, `metadata '${key}' must be a positive integer, found ${v}`);
  return v;
}

function ropeScaling(file: GGUFFile, arch: string): RopeScaling | null {
  const type = file.string(`${arch}.rope.scaling.type`);
  if (type === undefined || type === "none") return null;
  const factor = shortestF32(required(file, `${arch}.rope.scaling.factor`));
  if (type === "linear") return { rope_type: "linear", factor };
  if (type === "yarn") {
    const original = file.number(`${arch}.rope.scaling.original_context_length`);
    const betaFast = file.number(`${arch}.rope.scaling.yarn_beta_fast`);
    const betaSlow = file.number(`${arch}.rope.scaling.yarn_beta_slow`);
    return {
      rope_type: "yarn",
      factor,
      ...(original !== undefined ? { original_max_position_embeddings: original } : {}),
      ...(betaFast !== undefined ? { beta_fast: shortestF32(betaFast) } : {}),
      ...(betaSlow !== undefined ? { beta_slow: shortestF32(betaSlow) } : {}),
    };
  }
  throw new UnsupportedError(
    `${file.path}: metadata '${arch}.rope.scaling.type' is '${type}', which qwen2-ts does not run (supported: none, linear, yarn)`,
  );
}

/** Sliding-window layout, stored by our exporter (llama.cpp ignores these keys for qwen2 and attends fully). */
function slidingLayout(
  file: GGUFFile,
  arch: string,
  layers: number,
): { window: number | null; types: LayerType[]; maxWindowLayers: number } {
  const window = file.number(`${arch}.attention.sliding_window`);
  const pattern = file.numbers(`${arch}.attention.sliding_window_pattern`);
  if (window === undefined || pattern === undefined) {
    return { window: null, types: new Array<LayerType>(layers).fill("full_attention"), maxWindowLayers: layers };
  }
  if (pattern.length !== layers) {
    throw new FormatError(
      file.path,
      `metadata '${arch}.attention.sliding_window_pattern' has ${pattern.length} entries for ${layers} layers`,
    );
  }
  const types = pattern.map((p): LayerType => (p ? "sliding_attention" : "full_attention"));
  const first = types.indexOf("sliding_attention");
  return { window: positiveInt(file, `${arch}.attention.sliding_window`, window), types, maxWindowLayers: first < 0 ? layers : first };
}

function optionalId(file: GGUFFile, key: string, vocab: number): number | null {
  const v = file.number(key);
  if (v === undefined) return null;
  if (!Number.isInteger(v) || v < 0 || v >= vocab)
    throw new FormatError(file.path, `metadata '${key}' is ${v}, outside the vocabulary [0, ${vocab})`);
  return v;
}

function readTokenizer(file: GGUFFile): GGUFTokenizerData | null {
  const model = file.string("tokenizer.ggml.model");
  if (model === undefined) return null;
  const tokens = file.strings("tokenizer.ggml.tokens");
  if (tokens === undefined) throw new FormatError(file.path, "metadata 'tokenizer.ggml.tokens' is missing");
  const types = file.numbers("tokenizer.ggml.token_type") ?? new Array<number>(tokens.length).fill(TokenType.NORMAL);
  if (types.length !== tokens.length) {
    throw new FormatError(file.path, `metadata 'tokenizer.ggml.token_type' has ${types.length} entries for ${tokens.length} tokens`);
  }
  const merges = file.strings("tokenizer.ggml.merges") ?? [];
  const addedTokens: GGUFAddedToken[] = [];
  for (let id = 0; id < tokens.length; id++) {
    const type = types[id]!;
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      addedTokens.push({
        id,
        content: tokens[id]!,
        special: type === TokenType.CONTROL,
        lstrip: false,
        rstrip: false,
        normalized: false,
        single_word: false,
      });
    }
  }
  // Built on first use: loading a model reads `tokens`, and a 151k-key object costs a
  // noticeable part of opening the file.
  let vocab: Record<string, number> | null = null;
  const ordinaryVocab = (): Record<string, number> => {
    if (vocab !== null) return vocab;
    vocab = Object.create(null) as Record<string, number>;
    for (let id = 0; id < tokens.length; id++) {
      const type = types[id]!;
      if (type !== TokenType.CONTROL && type !== TokenType.USER_DEFINED && type !== TokenType.UNUSED) vocab[tokens[id]!] = id;
    }
    return vocab;
  };
  const eos = optionalId(file, "tokenizer.ggml.eos_token_id", tokens.length);
  const bos = optionalId(file, "tokenizer.ggml.bos_token_id", tokens.length);
  const pad = optionalId(file, "tokenizer.ggml.padding_token_id", tokens.length);
  return {
    model,
    pre: file.string("tokenizer.ggml.pre") ?? null,
    get vocab() {
      return ordinaryVocab();
    },
    merges,
    addedTokens,
    tokens,
    tokenTypes: types,
    eosTokenId: eos,
    bosTokenId: bos,
    padTokenId: pad,
    eosToken: eos === null ? null : tokens[eos]!,
    bosToken: bos === null ? null : tokens[bos]!,
    padToken: pad === null ? null : tokens[pad]!,
    addBosToken: file.bool("tokenizer.ggml.add_bos_token") ?? false,
    chatTemplate: file.string("tokenizer.chat_template") ?? null,
  };
}

/** Resolves a Qwen2Config from GGUF metadata and the tensor shapes. */
function readConfig(file: GGUFFile, tokenizer: GGUFTokenizerData | null): Qwen2Config {
  const arch = "qwen2";
  const embd = file.tensor("token_embd.weight");
  if (!embd) throw new FormatError(file.path, "tensor 'token_embd.weight' (model.embed_tokens.weight) is missing");
  if (embd.shape.length !== 2)
    throw new FormatError(file.path, `tensor 'token_embd.weight' must be 2-D, found shape [${embd.shape.join(", ")}]`);
  const hidden = positiveInt(file, `${arch}.embedding_length`, required(file, `${arch}.embedding_length`));
  const heads = positiveInt(file, `${arch}.attention.head_count`, required(file, `${arch}.attention.head_count`));
  const kvHeads = positiveInt(file, `${arch}.attention.head_count_kv`, file.number(`${arch}.attention.head_count_kv`) ?? heads);
  const layers = positiveInt(file, `${arch}.block_count`, required(file, `${arch}.block_count`));
  const keyLength = file.number(`${arch}.attention.key_length`);
  const headDim = keyLength !== undefined ? positiveInt(file, `${arch}.attention.key_length`, keyLength) : hidden / heads;
  if (!Number.isInteger(headDim)) throw new FormatError(file.path, `embedding_length ${hidden} is not divisible by head_count ${heads}`);
  if (heads % kvHeads !== 0)
    throw new FormatError(file.path, `metadata '${arch}.attention.head_count' ${heads} is not a multiple of head_count_kv ${kvHeads}`);
  const sliding = slidingLayout(file, arch, layers);
  const eos = tokenizer?.eosTokenId ?? null;
  return {
    model_type: "qwen2",
    vocab_size: embd.shape[0]!,
    hidden_size: hidden,
    intermediate_size: positiveInt(file, `${arch}.feed_forward_length`, required(file, `${arch}.feed_forward_length`)),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: "silu",
    max_position_embeddings: positiveInt(file, `${arch}.context_length`, required(file, `${arch}.context_length`)),
    rms_norm_eps: shortestF32(required(file, `${arch}.attention.layer_norm_rms_epsilon`)),
    tie_word_embeddings: file.tensor("output.weight") === undefined,
    rope_theta: shortestF32(file.number(`${arch}.rope.freq_base`) ?? 10000),
    rope_scaling: ropeScaling(file, arch),
    use_sliding_window: sliding.types.includes("sliding_attention"),
    sliding_window: sliding.window,
    max_window_layers: sliding.maxWindowLayers,
    layer_types: sliding.types,
    attention_dropout: 0,
    bos_token_id: tokenizer?.bosTokenId ?? null,
    eos_token_id: eos === null ? [] : [eos],
    pad_token_id: tokenizer?.padTokenId ?? null,
    torch_dtype: null,
    ...(file.bool(RANDOM_WEIGHTS_KEY) === true ? { qwen2_ts_random_weights: true } : {}),
  };
}

/** The tensors of a GGUF file under Hugging Face names. */
class GGUFWeightSource implements WeightSource {
  private readonly byHf = new Map<string, GGUFTensorInfo>();

  constructor(private readonly file: GGUFFile) {
    for (const t of file.tensors) this.byHf.set(ggufToHfName(t.name) ?? t.name, t);
  }

  get location(): string {
    return this.file.path;
  }
  names(): string[] {
    return [...this.byHf.keys()];
  }
  has(name: string): boolean {
    return this.byHf.has(name);
  }
  private find(name: string): GGUFTensorInfo {
    const t = this.byHf.get(name);
    if (!t) throw new FormatError(this.file.path, `tensor '${name}' is not in the file`);
    if (t.type.dtype === null) throw unsupportedType(this.file.path, t);
    return t;
  }
  info(name: string): TensorInfo {
    const t = this.find(name);
    return { name, dtype: t.type.dtype!, shape: t.shape, byteLength: t.byteLength };
  }
  async read(name: string): Promise<HostTensor> {
    const t = this.find(name);
    return { name, dtype: t.type.dtype!, shape: t.shape, data: await this.file.readTensorData(t) };
  }
  readInto(name: string, dest: Uint8Array, offset = 0, signal?: AbortSignal): Promise<void> {
    return this.file.readTensorInto(this.find(name), dest, offset, signal);
  }
  close(): void {
    this.file.close();
  }
}

function unsupportedType(path: string, t: GGUFTensorInfo): UnsupportedError {
  const hf = ggufToHfName(t.name);
  return new UnsupportedError(
    `${path}: tensor '${t.name}'${hf ? ` (${hf})` : ""} is stored as ${t.type.name}, which qwen2-ts does not run ` +
      `(supported: ${[...RUNNABLE].join(", ")}). Re-quantise the original model with 'qwen2 quantize --type q4_k_m' (or another preset).`,
  );
}

/** The name of the storage type that holds most weight bytes, lower-case (e.g. "q8_0"). */
function dominantType(file: GGUFFile): string {
  const bytes = new Map<string, number>();
  for (const t of file.tensors) if (t.shape.length >= 2) bytes.set(t.type.name, (bytes.get(t.type.name) ?? 0) + t.byteLength);
  let best = "F32";
  let most = -1;
  for (const [name, n] of bytes) if (n > most) [best, most] = [name, n];
  return best.toLowerCase();
}

/**
 * Opens a Qwen2 GGUF file. Fails early, before any weight is read, when the architecture is
 * not qwen2 or a tensor is stored in a type we do not run (the error names type and tensor).
 * The result owns the source.
 */
export async function openGGUF(source: ByteSource, signal?: AbortSignal): Promise<Qwen2GGUF> {
  const file = await GGUFFile.open(source, signal);
  const path = file.path;
  try {
    const arch = file.string("general.architecture");
    if (arch === undefined) throw new FormatError(path, "missing metadata 'general.architecture'");
    if (arch !== "qwen2") throw new UnsupportedError(`${path}: architecture '${arch}' is not supported (qwen2-ts runs 'qwen2')`);
    for (const t of file.tensors) if (!RUNNABLE.has(t.type.name)) throw unsupportedType(path, t);
    const tokenizerData = readTokenizer(file);
    const config = readConfig(file, tokenizerData);
    const generationConfig: GenerationConfig = {
      ...(config.eos_token_id.length > 0 ? { eos_token_id: config.eos_token_id } : {}),
      ...(config.bos_token_id !== null ? { bos_token_id: config.bos_token_id } : {}),
      ...(config.pad_token_id !== null ? { pad_token_id: config.pad_token_id } : {}),
    };
    const weights = new GGUFWeightSource(file);
    return { path, file, config, generationConfig, weights, tokenizerData, dtype: dominantType(file), close: () => file.close() };
  } catch (err) {
    file.close();
    throw err;
  }
}
