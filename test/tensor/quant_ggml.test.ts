/**
 * Our block formats against ggml's own C code (libggml-base from node-llama-cpp, called
 * through koffi; bench/ggml.ts): dequantisation bit for bit on random blocks, and
 * quantisation byte for byte with `quantize_row_<type>_ref`, on inputs chosen to reach the
 * corners (all-zero blocks, one outlier, constant blocks, subnormal scales, extreme
 * magnitudes, values on rounding ties). Skipped with one line when the peer is absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type GgmlTypeName, ggmlSkipReason, loadGgml } from "../../bench/ggml.js";
import { QUANT_DTYPES, QUANT_LAYOUT, type QuantDType } from "../../src/tensor/dtype.js";
import { canQuantize, dequantize, quantize } from "../../src/tensor/quant/index.js";
import { quantizeQ8_K } from "../../src/tensor/quant/q8_k.js";
import { quantizeIQ4_NL } from "../../src/tensor/quant/iq4_nl.js";

const skip = ggmlSkipReason() ?? false;

const GGML_NAME: Record<QuantDType, GgmlTypeName> = {
  q8_0: "q8_0",
  q4_0: "q4_0",
  q4_1: "q4_1",
  q5_0: "q5_0",
  q5_1: "q5_1",
  iq4_nl: "iq4_nl",
  q2_k: "q2_K",
  q3_k: "q3_K",
  q4_k: "q4_K",
  q5_k: "q5_K",
  q6_k: "q6_K",
  q8_k: "q8_K",
};

/** Byte offsets of each block's f16 scale fields (q8_k's f32 scale is handled apart). */
const F16_FIELDS: Record<QuantDType, number[]> = {
  q8_0: [0],
  q4_0: [0],
  q4_1: [0, 2],
  q5_0: [0],
  q5_1: [0, 2],
  iq4_nl: [0],
  q2_k: [80, 82],
  q3_k: [108],
  q4_k: [0, 2],
  q5_k: [0, 2],
  q6_k: [208],
  q8_k: [],
};

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s ^= s >>> 12;
    return (s >>> 0) / 2 ** 32;
  };
}

/** A finite f16 of every kind in turn: normal, subnormal, zero, largest, negative. */
function f16Scale(r: () => number, kind: number): number {
  switch (kind % 6) {
    case 0:
      return 0; // +0
    case 1:
      return 1 + Math.floor(r() * 0x3ff); // subnormal
    case 2:
      return 0x7bff; // 65504, the largest finite
    case 3:
      return 0x8000 | Math.floor(r() * 0x7c00); // negative, any finite
    default:
      return 0x1c00 + Math.floor(r() * 0x3000); // ordinary magnitudes
  }
}

/** Random blocks with their scale fields set to finite f16 values of every kind; block 0 is all zero. */
function randomBlocks(dtype: QuantDType, blocks: number, seed: number): Uint8Array {
  const { blockBytes } = QUANT_LAYOUT[dtype];
  const r = rng(seed);
  const bytes = new Uint8Array(blocks * blockBytes);
  const view = new DataView(bytes.buffer);
  for (let b = 1; b < blocks; b++) {
    const o = b * blockBytes;
    for (let i = 0; i < blockBytes; i++) bytes[o + i] = Math.floor(r() * 256);
    F16_FIELDS[dtype].forEach((at, k) => view.setUint16(o + at, f16Scale(r, b + k), true));
    if (dtype === "q8_k") view.setFloat32(o, [0, 1e-40, 3e38, -0.125, (r() - 0.5) * 1e-3][b % 5]!, true);
  }
  return bytes;
}

function sameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  assert.equal(a.length, e.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i])
      assert.fail(`${what}: value ${i}: ours ${actual[i]} (0x${a[i]!.toString(16)}), ggml ${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}

for (const dtype of QUANT_DTYPES) {
  test(`${dtype}: dequantisation equals ggml's dequantize_row_${GGML_NAME[dtype]} bit for bit`, { skip }, () => {
    const ggml = loadGgml();
    const blocks = 48;
    const n = blocks * QUANT_LAYOUT[dtype].blockSize;
    const bytes = randomBlocks(dtype, blocks, 1234 + dtype.length);
    sameBits(dequantize(dtype, bytes, n), ggml.dequantizeRow(GGML_NAME[dtype], bytes, n), dtype);
  });
}

/** Inputs that reach the corners of the quantisers, one kind per block of `size` values. */
function awkwardValues(blockSize: number, blocks: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(blockSize * blocks);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  for (let b = 0; b < blocks; b++) {
    const o = b * blockSize;
    const kind = b % 12;
    const scale = 10 ** (Math.floor(r() * 9) - 5);
    for (let i = 0; i < blockSize; i++) {
      let v: number;
      switch (kind) {
        case 0:
          v = 0;
          break; // all zero
        case 1:
          v = i === 7 ? 50 * scale : gauss() * scale * 0.01;
          break; // one outlier
        case 2:
          v = 0.3 * scale;
          break; // constant
        case 3:
          v = gauss() * 1e-41;
          break; // subnormal floats
        case 4:
          v = Math.round(gauss() * 8) / 2;
          break; // halves: rounding ties
        case 5:
          v = Math.abs(gauss()) * scale;
          break; // all positive
        case 6:
          v = -Math.abs(gauss()) * scale;
          break; // all negative
        case 7:
          v = gauss() * 3e4;
          break; // large (beyond f16 range after scaling)
        case 8:
          v = i % 16 === 0 ? gauss() : 0;
          break; // sparse: most sub-blocks zero
        case 9:
          v = (r() - 0.5) * scale;
          break; // uniform
        default:
          v = gauss() * 0.02;
          break; // weight-like
      }
      x[o + i] = v;
    }
  }
  return x;
}

const WRITTEN = QUANT_DTYPES.filter((d) => canQuantize(d) && d !== "q8_k" && d !== "iq4_nl");

for (const dtype of WRITTEN) {
  test(`${dtype}: quantisation equals ggml's quantize_row_${GGML_NAME[dtype]}_ref byte for byte`, { skip }, () => {
    if (!canQuantize(dtype)) return;
    const ggml = loadGgml();
    const { blockSize, blockBytes } = QUANT_LAYOUT[dtype];
    const blocks = blockSize === 32 ? 480 : 96;
    const x = awkwardValues(blockSize, blocks, 99 + blockSize);
    const ours = quantize(dtype, x);
    const theirs = ggml.quantizeRowRef(GGML_NAME[dtype], x, blocks * blockBytes);
    for (let b = 0; b < blocks; b++) {
      const a = ours.subarray(b * blockBytes, (b + 1) * blockBytes);
      const e = theirs.subarray(b * blockBytes, (b + 1) * blockBytes);
      if (!a.every((v, i) => v === e[i])) {
        const at = a.findIndex((v, i) => v !== e[i]);
        assert.fail(`${dtype} block ${b} (input kind ${b % 12}): first differing byte ${at}: ours ${a[at]}, ggml ${e[at]}`);
      }
    }
  });
}

test("q8_k: activation quantisation equals ggml's quantize_row_q8_K_ref byte for byte", { skip }, () => {
  const ggml = loadGgml();
  const blocks = 48;
  const x = awkwardValues(256, blocks, 5);
  // ggml leaves an all-zero block's sums as they were; the buffer it writes into starts zeroed.
  assert.deepEqual(quantizeQ8_K(x), ggml.quantizeRowRef("q8_K", x, blocks * 292));
});

test("iq4_nl: quantisation equals ggml's quantize_iq4_nl (llama-quantize's, 7 tries) and quantize_row_iq4_nl_ref (no tries) byte for byte", {
  skip,
}, () => {
  const ggml = loadGgml();
  const blocks = 480;
  // Block 0 is not the all-zero kind: ggml's reference leaves an all-zero first block's levels uninitialised.
  const x = awkwardValues(32, blocks + 1, 77).subarray(32);
  assert.deepEqual(quantizeIQ4_NL(x), ggml.quantizeChunk("iq4_nl", x, 1, blocks * 18));
  assert.deepEqual(quantizeIQ4_NL(x, -1), ggml.quantizeRowRef("iq4_nl", x, blocks * 18));
});
