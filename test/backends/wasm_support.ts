/**
 * Helpers for the WebAssembly backend tests: deterministic random data, host tensors in
 * every storage type (GGUF block layout for Q8_0/Q4_0), and float64 reference arithmetic.
 */
import { f16ToF32, f32ToBf16, f32ToF16, bf16ToF32 } from "../../src/tensor/convert.js";
import type { HostTensor } from "../../src/formats/weights.js";
import type { WeightDType } from "../../src/tensor/dtype.js";
import { GgmlActivationRow } from "../../src/tensor/quant/ggml_activations.js";

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32: fast and good enough for test data.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

export function randomFloats(count: number, rand: () => number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/** A host tensor of `values` stored as `dtype`, and the values it really holds (after rounding/quantisation). */
export function makeTensor(
  name: string,
  dtype: WeightDType,
  shape: number[],
  values: Float32Array,
): { tensor: HostTensor; exact: Float64Array } {
  const n = values.length;
  const exact = new Float64Array(n);
  let data: Uint8Array;
  if (dtype === "f32") {
    data = new Uint8Array(values.slice().buffer);
    exact.set(values);
  } else if (dtype === "bf16" || dtype === "f16") {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      h[i] = dtype === "bf16" ? f32ToBf16(values[i]!) : f32ToF16(values[i]!);
      exact[i] = dtype === "bf16" ? bf16ToF32(h[i]!) : f16ToF32(h[i]!);
    }
    data = new Uint8Array(h.buffer);
  } else {
    const blocks = n / 32;
    const bb = dtype === "q8_0" ? 34 : 18;
    data = new Uint8Array(blocks * bb);
    for (let b = 0; b < blocks; b++) {
      const src = values.subarray(b * 32, b * 32 + 32);
      let amax = 0;
      let signed = 0;
      for (const v of src) {
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          signed = v;
        }
      }
      // GGUF definitions: q8_0 d = amax / 127; q4_0 d = max / -8 (signed extreme).
      const d = dtype === "q8_0" ? amax / 127 : signed / -8;
      const dh = f32ToF16(d);
      const dq = f16ToF32(dh);
      data[b * bb] = dh & 0xff;
      data[b * bb + 1] = dh >> 8;
      const id = d !== 0 ? 1 / d : 0;
      for (let j = 0; j < 32; j++) {
        if (dtype === "q8_0") {
          const q = Math.max(-127, Math.min(127, Math.round(src[j]! * id)));
          data[b * bb + 2 + j] = q & 0xff;
          exact[b * 32 + j] = q * dq;
        } else {
          const q = Math.max(0, Math.min(15, Math.floor(src[j]! * id + 8.5)));
          const byte = b * bb + 2 + (j & 15);
          data[byte] = data[byte]! | (j < 16 ? q : q << 4);
          exact[b * 32 + j] = (q - 8) * dq;
        }
      }
    }
  }
  return { tensor: { name, dtype, shape, data }, exact };
}

/**
 * The activations the integer kernels see: x quantised per 32-block as ggml-cpu does (Q8_0:
 * d = max|x| / 127 stored as f16, q = x · 127 / max|x| to nearest even), as q · d.
 */
export function quantizeActivations(x: Float32Array): Float64Array {
  return new GgmlActivationRow("q8_0", x).values;
}

/** out[i, o] = sum_k x[i, k] w[o, k] + bias[o], in float64. */
export function refMatmul(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  n: number,
  K: number,
  N: number,
): Float64Array {
  const out = new Float64Array(n * N);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < N; o++) {
      let s = bias ? bias[o]! : 0;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * w[o * K + k]!;
      out[i * N + o] = s;
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
