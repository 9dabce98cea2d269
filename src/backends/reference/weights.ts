/**
 * Weights as the reference backend keeps them: the storage bytes unchanged (f32, f16,
 * bf16, or any ggml block type), decoded to float32 one row at a time when an op needs them. Keeping
 * the storage dtype means a bf16 model takes the memory it takes on disk, and decoding a
 * row at a time keeps every op a plain loop over float32 values.
 */
import { InvalidArgumentError } from "../../errors.js";
import type { HostTensor } from "../../formats/weights.js";
import type { Weight } from "../ops.js";
import { byteSize, isWeightDType, QUANT_BLOCK, QUANT_DTYPES, type WeightDType } from "../../tensor/dtype.js";
import { f16ToF32 } from "../../tensor/convert.js";
import { type Dequantizer, dequantizer } from "../../tensor/quant/index.js";

const WEIGHT_DTYPES: readonly string[] = ["f32", "f16", "bf16", ...QUANT_DTYPES.filter((d) => isWeightDType(d))];

/** f16 bits → float32 for all 65536 patterns: one table lookup per weight instead of a branchy decode. */
let f16Table: Float32Array | null = null;
function halfTable(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

export class RefWeight implements Weight {
  readonly dtype: WeightDType;
  readonly shape: readonly number[];
  /** Values per row (the last dimension; the whole length for a vector). */
  readonly cols: number;
  /** Rows (1 for a vector). */
  readonly rows: number;
  /** Storage bytes, aligned copies so typed views work. */
  private readonly bytes: Uint8Array;
  private readonly f32: Float32Array | null;
  private readonly u16: Uint16Array | null;
  private readonly rowBytes: number;
  private bitsOf: Float32Array | null = null;
  private bits: Uint32Array | null = null;
  freed = false;

  constructor(tensor: HostTensor) {
    const { name, dtype, shape } = tensor;
    if (!WEIGHT_DTYPES.includes(dtype)) {
      throw new InvalidArgumentError(`weight ${name}: dtype ${dtype} cannot be uploaded (expected one of ${WEIGHT_DTYPES.join(", ")})`);
    }
    if (shape.length !== 1 && shape.length !== 2) {
      throw new InvalidArgumentError(`weight ${name}: expected a 1-D or 2-D tensor, got shape [${shape.join(", ")}]`);
    }
    this.dtype = dtype as WeightDType;
    this.shape = [...shape];
    this.cols = shape[shape.length - 1]!;
    this.rows = shape.length === 2 ? shape[0]! : 1;
    let expected: number;
    try {
      expected = byteSize(this.dtype, shape);
    } catch (err) {
      throw new InvalidArgumentError(`weight ${name}: ${(err as Error).message}`);
    }
    if (tensor.data.byteLength !== expected) {
      throw new InvalidArgumentError(
        `weight ${name}: ${dtype} [${shape.join(", ")}] needs ${expected} bytes, got ${tensor.data.byteLength}`,
      );
    }
    // A private aligned copy: the source may be a view into a file buffer that is reused.
    this.bytes = tensor.data.slice();
    this.rowBytes = expected / this.rows;
    this.f32 = this.dtype === "f32" ? new Float32Array(this.bytes.buffer, 0, this.rows * this.cols) : null;
    this.u16 = this.dtype === "f16" || this.dtype === "bf16" ? new Uint16Array(this.bytes.buffer, 0, this.rows * this.cols) : null;
  }

  /** Decodes row `r` into out[0, cols). */
  decodeRow(r: number, out: Float32Array): void {
    const n = this.cols;
    const start = r * n;
    switch (this.dtype) {
      case "f32":
        out.set(this.f32!.subarray(start, start + n));
        return;
      case "bf16": {
        // bf16 is the top half of a float32: write the bits through an integer view of `out`
        // (kept between calls, since ops decode row after row into the same buffer).
        const src = this.u16!;
        if (this.bitsOf !== out) {
          this.bitsOf = out;
          this.bits = new Uint32Array(out.buffer, out.byteOffset, n);
        }
        const bits = this.bits!;
        for (let i = 0; i < n; i++) bits[i] = src[start + i]! << 16;
        return;
      }
      case "f16": {
        const src = this.u16!;
        const table = halfTable();
        for (let i = 0; i < n; i++) out[i] = table[src[start + i]!]!;
        return;
      }
      case "q8_0":
        this.decodeQ8Row(r, out);
        return;
      case "q4_0":
        this.decodeQ4Row(r, out);
        return;
      default: {
        // The other block types through their reference dequantisers, one row of blocks at a time.
        this.dequantize ??= dequantizer(this.dtype);
        const o = r * this.rowBytes;
        this.dequantize(this.bytes.subarray(o, o + this.rowBytes), n, out);
      }
    }
  }

  private dequantize: Dequantizer | null = null;

  /** The stored bytes of row `r` (a block-quantised row's blocks). */
  rowBytesOf(r: number): Uint8Array {
    return this.bytes.subarray(r * this.rowBytes, (r + 1) * this.rowBytes);
  }

  /** Q8_0 block: f16 scale d, then 32 int8 quants; x = q * d. */
  private decodeQ8Row(r: number, out: Float32Array): void {
    const table = halfTable();
    const b = this.bytes;
    let o = r * this.rowBytes;
    for (let base = 0; base < this.cols; base += QUANT_BLOCK) {
      const d = table[b[o]! | (b[o + 1]! << 8)]!;
      for (let j = 0; j < QUANT_BLOCK; j++) out[base + j] = ((b[o + 2 + j]! << 24) >> 24) * d;
      o += 34;
    }
  }

  /** Q4_0 block: f16 scale d, then 16 bytes; byte j holds weight j (low nibble) and j + 16 (high); x = (q - 8) * d. */
  private decodeQ4Row(r: number, out: Float32Array): void {
    const table = halfTable();
    const b = this.bytes;
    let o = r * this.rowBytes;
    for (let base = 0; base < this.cols; base += QUANT_BLOCK) {
      const d = table[b[o]! | (b[o + 1]! << 8)]!;
      for (let j = 0; j < 16; j++) {
        const byte = b[o + 2 + j]!;
        out[base + j] = ((byte & 0xf) - 8) * d;
        out[base + 16 + j] = ((byte >> 4) - 8) * d;
      }
      o += 18;
    }
  }

  private vector: Float32Array | null = null;

  /** A 1-D weight (norm scale, bias) as float32, decoded once and kept: ops read it every call. */
  asVector(): Float32Array {
    this.vector ??= this.toFloat32();
    return this.vector;
  }

  /** The whole tensor as float32. */
  toFloat32(): Float32Array {
    const out = new Float32Array(this.rows * this.cols);
    for (let r = 0; r < this.rows; r++) this.decodeRow(r, out.subarray(r * this.cols, (r + 1) * this.cols));
    return out;
  }
}
