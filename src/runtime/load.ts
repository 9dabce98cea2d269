/**
 * One call from a path on disk to a ready model and tokenizer:
 *
 *   const m = await loadModel("models/Qwen2.5-0.5B-Instruct");
 *   const result = await generate(m.model, m.tokenizer, messages, { eosIds: m.eosIds });
 *   m.close();
 *
 * What a path holds decides how it is read (a Hugging Face folder or a `.gguf` file), and
 * `backend` decides where the weights go (`createBackend`). A new format is a new branch in
 * `loadModel` that yields config + WeightSource + tokenizer; a new backend is a new case in
 * `createBackend`; the model code changes for neither.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { FormatError, InvalidArgumentError, UnsupportedError } from "../errors.js";
import type { Qwen2Config, GenerationConfig } from "../formats/config.js";
import type { CausalLM } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { collectEosIds } from "../generation/stopping.js";
import type { Backend } from "../backends/ops.js";
import { ReferenceBackend } from "../backends/reference/index.js";
import { createWasmBackend } from "../backends/wasm/sharded.js";
import type { WeightSource } from "../formats/weights.js";
import { loadModelFolder } from "../formats/model_folder.js";
import { Qwen2ForCausalLM } from "../models/qwen2.js";
import { openGGUF, type GGUFTokenizerData } from "../formats/gguf_qwen2.js";
import { isGGUF } from "../formats/gguf.js";
import { localFolder, openLocalFile } from "#platform";

export type BackendName = "reference" | "wasm";
export const BACKENDS: readonly BackendName[] = ["reference", "wasm"];

export interface LoadProgress {
  readonly phase: "config" | "tokenizer" | "weights" | "ready";
  /** Bytes or tensors done and in all, when the phase can count them. */
  readonly done?: number;
  readonly total?: number;
}

export interface LoadOptions {
  /** Where the weights run. Default "wasm" (WebAssembly SIMD kernels on worker threads); "reference" is the plain TypeScript float32 oracle. */
  readonly backend?: BackendName;
  /** Compute threads for backends that use them (wasm). */
  readonly threads?: number;
  readonly onProgress?: (progress: LoadProgress) => void;
}

export interface LoadedModel {
  readonly model: CausalLM;
  readonly tokenizer: TextTokenizer;
  readonly config: Qwen2Config;
  /** generation_config.json, or null when the folder has none. */
  readonly generationConfig: GenerationConfig | null;
  /** Union of EOS ids from generation_config.json, config.json and the tokenizer. */
  readonly eosIds: readonly number[];
  /** What was loaded, for messages: the resolved path and its kind. */
  readonly path: string;
  readonly format: "hf-folder" | "gguf";
  readonly backend: BackendName;
  /** The compute backend's own name: "reference", "wasm-simd" or "wasm-relaxed" (the build its self-test chose). */
  readonly engine?: string;
  /** True when config.json says `qwen2_ts_random_weights` (made by `qwen2 create-random`). */
  readonly randomWeights: boolean;
  /** Odd but legal things found in the config files and weights (print them as warnings). */
  readonly warnings?: readonly string[];
  /** Releases the model (weights, worker threads) and any open files. */
  close(): void;
}

/** Loads a Hugging Face model folder or a GGUF file onto a backend. */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const backend = options.backend ?? "wasm";
  if (!BACKENDS.includes(backend)) {
    throw new InvalidArgumentError(`backend must be one of ${BACKENDS.join(", ")}, got ${JSON.stringify(backend)}`);
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${options.threads}`);
  }
  const full = resolve(path);
  let isDir: boolean;
  try {
    isDir = statSync(full).isDirectory();
  } catch {
    throw new FormatError(full, "no such file or folder (expected a Hugging Face model folder or a .gguf file)");
  }
  if (isDir) return loadHfFolder(full, backend, options);
  // By name, or by the magic bytes for a GGUF file saved under another name.
  if (full.toLowerCase().endsWith(".gguf") || (await isGgufPath(full))) return loadGguf(full, backend, options);
  throw new FormatError(full, "not a model: expected a folder with config.json and *.safetensors, or a .gguf file");
}

async function isGgufPath(path: string): Promise<boolean> {
  const file = await openLocalFile(path);
  try {
    return await isGGUF(file);
  } finally {
    file.close();
  }
}

/** A model built on a backend, with what it was built from. */
interface BuiltModel {
  readonly model: CausalLM;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig | null;
  readonly warnings: readonly string[];
  /** The compute backend's own name, e.g. "wasm-relaxed". */
  readonly engine: string;
  /** Releases the weight files and the backend once the model is disposed. */
  readonly release: () => void;
}

/**
 * EXTENSION POINT (backends): chooses the compute backend for a set of weights. Add a case
 * when a backend lands; the model code itself does not change.
 */
async function createBackend(backend: BackendName, options: LoadOptions, weights: WeightSource): Promise<Backend> {
  switch (backend) {
    case "reference":
      return new ReferenceBackend();
    case "wasm": {
      // One WebAssembly memory holds at most 4 GiB: larger models are split by layers.
      let bytes = 0;
      for (const name of weights.names()) bytes += weights.info(name).byteLength;
      return createWasmBackend(bytes, options.threads !== undefined ? { threads: options.threads } : {});
    }
  }
}

/** config + weights (from any format) → Qwen2ForCausalLM on the chosen backend. */
async function buildModel(
  source: { config: Qwen2Config; weights: WeightSource; generationConfig: GenerationConfig | null; warnings: readonly string[] },
  backend: BackendName,
  options: LoadOptions,
): Promise<BuiltModel> {
  let compute: Backend | null = null;
  try {
    compute = await createBackend(backend, options, source.weights);
    options.onProgress?.({ phase: "weights" });
    const model = await Qwen2ForCausalLM.load({ config: source.config, weights: source.weights }, compute);
    const owned = compute;
    return {
      model,
      config: source.config,
      generationConfig: source.generationConfig,
      warnings: source.warnings,
      engine: owned.name,
      // The backend goes last: it may own worker threads the model's buffers live in.
      release: () => {
        source.weights.close();
        owned.dispose();
      },
    };
  } catch (err) {
    source.weights.close();
    compute?.dispose();
    throw err;
  }
}

async function loadHfFolder(dir: string, backend: BackendName, options: LoadOptions): Promise<LoadedModel> {
  options.onProgress?.({ phase: "config" });
  const folder = await loadModelFolder(localFolder(dir));
  const built = await buildModel(
    { config: folder.config, weights: folder.weights, generationConfig: Object.keys(folder.generationConfig).length > 0 ? folder.generationConfig : null, warnings: folder.warnings },
    backend,
    options,
  );
  options.onProgress?.({ phase: "tokenizer" });
  let tokenizer: TextTokenizer;
  try {
    tokenizer = await loadTokenizerFor(dir);
  } catch (err) {
    built.model.dispose();
    built.release();
    throw err;
  }
  options.onProgress?.({ phase: "ready" });
  return assemble(dir, "hf-folder", backend, built, tokenizer);
}

/**
 * The folder's own tokenizer (tokenizer.json or vocab.json + merges.txt), else the Qwen2.5
 * tokenizer embedded in the package.
 */
export async function loadTokenizerFor(dir: string): Promise<TextTokenizer> {
  const own = ["tokenizer.json", "vocab.json"].some((f) => existsSync(join(dir, f)));
  if (!own) return Tokenizer.embedded();
  const text = async (name: string): Promise<string | null> => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : null);
  return Tokenizer.fromFiles({ location: dir, text });
}

/**
 * A .gguf file: config from `qwen2.*` metadata, weights under Hugging Face names, and the
 * tokenizer stored in the file (else the embedded Qwen2.5 one).
 */
async function loadGguf(file: string, backend: BackendName, options: LoadOptions): Promise<LoadedModel> {
  options.onProgress?.({ phase: "config" });
  const g = await openGGUF(await openLocalFile(file));
  let tokenizer: TextTokenizer;
  try {
    options.onProgress?.({ phase: "tokenizer" });
    tokenizer = g.tokenizerData ? tokenizerFromGguf(g.tokenizerData) : await Tokenizer.embedded();
  } catch (err) {
    g.close();
    throw err;
  }
  const gc = g.generationConfig;
  // The weight source closes the file; buildModel closes it on failure too.
  const built = await buildModel({ config: g.config, weights: g.weights, generationConfig: Object.keys(gc).length > 0 ? gc : null, warnings: [] }, backend, options);
  options.onProgress?.({ phase: "ready" });
  return assemble(file, "gguf", backend, built, tokenizer);
}

function tokenizerFromGguf(t: GGUFTokenizerData): TextTokenizer {
  if (t.model !== "gpt2") throw new UnsupportedError(`GGUF tokenizer model '${t.model}' is not supported (qwen2-ts reads byte-level BPE, 'gpt2')`);
  return Tokenizer.fromVocabAndMerges({
    vocab: t.tokens,
    merges: t.merges,
    addedTokens: t.addedTokens.map((a) => ({ id: a.id, content: a.content, special: a.special, lstrip: a.lstrip, rstrip: a.rstrip, normalized: a.normalized, singleWord: a.single_word })),
    eosToken: t.eosToken,
    padToken: t.padToken,
    bosToken: t.bosToken,
    chatTemplate: t.chatTemplate,
  });
}

function assemble(
  path: string,
  format: LoadedModel["format"],
  backend: BackendName,
  built: BuiltModel,
  tokenizer: TextTokenizer,
): LoadedModel {
  let closed = false;
  return {
    model: built.model,
    tokenizer,
    config: built.config,
    generationConfig: built.generationConfig,
    eosIds: collectEosIds({ generationConfig: built.generationConfig, config: built.config, tokenizer }),
    path,
    format,
    backend,
    engine: built.engine,
    // The one reading of the label: config.json's field, or the GGUF key mapped onto it.
    randomWeights: built.config.qwen2_ts_random_weights === true,
    warnings: built.warnings,
    close() {
      if (closed) return;
      closed = true;
      built.model.dispose();
      built.release();
    },
  };
}
