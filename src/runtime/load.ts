/**
 * One call from a model's location to a ready model and tokenizer:
 *
 *   const m = await fromPretrained("https://host/Qwen2.5-0.5B-Instruct/", { onProgress });
 *   const result = await generate(m.model, m.tokenizer, messages, { eosIds: m.eosIds });
 *   m.close();
 *
 * The source is a URL (string or URL; in Node, Deno and Bun also a local path or file: URL),
 * a Blob/File (a `.gguf`), a list of Files (a dropped folder) or any ModelFiles. What it
 * holds decides how it is read (a Hugging Face folder or a `.gguf` file), and `backend`
 * decides where the weights go. A new format is a new branch that yields config +
 * WeightSource + tokenizer; a new backend is a new case in `createBackend`; the model code
 * changes for neither.
 *
 * The phases, each reported through `onProgress`: config (config files and weight headers,
 * a few requests), a check that the weights fit the backend's memory (before any weight is
 * downloaded), download (only with `cache`: each weight file stored whole in Cache Storage),
 * weights (streamed piece by piece into the backend), tokenizer, ready.
 */
import { FormatError, InvalidArgumentError, UnsupportedError } from "../errors.js";
import type { Qwen2Config, GenerationConfig } from "../formats/config.js";
import type { CausalLM } from "../models/causal_lm.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { readTokenizerFolder } from "../tokenizer/folder.js";
import { collectEosIds } from "../generation/stopping.js";
import type { Backend } from "../backends/ops.js";
import { ReferenceBackend } from "../backends/reference/index.js";
import { createWasmBackend } from "../backends/wasm/sharded.js";
import { findAdapter } from "../backends/webgpu/device.js";
import type { GPULike } from "../backends/webgpu/gpu_types.js";
import { WEBGPU_DTYPES, WebGPUBackend } from "../backends/webgpu/backend.js";
import type { WeightSource } from "../formats/weights.js";
import { loadModelFolder } from "../formats/model_folder.js";
import { loadQwen2Config } from "../formats/config_parse.js";
import { configArchitecture } from "../formats/qwen2_architectures.js";
import { Qwen2ForCausalLM, Qwen2Model, type Qwen2LoadOptions, type Qwen2Source } from "../models/qwen2.js";
import { Qwen2ForQuestionAnswering, Qwen2ForSequenceClassification, Qwen2ForTokenClassification } from "../models/qwen2_heads.js";
import type { Qwen2Architecture } from "../formats/qwen2_architectures.js";
import { openGGUF, type GGUFTokenizerData } from "../formats/gguf_qwen2.js";
import { isGGUF } from "../formats/gguf.js";
import type { ByteSource, ModelFiles } from "../io/byte_source.js";
import { blobFiles, blobSource, fileName } from "../io/blob_source.js";
import { type CacheStorageLike, ModelCache } from "../io/cache.js";
import type { FetchLike } from "../io/http.js";
import type { LoadProgress } from "../io/progress.js";
import { isDownloadable, openUrlFile, urlFiles } from "../io/url_files.js";
import { hasLocalFiles, localFolder, localPathKind, openLocalFile } from "#platform";
import { mergeLoraWeights } from "../formats/lora_merge.js";
import type { PeftAdapter } from "../formats/peft_adapter.js";
import { mergeSpec, openAdapter, type MergeAdapterSpec } from "./adapters.js";

export type { LoadProgress } from "../io/progress.js";

export type BackendName = "reference" | "wasm" | "webgpu" | "auto";
export const BACKENDS: readonly BackendName[] = ["reference", "wasm", "webgpu", "auto"];

/** A backend as chosen: "auto" resolved, with the reason when it was chosen automatically. */
interface BackendChoice {
  readonly name: Exclude<BackendName, "auto">;
  /** Why "auto" chose this backend, or null when the caller named it. */
  readonly reason: string | null;
}

/** Where a model comes from. */
export type ModelSource = string | URL | Blob | readonly Blob[] | ArrayLike<Blob> | ModelFiles;

export interface LoadOptions {
  /**
   * Where the weights run. Default "wasm" (WebAssembly SIMD kernels on worker threads);
   * "webgpu" (WGSL kernels on the GPU); "auto" takes WebGPU when an adapter exists and the
   * model's weights fit it, else wasm, and logs why (console.info, and `backendReason`);
   * "reference" is the plain TypeScript float32 oracle.
   */
  readonly backend?: BackendName;
  /** The WebGPU entry point when it is not `navigator.gpu` (in Node: `create([])` of the `webgpu` package). */
  readonly gpu?: GPULike;
  /** Compute threads for backends that use them (wasm). */
  readonly threads?: number;
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Aborts the load: pending requests and reads reject with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Keep URL downloads in Cache Storage (browsers), so the next load reads them from there.
   * `true` uses the default bucket; an object names another bucket or passes a CacheStorage.
   */
  readonly cache?: boolean | { readonly cacheName?: string; readonly caches?: CacheStorageLike };
  /** The fetch used for URLs (tests inject one; gated models need one adding an Authorization header). */
  readonly fetch?: FetchLike;
  /**
   * Most weight bytes the wasm backend may take. Default: no limit where several memories
   * can be used (Node, Deno, Bun); in browsers the weight budget of one 4 GiB memory.
   */
  readonly maxWeightBytes?: number;
  /**
   * PEFT LoRA adapters merged into the weights at load (W + scale B A, float32: adapted
   * weights of a bf16 or quantised base become float32). For adapters chosen per request
   * instead, see `loadAdapter` (runtime/adapters.ts).
   */
  readonly mergeAdapters?: readonly MergeAdapterSpec[];
}

/** A class the loader builds: the causal LM, or the decoder stack alone or with a task head. */
export type Qwen2TaskModel =
  | Qwen2ForCausalLM
  | Qwen2Model
  | Qwen2ForSequenceClassification
  | Qwen2ForTokenClassification
  | Qwen2ForQuestionAnswering;

/** Which class to load: one by name, or "auto" for the one config.json `architectures` names. */
export type ArchitectureChoice = Qwen2Architecture | "auto";

/** EXTENSION POINT (architectures): each class by the name config.json gives it. */
const CONSTRUCT: {
  readonly [A in Qwen2Architecture]: (source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions) => Promise<Qwen2TaskModel>;
} = {
  Qwen2ForCausalLM: (s, b, o) => Qwen2ForCausalLM.load(s, b, o),
  Qwen2Model: (s, b, o) => Qwen2Model.load(s, b, o),
  Qwen2ForSequenceClassification: (s, b, o) => Qwen2ForSequenceClassification.load(s, b, o),
  Qwen2ForTokenClassification: (s, b, o) => Qwen2ForTokenClassification.load(s, b, o),
  Qwen2ForQuestionAnswering: (s, b, o) => Qwen2ForQuestionAnswering.load(s, b, o),
};

/** The task heads, which a causal LM load refuses (their folders have no LM head to speak of). */
const HEAD_CLASSES: ReadonlySet<Qwen2Architecture> = new Set([
  "Qwen2ForSequenceClassification",
  "Qwen2ForTokenClassification",
  "Qwen2ForQuestionAnswering",
]);

export interface LoadedModel<M = CausalLM> {
  readonly model: M;
  /** The class loaded (Qwen2ForCausalLM for a GGUF file); set by the loader, optional for hand-made ones. */
  readonly architecture?: Qwen2Architecture;
  readonly tokenizer: TextTokenizer;
  readonly config: Qwen2Config;
  /** generation_config.json, or null when the folder has none. */
  readonly generationConfig: GenerationConfig | null;
  /** Union of EOS ids from generation_config.json, config.json and the tokenizer. */
  readonly eosIds: readonly number[];
  /** What was loaded, for messages: the folder or file (path, URL or name) and its kind. */
  readonly path: string;
  readonly format: "hf-folder" | "gguf";
  readonly backend: Exclude<BackendName, "auto">;
  /** Why `backend: "auto"` chose this backend (absent when the caller named it). */
  readonly backendReason?: string;
  /** The compute backend's own name: "reference", "wasm-simd" or "wasm-relaxed" (the build its self-test chose). */
  readonly engine?: string;
  /** True when the config says `qwen2_ts_random_weights` (made by `qwen2 create-random`). */
  readonly randomWeights: boolean;
  /** Odd but legal things found in the config files and weights (print them as warnings). */
  readonly warnings?: readonly string[];
  /** Releases the model (weights, worker threads) and any open files. */
  close(): void;
}

/** One WebAssembly memory is at most 4 GiB; the wasm backend keeps a quarter of it for activations and caches. */
const ONE_MEMORY_WEIGHT_BYTES = 3 * 2 ** 30;

/** A source resolved to what it holds. */
type Resolved = { readonly kind: "folder"; readonly files: ModelFiles } | { readonly kind: "gguf"; readonly file: ByteSource };

/**
 * Loads a Hugging Face model folder or a GGUF file onto a backend as a causal LM. A folder
 * whose config.json names a task head (sequence or token classification, question
 * answering) is refused with a pointer to `AutoModel.fromPretrained`.
 */
export async function fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  return (await loadPretrained(source, options, "Qwen2ForCausalLM")) as LoadedModel;
}

/**
 * The one loader behind `fromPretrained` and the classes' `fromPretrained`: source → format
 * → memory check → backend → the class asked for (or named by config.json) + tokenizer.
 * @internal
 */
export async function loadPretrained(
  source: ModelSource,
  options: LoadOptions,
  want: ArchitectureChoice,
): Promise<LoadedModel<Qwen2TaskModel>> {
  const requested = options.backend ?? "wasm";
  if (!BACKENDS.includes(requested)) {
    throw new InvalidArgumentError(`backend must be one of ${BACKENDS.join(", ")}, got ${JSON.stringify(requested)}`);
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${options.threads}`);
  }
  options.signal?.throwIfAborted();
  options.onProgress?.({ phase: "config" });
  const resolved = await resolveSource(source, options);
  const backend: BackendChoice = requested === "auto" ? await chooseAuto(options) : { name: requested, reason: null };
  return resolved.kind === "folder" ? loadFolder(resolved.files, backend, options, want) : loadGguf(resolved.file, backend, options, want);
}

/** A URL with a scheme other than a Windows drive letter. */
function isUrlString(s: string): boolean {
  return /^[a-z][a-z0-9+.-]+:/i.test(s);
}

function looksLikeGguf(name: string): boolean {
  return /\.gguf$/i.test(name.replace(/[?#].*$/, ""));
}

async function resolveSource(source: ModelSource, options: LoadOptions): Promise<Resolved> {
  if (typeof source === "string" || source instanceof URL) {
    const text = source instanceof URL ? source.href : source;
    if (isUrlString(text) && !text.startsWith("file:")) return resolveUrl(new URL(text).href, options);
    if (!hasLocalFiles)
      throw new UnsupportedError(
        `${text}: local paths cannot be opened here (no file system); pass a URL, a File/Blob, a list of Files or a ModelFiles`,
      );
    const path = text.startsWith("file:") ? decodeURIComponent(new URL(text).pathname) : text;
    return resolvePath(path);
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    const file = blobSource(source);
    if (await isGGUF(file, options.signal)) return { kind: "gguf", file };
    file.close();
    throw new FormatError(
      file.name,
      "not a GGUF file: pass a .gguf file, or all the files of a model folder (config.json, *.safetensors, tokenizer files)",
    );
  }
  if (isModelFiles(source)) return { kind: "folder", files: source };
  const blobs = Array.from(source as ArrayLike<Blob>);
  if (blobs.length === 0) throw new InvalidArgumentError("fromPretrained: an empty list of files");
  const names = blobs.map((b) => fileName(b) ?? "");
  if (!names.includes("config.json")) {
    const ggufs = blobs.filter((_, i) => looksLikeGguf(names[i]!));
    if (ggufs.length === 1) return { kind: "gguf", file: blobSource(ggufs[0]!) };
    throw new FormatError("<dropped files>", `no config.json among ${names.join(", ")}: pass a model folder's files or one .gguf file`);
  }
  return { kind: "folder", files: blobFiles(blobs) };
}

function isModelFiles(x: unknown): x is ModelFiles {
  return (
    typeof x === "object" && x !== null && typeof (x as ModelFiles).open === "function" && typeof (x as ModelFiles).text === "function"
  );
}

async function resolveUrl(url: string, options: LoadOptions): Promise<Resolved> {
  const cache = options.cache ? await ModelCache.open(url, options.cache === true ? {} : options.cache) : null;
  const http = {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    cache,
  };
  if (looksLikeGguf(url)) {
    const file = await openUrlFile(url, http);
    if (file === null) throw new FormatError(url, "HTTP 404 Not Found: no file at this URL (check the model URL and the file name)");
    return { kind: "gguf", file };
  }
  return { kind: "folder", files: urlFiles(url, http) };
}

async function resolvePath(path: string): Promise<Resolved> {
  const kind = await localPathKind(path);
  if (kind === null) throw new FormatError(path, "no such file or folder (expected a Hugging Face model folder or a .gguf file)");
  if (kind === "folder") return { kind: "folder", files: localFolder(path) };
  const file = await openLocalFile(path);
  // By name, or by the magic bytes for a GGUF file saved under another name.
  if (looksLikeGguf(path) || (await isGGUF(file))) return { kind: "gguf", file };
  file.close();
  throw new FormatError(path, "not a model: expected a folder with config.json and *.safetensors, or a .gguf file");
}

/**
 * The folder as the loader sees it: text files read once (the index, tokenizer.json are
 * asked for twice: to see whether they are there, then to parse them), and the files it
 * opens recorded, so their downloads can start once the model is known to fit.
 */
function trackOpens(files: ModelFiles, onOpen: (opened: readonly ByteSource[]) => void): { files: ModelFiles; opened: ByteSource[] } {
  const opened: ByteSource[] = [];
  const texts = new Map<string, Promise<string | null>>();
  return {
    opened,
    files: {
      location: files.location,
      text(name) {
        let text = texts.get(name);
        if (text === undefined) {
          text = files.text(name);
          texts.set(name, text);
        }
        return text;
      },
      async open(name) {
        const source = await files.open(name);
        if (source !== null) {
          opened.push(source);
          try {
            onOpen(opened);
          } catch (err) {
            source.close();
            throw err;
          }
        }
        return source;
      },
    },
  };
}

/** Weight bytes of a source. */
function weightBytes(weights: WeightSource): number {
  let bytes = 0;
  for (const name of weights.names()) bytes += weights.info(name).byteLength;
  return bytes;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Headers, tokenizer metadata and tensors a model does not use: file bytes that are not weights, at most. */
const NON_WEIGHT_SLACK = 64 * 2 ** 20;
const NON_WEIGHT_SHARE = 0.05;

/**
 * Refuses, before any weight is downloaded or uploaded, a model the backend cannot hold:
 * by the weight bytes the headers list, and earlier still (`files: true`) by the sizes of the
 * weight files as they are opened, which is all a server without range support lets us know
 * before the whole file comes.
 */
function checkFits(location: string, bytes: number, backend: BackendChoice, options: LoadOptions, files = false): void {
  // WebGPU's limits are per buffer (weights split across buffers); it cannot say how much memory a GPU has.
  if (backend.name !== "wasm") return;
  const limit = options.maxWeightBytes ?? (hasLocalFiles ? Number.POSITIVE_INFINITY : ONE_MEMORY_WEIGHT_BYTES);
  if (bytes > limit + (files ? Math.min(NON_WEIGHT_SLACK, limit * NON_WEIGHT_SHARE) : 0)) {
    throw new UnsupportedError(
      `${location}: the ${files ? "weight files" : "weights"} take ${gib(bytes)} (${bytes} bytes) but WebAssembly memory here holds at most ${gib(limit)} (${limit} bytes) of weights` +
        `${options.maxWeightBytes === undefined ? " (one 4 GiB memory, a quarter kept for activations)" : " (maxWeightBytes)"}; pick a smaller or more quantised model (Q8_0, Q4_0 GGUF)`,
    );
  }
}

/** Downloads (into the cache) every opened file that can be, reporting bytes per file. */
async function downloadAll(opened: readonly ByteSource[], signal: AbortSignal | undefined): Promise<void> {
  for (const source of opened) if (isDownloadable(source)) await source.download(signal);
}

/** A model built on a backend, with what it was built from. */
interface BuiltModel {
  readonly model: Qwen2TaskModel;
  readonly architecture: Qwen2Architecture;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig | null;
  readonly warnings: readonly string[];
  /** The compute backend's own name, e.g. "wasm-relaxed". */
  readonly engine: string;
  /** The backend the model runs on (auto's fallback may differ from its first choice). */
  readonly backend: BackendChoice;
  /** Releases the weight files and the backend once the model is disposed. */
  readonly release: () => void;
}

/**
 * EXTENSION POINT (backends): chooses the compute backend for a set of weights. Add a case
 * when a backend lands; the model code itself does not change.
 */
async function createBackend(backend: BackendChoice, options: LoadOptions, bytes: number): Promise<Backend> {
  switch (backend.name) {
    case "webgpu":
      return WebGPUBackend.create(options.gpu ? { gpu: options.gpu } : {});
    case "reference":
      return new ReferenceBackend();
    case "wasm":
      // One WebAssembly memory holds at most 4 GiB: larger models are split by layers.
      return createWasmBackend(bytes, options.threads !== undefined ? { threads: options.threads } : {});
  }
}

/**
 * "auto": WebGPU when this runtime offers an adapter (whether the weights fit is known only
 * once their dtypes are read: see `buildModel`), else wasm.
 */
async function chooseAuto(options: LoadOptions): Promise<BackendChoice> {
  const found = await findAdapter(options.gpu ? { gpu: options.gpu } : {});
  if ("reason" in found) return { name: "wasm", reason: found.reason };
  return { name: "webgpu", reason: "a WebGPU adapter is available" };
}

function logChoice(backend: BackendChoice): void {
  console.info(`qwen2-ts: backend "auto" chose ${backend.name}: ${backend.reason}`);
}

/** Where auto's WebGPU choice falls back to wasm, and why it is told. */
function autoFallback(reason: string): BackendChoice {
  return { name: "wasm", reason: `WebGPU cannot hold this model (${reason}); using wasm` };
}

/** Weights whose dtype the WebGPU kernels do not read, as "name (dtype)", at most three. */
function unsupportedOnWebGPU(weights: WeightSource): string[] {
  const bad: string[] = [];
  for (const name of weights.names()) {
    const dtype = weights.info(name).dtype;
    if (!(WEBGPU_DTYPES as readonly string[]).includes(dtype) && /\.weight$/.test(name)) bad.push(`${name} (${dtype})`);
  }
  return bad.slice(0, 3);
}

type SourceParts = { config: Qwen2Config; weights: WeightSource; generationConfig: GenerationConfig | null; warnings: readonly string[] };

/**
 * config + weights (from any format) → the class `architecture` on the chosen backend. When
 * "auto" chose WebGPU but the weights have a dtype it lacks, or a buffer limit refuses them,
 * the model loads on wasm instead (the reason logged and kept in `backendReason`).
 */
async function buildModel(
  source: SourceParts,
  architecture: Qwen2Architecture,
  location: string,
  chosen: BackendChoice,
  options: LoadOptions,
): Promise<BuiltModel> {
  let backend = chosen;
  if (backend.reason !== null && backend.name === "webgpu") {
    const bad = unsupportedOnWebGPU(source.weights);
    if (bad.length > 0) backend = autoFallback(`no WebGPU kernel for ${bad.join(", ")}`);
  }
  if (backend.reason !== null && backend.name === "webgpu") {
    try {
      const built = await buildOn(source, architecture, backend, options, false);
      logChoice(backend);
      return built;
    } catch (err) {
      if (!(err instanceof UnsupportedError)) {
        source.weights.close();
        throw err;
      }
      backend = autoFallback(err.message);
    }
  }
  if (backend.reason !== null) {
    logChoice(backend);
    try {
      checkFits(location, weightBytes(source.weights), backend, options);
    } catch (err) {
      source.weights.close();
      throw err;
    }
  }
  return buildOn(source, architecture, backend, options, true);
}

/** Builds on one backend; `closeOnError`: close the weight files when it fails (not while auto may still retry). */
async function buildOn(
  source: SourceParts,
  architecture: Qwen2Architecture,
  backend: BackendChoice,
  options: LoadOptions,
  closeOnError: boolean,
): Promise<BuiltModel> {
  let compute: Backend | null = null;
  const merged: PeftAdapter[] = [];
  const warnings = [...source.warnings];
  try {
    const specs = (options.mergeAdapters ?? []).map(mergeSpec);
    for (const spec of specs) {
      merged.push(
        await openAdapter(spec.source, source.config, {
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          onWarning: (w) => warnings.push(w),
        }),
      );
    }
    const weights =
      merged.length === 0
        ? source.weights
        : mergeLoraWeights(
            source.weights,
            merged.map((adapter, i) => ({ adapter, scale: specs[i]!.scale })),
          );
    const bytes = weightBytes(weights);
    compute = await createBackend(backend, options, bytes);
    options.onProgress?.({ phase: "weights", loaded: 0, total: bytes });
    const model = await CONSTRUCT[architecture]({ config: source.config, weights }, compute, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress
        ? { onTensor: (loaded: number, total: number) => options.onProgress?.({ phase: "weights", loaded, total }) }
        : {}),
    });
    for (const a of merged) a.close();
    const owned = compute;
    return {
      model,
      architecture,
      config: source.config,
      generationConfig: source.generationConfig,
      warnings,
      engine: owned.name,
      backend,
      // The backend goes last: it may own worker threads the model's buffers live in.
      release: () => {
        source.weights.close();
        owned.dispose();
      },
    };
  } catch (err) {
    if (closeOnError) source.weights.close();
    for (const a of merged) a.close();
    compute?.dispose();
    throw err;
  }
}

async function loadFolder(
  given: ModelFiles,
  backend: BackendChoice,
  options: LoadOptions,
  want: ArchitectureChoice,
): Promise<LoadedModel<Qwen2TaskModel>> {
  const { files, opened } = trackOpens(given, (all) =>
    checkFits(
      given.location,
      all.reduce((n, f) => n + f.size, 0),
      backend,
      options,
      true,
    ),
  );
  const named = configArchitecture(await loadQwen2Config(files));
  if (want === "Qwen2ForCausalLM" && HEAD_CLASSES.has(named)) {
    throw new UnsupportedError(
      `${files.location}: config.json architectures names ${named}, a task head without an LM head: load it with AutoModel.fromPretrained or ${named}.fromPretrained`,
    );
  }
  const folder = await loadModelFolder(files, options.signal, { architecture: want === "auto" ? named : want });
  try {
    checkFits(files.location, weightBytes(folder.weights), backend, options);
    await downloadAll(opened, options.signal);
  } catch (err) {
    folder.weights.close();
    throw err;
  }
  const built = await buildModel(
    {
      config: folder.config,
      weights: folder.weights,
      generationConfig: Object.keys(folder.generationConfig).length > 0 ? folder.generationConfig : null,
      warnings: folder.warnings,
    },
    folder.architecture,
    files.location,
    backend,
    options,
  );
  options.onProgress?.({ phase: "tokenizer" });
  let tokenizer: TextTokenizer;
  try {
    tokenizer = await tokenizerOf(files);
  } catch (err) {
    built.model.dispose();
    built.release();
    throw err;
  }
  options.onProgress?.({ phase: "ready" });
  return assemble(files.location, "hf-folder", built, tokenizer);
}

/**
 * The folder's own tokenizer (tokenizer.json or vocab.json + merges.txt), else the Qwen2.5
 * tokenizer embedded in the package.
 */
async function tokenizerOf(files: ModelFiles): Promise<TextTokenizer> {
  // One read of the folder (tokenizer.json is ~7 MB over the network), null when it has none.
  const data = await readTokenizerFolder(files);
  return data === null ? Tokenizer.embedded() : Tokenizer.fromData(data);
}

/**
 * A .gguf file: config from `qwen2.*` metadata, weights under Hugging Face names, and the
 * tokenizer stored in the file (else the embedded Qwen2.5 one).
 */
async function loadGguf(
  file: ByteSource,
  backend: BackendChoice,
  options: LoadOptions,
  want: ArchitectureChoice,
): Promise<LoadedModel<Qwen2TaskModel>> {
  try {
    if (want !== "auto" && want !== "Qwen2ForCausalLM" && want !== "Qwen2Model")
      throw new UnsupportedError(
        `${file.name}: a GGUF file holds a causal LM; ${want} loads from a Hugging Face folder (config.json + safetensors)`,
      );
    checkFits(file.name, file.size, backend, options, true);
  } catch (err) {
    file.close();
    throw err;
  }
  const g = await openGGUF(file, options.signal);
  let tokenizer: TextTokenizer;
  try {
    checkFits(g.path, weightBytes(g.weights), backend, options);
    if (isDownloadable(file)) await file.download(options.signal);
    options.onProgress?.({ phase: "tokenizer" });
    tokenizer = g.tokenizerData ? tokenizerFromGguf(g.tokenizerData) : await Tokenizer.embedded();
  } catch (err) {
    g.close();
    throw err;
  }
  const gc = g.generationConfig;
  // The weight source closes the file; buildModel closes it on failure too.
  const built = await buildModel(
    { config: g.config, weights: g.weights, generationConfig: Object.keys(gc).length > 0 ? gc : null, warnings: [] },
    want === "Qwen2Model" ? "Qwen2Model" : "Qwen2ForCausalLM",
    g.path,
    backend,
    options,
  );
  options.onProgress?.({ phase: "ready" });
  return assemble(g.path, "gguf", built, tokenizer);
}

function tokenizerFromGguf(t: GGUFTokenizerData): TextTokenizer {
  if (t.model !== "gpt2")
    throw new UnsupportedError(`GGUF tokenizer model '${t.model}' is not supported (qwen2-ts reads byte-level BPE, 'gpt2')`);
  return Tokenizer.fromVocabAndMerges({
    vocab: t.tokens,
    merges: t.merges,
    addedTokens: t.addedTokens.map((a) => ({
      id: a.id,
      content: a.content,
      special: a.special,
      lstrip: a.lstrip,
      rstrip: a.rstrip,
      normalized: a.normalized,
      singleWord: a.single_word,
    })),
    eosToken: t.eosToken,
    padToken: t.padToken,
    bosToken: t.bosToken,
    chatTemplate: t.chatTemplate,
  });
}

function assemble(path: string, format: LoadedModel["format"], built: BuiltModel, tokenizer: TextTokenizer): LoadedModel<Qwen2TaskModel> {
  let closed = false;
  return {
    model: built.model,
    architecture: built.architecture,
    tokenizer,
    config: built.config,
    generationConfig: built.generationConfig,
    eosIds: collectEosIds({ generationConfig: built.generationConfig, config: built.config, tokenizer }),
    path,
    format,
    backend: built.backend.name,
    ...(built.backend.reason !== null ? { backendReason: built.backend.reason } : {}),
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
