/**
 * ggml's own block (de)quantisers, called through koffi from the libggml-base shared library
 * that node-llama-cpp ships: the bit-exact oracle for src/tensor/quant/. Opt-in like every
 * peer (bench/peers.ts); `ggmlSkipReason()` says in one line why it is unavailable.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { llamaCppLibDir, peerSkipReason, requirePeer } from "./peers.js";

/** ggml's type names as its function names spell them (`dequantize_row_q4_K`). */
export type GgmlTypeName = "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q8_0" | "q2_K" | "q3_K" | "q4_K" | "q5_K" | "q6_K" | "q8_K" | "iq4_nl";

interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
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

/** One line saying why the ggml oracle cannot be used here, or undefined when it can. */
export function ggmlSkipReason(): string | undefined {
  const missing = peerSkipReason("koffi") ?? peerSkipReason("node-llama-cpp");
  if (missing) return missing;
  return libggmlBase() === null
    ? `no libggml-base for ${process.platform}-${process.arch} in node-llama-cpp's prebuilt binaries`
    : undefined;
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
