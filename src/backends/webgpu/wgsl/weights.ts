/**
 * WGSL that reads one weight value, `w_at(row, k)`, from a weight buffer in its storage
 * dtype. Every matrix kernel is written once over `w_at`, so F16/BF16 are widened and
 * Q8_0/Q4_0 dequantised in the shader and never expanded in memory.
 *
 * One kernel serves every dtype: the dtype is a uniform parameter and `w_at` switches on it
 * (the same branch for every thread, so it costs next to nothing on a GPU). Pipelines per
 * dtype would be the alternative; on SwiftShader each pipeline takes seconds to compile,
 * which made model load and the tests several times slower.
 *
 * Buffers hold the file's bytes unchanged (the GGUF block layout for Q8_0/Q4_0: an f16 scale
 * then the quants, 34 or 18 bytes per 32 weights), bound as `array<u32>`. Blocks are 2-byte
 * aligned, so a scale is always one half of a u32 word. `row` counts from the first row of
 * the buffer (a part of a split tensor).
 */
/** The storage dtypes the kernels read; other block types are refused at upload. */
export type WebGPUDType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0";

/** The dtype codes the kernels switch on. */
export const DTYPE_CODE: Readonly<Record<WebGPUDType, number>> = { f32: 0, f16: 1, bf16: 2, q8_0: 3, q4_0: 4 };

/** f16 bits → f32, exact for every pattern (subnormals included: some devices flush them in `unpack2x16float`). */
export const F16_TO_F32 = /* wgsl */ `
fn f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    let v = f32(m) * 5.9604644775390625e-8;
    return select(v, -v, sign != 0u);
  }
  if (e == 31u) {
    return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
`;

/**
 * Declares `w` at `binding` and `w_at(row, k)`; `cols` (values per row) and `dtype` (a
 * DTYPE_CODE) are WGSL expressions, usually uniform parameters.
 */
export function weightReader(binding: number, cols: string, dtype: string): string {
  return `@group(0) @binding(${binding}) var<storage, read> w: array<u32>;
${F16_TO_F32}
fn w_byte(o: u32) -> u32 {
  return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu;
}
fn w_half(o: u32) -> u32 {
  return (w[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu;
}
fn w_at(row: u32, k: u32) -> f32 {
  let cols = ${cols};
  switch (${dtype}) {
    case 0u: {
      return bitcast<f32>(w[row * cols + k]);
    }
    case 1u: {
      let i = row * cols + k;
      return f16_to_f32((w[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu);
    }
    case 2u: {
      let i = row * cols + k;
      return bitcast<f32>(((w[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu) << 16u);
    }
    case 3u: {
      let base = row * (cols / 32u) * 34u + (k >> 5u) * 34u;
      let q = bitcast<i32>(w_byte(base + 2u + (k & 31u)) << 24u) >> 24u;
      return f32(q) * f16_to_f32(w_half(base));
    }
    default: {
      let base = row * (cols / 32u) * 18u + (k >> 5u) * 18u;
      let j = k & 31u;
      let b = w_byte(base + 2u + (j & 15u));
      let q = select(b & 0xfu, b >> 4u, j >= 16u);
      return (f32(q) - 8.0) * f16_to_f32(w_half(base));
    }
  }
}
`;
}
