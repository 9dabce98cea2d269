/**
 * ggml's own block (de)quantisers, called through koffi from the libggml-base shared library
 * that node-llama-cpp ships: the bit-exact oracle for src/tensor/quant/. Opt-in like every
 * peer (bench/peers.ts); `ggmlSkipReason()` says in one line why it is unavailable.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { llamaCppLibDir, peerSkipReason, requirePeer, skipReasonUnlessRequired } from "./peers.js";

/** ggml's type names as its function names spell them (`dequantize_row_q4_K`). */
export type GgmlTypeName = "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q8_0" | "q2_K" | "q3_K" | "q4_K" | "q5_K" | "q6_K" | "q8_K" | "iq4_nl";

interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  struct(name: string, fields: Record<string, string>): unknown;
}

export interface Ggml {
  /** ggml's `dequantize_row_<type>` over `n` values. */
  dequantizeRow(type: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array;
  /** ggml's `quantize_row_<type>_ref` of `x`, into `bytes` bytes (pre-zeroed). */
  quantizeRowRef(type: GgmlTypeName, x: Float32Array, bytes: number): Uint8Array;
  /** ggml's `quantize_<type>(src, dst, nrow, n_per_row, imatrix = NULL)`: what llama-quantize calls per tensor. */
  quantizeChunk(type: GgmlTypeName, x: Float32Array, rows: number, bytes: number): Uint8Array;
}

function libggmlBase(): string | null {
  const dir = llamaCppLibDir();
  if (dir === null) return null;
  const path = join(dir, process.platform === "darwin" ? "libggml-base.dylib" : "libggml-base.so");
  return existsSync(path) ? path : null;
}

/** libllama: its file name carries node-llama-cpp's release (libllama.v0.4.0.so). */
function libllama(): string | null {
  const dir = llamaCppLibDir();
  if (dir === null) return null;
  const name = readdirSync(dir).find((f) => /^libllama(\.v[\d.]+)?\.(so|dylib)$/.test(f));
  return name === undefined ? null : join(dir, name);
}

/** One line saying why the ggml oracle cannot be used here, or undefined when it can. */
export function ggmlSkipReason(): string | undefined {
  const missing = peerSkipReason("koffi") ?? peerSkipReason("node-llama-cpp");
  if (missing) return missing;
  return skipReasonUnlessRequired(
    libggmlBase() === null ? `no libggml-base for ${process.platform}-${process.arch} in node-llama-cpp's prebuilt binaries` : undefined,
  );
}

let loaded: Ggml | null = null;

/** Loads libggml-base (once). Throws with the skip reason when it is unavailable. */
export function loadGgml(): Ggml {
  if (loaded) return loaded;
  const reason = ggmlSkipReason();
  if (reason) throw new Error(reason);
  const koffi = requirePeer<Koffi>("koffi");
  const lib = koffi.load(libggmlBase()!);
  const cache = new Map<string, (...args: unknown[]) => unknown>();
  const fn = (signature: string): ((...args: unknown[]) => unknown) => {
    let f = cache.get(signature);
    if (!f) {
      f = lib.func(signature);
      cache.set(signature, f);
    }
    return f;
  };
  loaded = {
    dequantizeRow(type, bytes, n) {
      const out = new Float32Array(n);
      fn(`void dequantize_row_${type}(const uint8_t *x, _Out_ float *y, int64_t k)`)(bytes, out, n);
      return out;
    },
    quantizeRowRef(type, x, bytes) {
      const out = new Uint8Array(bytes);
      fn(`void quantize_row_${type}_ref(const float *x, _Inout_ uint8_t *y, int64_t k)`)(x, out, x.length);
      return out;
    },
    quantizeChunk(type, x, rows, bytes) {
      const out = new Uint8Array(bytes);
      fn(`size_t quantize_${type}(const float *src, _Inout_ uint8_t *dst, int64_t nrow, int64_t n_per_row, const float *imatrix)`)(
        x,
        out,
        rows,
        x.length / rows,
        null,
      );
      return out;
    },
  };
  return loaded;
}

let quantizeFn: ((input: string, output: string, ftype: number) => number) | null = null;

/**
 * llama.cpp's `llama_model_quantize(input, output, params)` in this process, with its default
 * parameters (no importance matrix, one thread) and `ftype`, a `general.file_type` value
 * (15 = Q4_K_M). Returns llama.cpp's status (0 on success). It logs every tensor to stderr:
 * tests call `llamaQuantizeFiles` instead, which runs it in a quiet child process.
 */
export function llamaModelQuantize(input: string, output: string, ftype: number): number {
  if (quantizeFn === null) {
    const reason = ggmlSkipReason();
    if (reason) throw new Error(reason);
    const path = libllama();
    if (path === null) throw new Error(`no libllama in ${llamaCppLibDir()}`);
    const koffi = requirePeer<Koffi>("koffi");
    // llama.h's llama_model_quantize_params of the bundled release (field order matters).
    koffi.struct("llama_model_quantize_params", {
      nthread: "int32_t",
      ftype: "int32_t",
      output_tensor_type: "int32_t",
      token_embedding_type: "int32_t",
      allow_requantize: "bool",
      quantize_output_tensor: "bool",
      only_copy: "bool",
      pure: "bool",
      keep_split: "bool",
      dry_run: "bool",
      imatrix: "void *",
      kv_overrides: "void *",
      tt_overrides: "void *",
      prune_layers: "void *",
      max_buf_size: "size_t",
    });
    const lib = koffi.load(path);
    const defaults = lib.func("llama_model_quantize_params llama_model_quantize_default_params()");
    const quantize = lib.func("uint32_t llama_model_quantize(const char *inp, const char *out, const llama_model_quantize_params *p)");
    quantizeFn = (i, o, ftype) => quantize(i, o, { ...(defaults() as object), ftype, nthread: 1 }) as number;
  }
  return quantizeFn(input, output, ftype);
}

/** One llama-quantize run: input GGUF, output GGUF, llama_ftype. */
export interface LlamaQuantizeJob {
  readonly input: string;
  readonly output: string;
  readonly ftype: number;
}

/**
 * Runs `llamaModelQuantize` for each job in one child process whose log is kept only to
 * explain a failure. Resolves when every file is written; rejects naming the failed job.
 */
export async function llamaQuantizeFiles(jobs: readonly LlamaQuantizeJob[]): Promise<void> {
  const child = fileURLToPath(new URL("./llama_quantize_child.js", import.meta.url));
  const { spawn } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, [child, JSON.stringify(jobs)], { stdio: ["ignore", "pipe", "pipe"] });
    const log: Buffer[] = [];
    p.stdout.on("data", (b: Buffer) => log.push(b));
    p.stderr.on("data", (b: Buffer) => log.push(b));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(new Error(`llama-quantize child exited with ${code}:\n${Buffer.concat(log).toString().split("\n").slice(-15).join("\n")}`));
    });
  });
}

/** ggml-cpu's activation quantisers and block dot products (the x86 AVX2 build, libggml-cpu-haswell). */
export interface GgmlCpu {
  /** ggml-cpu's `quantize_row_<type>` (the SIMD one llama.cpp runs, not the _ref). */
  quantizeRow(type: "q8_0" | "q8_1" | "q8_K", x: Float32Array, bytes: number): Uint8Array;
  /** ggml-cpu's `ggml_vec_dot_<w>_<act>` of one weight row with one quantised activation row of `n` values. */
  vecDot(weight: GgmlTypeName, act: "q8_0" | "q8_1" | "q8_K", n: number, w: Uint8Array, y: Uint8Array): number;
}

function libggmlCpuAvx2(): string | null {
  const dir = llamaCppLibDir();
  if (dir === null || process.platform !== "linux" || process.arch !== "x64") return null;
  const path = join(dir, "libggml-cpu-haswell.so");
  return existsSync(path) ? path : null;
}

/** One line saying why ggml-cpu's AVX2 kernels cannot be called here, or undefined when they can. */
export function ggmlCpuSkipReason(): string | undefined {
  const base = ggmlSkipReason();
  if (base) return base;
  return skipReasonUnlessRequired(
    libggmlCpuAvx2() === null ? "no libggml-cpu-haswell.so (x86-64 Linux AVX2 build) in node-llama-cpp's binaries" : undefined,
  );
}

let loadedCpu: GgmlCpu | null = null;

/** Loads libggml-cpu-haswell (once). Throws with the skip reason when it is unavailable. */
export function loadGgmlCpu(): GgmlCpu {
  if (loadedCpu) return loadedCpu;
  const reason = ggmlCpuSkipReason();
  if (reason) throw new Error(reason);
  loadGgml(); // libggml-base first: libggml-cpu links against it
  const koffi = requirePeer<Koffi>("koffi");
  const lib = koffi.load(libggmlCpuAvx2()!);
  const cache = new Map<string, (...args: unknown[]) => unknown>();
  const fn = (signature: string): ((...args: unknown[]) => unknown) => {
    let f = cache.get(signature);
    if (!f) {
      f = lib.func(signature);
      cache.set(signature, f);
    }
    return f;
  };
  // Fills ggml-cpu's f16 conversion tables, which the dot products read their scales through.
  fn("void ggml_cpu_init(void)")();
  loadedCpu = {
    quantizeRow(type, x, bytes) {
      const out = new Uint8Array(bytes);
      fn(`void quantize_row_${type}(const float *x, _Inout_ uint8_t *y, int64_t k)`)(x, out, x.length);
      return out;
    },
    vecDot(weight, act, n, w, y) {
      const s = new Float32Array(1);
      fn(
        `void ggml_vec_dot_${weight}_${act}(int n, _Inout_ float *s, size_t bs, const uint8_t *vx, size_t bx, const uint8_t *vy, size_t by, int nrc)`,
      )(n, s, 0, w, 0, y, 0, 1);
      return s[0]!;
    },
  };
  return loadedCpu;
}
