/**
 * The reference backend: every op as the plainest possible float32 TypeScript loop,
 * accumulating in float64 (JavaScript numbers). It is the oracle every fast backend is
 * tested against, so it favours obvious correctness and argument checks over speed.
 */
import { InvalidArgumentError } from "../../errors.js";
import { checkCols, checkRowCount, ownHandle } from "../handles.js";
import { readWhole, type UploadSource } from "../../formats/weights.js";
import type { AttentionParams, AttentionSegment, Backend, KVBuffer, Mat, Weight } from "../ops.js";
import { isQuantized, type WeightQuantDType } from "../../tensor/dtype.js";
import { GgmlActivationRow } from "../../tensor/quant/ggml_activations.js";
import { f16ToF32, f32ToF16 } from "../../tensor/convert.js";
import { RefWeight } from "./weights.js";

export { RefWeight } from "./weights.js";

/** A float32 matrix [rows, cols], row-major. */
export class RefMat implements Mat {
  readonly data: Float32Array;
  freed = false;
  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {
    this.data = new Float32Array(rows * cols);
  }
}

/** One layer's K/V ring for one sequence: k and v are [kvHeads, capacity, headDim]. */
export class RefKV implements KVBuffer {
  readonly k: Float32Array;
  readonly v: Float32Array;
  freed = false;
  constructor(
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
  ) {
    this.k = new Float32Array(kvHeads * capacity * headDim);
    this.v = new Float32Array(kvHeads * capacity * headDim);
  }
}

function mat(x: Mat, what: string): RefMat {
  return ownHandle(x, RefMat, "matrix", "reference backend", what);
}

function weight(w: Weight, what: string): RefWeight {
  return ownHandle(w, RefWeight, "weight", "reference backend", what);
}

function kvBuf(x: KVBuffer, what: string): RefKV {
  return ownHandle(x, RefKV, "KV buffer", "reference backend", what);
}

/** Rows [row, row + rows) of m's data, checked (for read and readInto). */
function rowView(what: string, m: RefMat, row: number, rows: number): Float32Array {
  if (row < 0 || rows < 0 || row + rows > m.rows)
    throw new InvalidArgumentError(`${what}: rows [${row}, ${row + rows}) outside a matrix of ${m.rows} rows`);
  return m.data.subarray(row * m.cols, (row + rows) * m.cols);
}

export interface ReferenceBackendOptions {
  /**
   * How a product with block-quantised weights treats its activations. "float" (the default):
   * the float32 activations times the dequantised weights, the plain mathematical product.
   * "ggml": the activations first quantised as ggml-cpu quantises them for that weight type
   * (Q8_0, Q8_1 or Q8_K blocks, see tensor/quant/ggml_activations.ts), the exact emulation of
   * llama.cpp's integer dot products, which the wasm backend's kernels must match to float
   * rounding. Float weights multiply float activations either way.
   */
  activations?: "float" | "ggml";
  /**
   * How K/V are kept and attended. "f32" (the default): float32 cache, float64 attention
   * arithmetic. "f16": llama.cpp's default F16 cache without flash attention, emulated: K and V
   * are stored rounded to f16, and because ggml's mul_mat converts its float32 operand to an f16
   * operand's type, each query is rounded to f16 before K·Q and each softmax probability
   * before it weighs V. Softmax itself and the sums stay wide, as in ggml.
   */
  kvCache?: "f32" | "f16";
}

/** v rounded to the nearest f16 (ties to even), as a number. */
function roundF16(v: number): number {
  return f16ToF32(f32ToF16(v));
}

export class ReferenceBackend implements Backend {
  readonly name = "reference";
  private readonly ggmlActivations: boolean;
  private readonly f16Cache: boolean;

  constructor(options: ReferenceBackendOptions = {}) {
    const a = options.activations ?? "float";
    if (a !== "float" && a !== "ggml")
      throw new InvalidArgumentError(`ReferenceBackend: activations must be "float" or "ggml", got ${String(a)}`);
    const kv = options.kvCache ?? "f32";
    if (kv !== "f32" && kv !== "f16") throw new InvalidArgumentError(`ReferenceBackend: kvCache must be "f32" or "f16", got ${String(kv)}`);
    this.ggmlActivations = a === "ggml";
    this.f16Cache = kv === "f16";
  }

  async upload(tensor: UploadSource): Promise<Weight> {
    return new RefWeight(await readWhole(tensor));
  }

  alloc(rows: number, cols: number): Mat {
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
      throw new InvalidArgumentError(`alloc: bad shape [${rows}, ${cols}]`);
    }
    return new RefMat(rows, cols);
  }

  allocKV(kvHeads: number, capacity: number, headDim: number): KVBuffer {
    if (![kvHeads, capacity, headDim].every((v) => Number.isInteger(v) && v > 0)) {
      throw new InvalidArgumentError(`allocKV: bad shape [${kvHeads}, ${capacity}, ${headDim}]`);
    }
    return new RefKV(kvHeads, capacity, headDim);
  }

  free(x: Mat | KVBuffer | Weight): void {
    if (x instanceof RefMat || x instanceof RefKV || x instanceof RefWeight) x.freed = true;
  }

  write(dst: Mat, src: Float32Array, row = 0): void {
    const d = mat(dst, "write");
    if (src.length % d.cols !== 0)
      throw new InvalidArgumentError(`write: ${src.length} values is not a whole number of ${d.cols}-wide rows`);
    if (row < 0 || row * d.cols + src.length > d.data.length) {
      throw new InvalidArgumentError(`write: rows [${row}, ${row + src.length / d.cols}) outside a matrix of ${d.rows} rows`);
    }
    d.data.set(src, row * d.cols);
  }

  async read(src: Mat, row = 0, rows?: number): Promise<Float32Array> {
    const s = mat(src, "read");
    return rowView("read", s, row, rows ?? s.rows - row).slice();
  }

  async readInto(src: Mat, row: number, rows: number, dst: Float32Array, at = 0): Promise<void> {
    const view = rowView("readInto", mat(src, "readInto"), row, rows);
    if (at < 0 || at + view.length > dst.length)
      throw new InvalidArgumentError(`readInto: ${view.length} floats at ${at} do not fit a destination of ${dst.length}`);
    dst.set(view, at);
  }

  embed(out: Mat, table: Weight, ids: Int32Array): void {
    const o = mat(out, "embed");
    const t = weight(table, "embed");
    checkRowCount("embed", ids.length, o);
    checkCols("embed", o, t.cols, "out");
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= t.rows)
        throw new InvalidArgumentError(`embed: token id ${id} at position ${i} is outside the vocabulary [0, ${t.rows})`);
      t.decodeRow(id, o.data.subarray(i * o.cols, (i + 1) * o.cols));
    }
  }

  rmsnorm(out: Mat, x: Mat, w: Weight, eps: number, n: number): void {
    const o = mat(out, "rmsnorm");
    const xs = mat(x, "rmsnorm");
    const g = weight(w, "rmsnorm").asVector();
    const d = xs.cols;
    checkRowCount("rmsnorm", n, o, xs);
    checkCols("rmsnorm", o, d, "out");
    if (g.length !== d) throw new InvalidArgumentError(`rmsnorm: weight has ${g.length} values, rows have ${d}`);
    for (let i = 0; i < n; i++) {
      const row = xs.data.subarray(i * d, (i + 1) * d);
      let ss = 0;
      for (let k = 0; k < d; k++) ss += row[k]! * row[k]!;
      // Hugging Face: x * rsqrt(mean(x^2) + eps) in float32, then times the weight.
      const inv = Math.fround(1 / Math.sqrt(Math.fround(ss / d) + eps));
      const dst = o.data.subarray(i * d, (i + 1) * d);
      for (let k = 0; k < d; k++) dst[k] = g[k]! * Math.fround(row[k]! * inv);
    }
  }

  matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void {
    const o = mat(out, "matmul");
    const xs = mat(x, "matmul");
    const wt = weight(w, "matmul");
    if (wt.shape.length !== 2) throw new InvalidArgumentError(`matmul: weight must be 2-D, got [${wt.shape.join(", ")}]`);
    const outDim = wt.rows;
    const inDim = wt.cols;
    checkRowCount("matmul", n, o, xs);
    checkCols("matmul", xs, inDim, "x");
    checkCols("matmul", o, outDim, "out");
    if (o === xs) throw new InvalidArgumentError("matmul: out must not alias x");
    const b = bias === null ? null : weight(bias, "matmul bias").asVector();
    if (b !== null && b.length !== outDim) throw new InvalidArgumentError(`matmul: bias has ${b.length} values, expected ${outDim}`);
    const row = new Float32Array(inDim);
    const xd = xs.data;
    const od = o.data;
    if (this.ggmlActivations && isQuantized(wt.dtype)) {
      const dtype = wt.dtype as WeightQuantDType;
      const acts = Array.from({ length: n }, (_, i) => new GgmlActivationRow(dtype, xd.subarray(i * inDim, (i + 1) * inDim)));
      for (let r = 0; r < outDim; r++) {
        wt.decodeRow(r, row);
        const add = b === null ? 0 : b[r]!;
        const bytes = wt.rowBytesOf(r);
        for (let i = 0; i < n; i++) od[i * outDim + r] = acts[i]!.dot(row, bytes) + add;
      }
      return;
    }
    // One weight row decoded at a time, dotted with every input row.
    for (let r = 0; r < outDim; r++) {
      wt.decodeRow(r, row);
      const add = b === null ? 0 : b[r]!;
      for (let i = 0; i < n; i++) {
        od[i * outDim + r] = dot(xd, i * inDim, row, inDim) + add;
      }
    }
  }

  rope(x: Mat, n: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    const xs = mat(x, "rope");
    checkRowCount("rope", n, xs);
    checkCols("rope", xs, heads * headDim, "x");
    if (headDim % 2 !== 0) throw new InvalidArgumentError(`rope: head dimension ${headDim} is odd`);
    const h = headDim / 2;
    if (cos.length < n * h || sin.length < n * h)
      throw new InvalidArgumentError(`rope: cos/sin need ${n * h} values, got ${cos.length}/${sin.length}`);
    const d = xs.data;
    for (let i = 0; i < n; i++) {
      for (let hd = 0; hd < heads; hd++) {
        const base = i * xs.cols + hd * headDim;
        for (let j = 0; j < h; j++) {
          const c = cos[i * h + j]!;
          const s = sin[i * h + j]!;
          const a = d[base + j]!;
          const b = d[base + j + h]!;
          // Hugging Face: q * cos + rotate_half(q) * sin, each product rounded to float32.
          d[base + j] = Math.fround(a * c) - Math.fround(b * s);
          d[base + j + h] = Math.fround(b * c) + Math.fround(a * s);
        }
      }
    }
  }

  storeKV(kv: KVBuffer, k: Mat, v: Mat, row: number, count: number, slot: number): void {
    const c = kvBuf(kv, "storeKV");
    const ks = mat(k, "storeKV");
    const vs = mat(v, "storeKV");
    const width = c.kvHeads * c.headDim;
    checkCols("storeKV", ks, width, "k");
    checkCols("storeKV", vs, width, "v");
    checkRowCount("storeKV", row + count, ks, vs);
    if (!Number.isInteger(slot) || slot < 0) throw new InvalidArgumentError(`storeKV: slot must be a non-negative integer, got ${slot}`);
    if (count > c.capacity) throw new InvalidArgumentError(`storeKV: ${count} tokens do not fit a ring of ${c.capacity}`);
    for (let t = 0; t < count; t++) {
      const idx = (slot + t) % c.capacity;
      for (let g = 0; g < c.kvHeads; g++) {
        const src = (row + t) * width + g * c.headDim;
        const dst = (g * c.capacity + idx) * c.headDim;
        c.k.set(ks.data.subarray(src, src + c.headDim), dst);
        c.v.set(vs.data.subarray(src, src + c.headDim), dst);
        if (this.f16Cache) {
          for (let d = dst; d < dst + c.headDim; d++) {
            c.k[d] = roundF16(c.k[d]!);
            c.v[d] = roundF16(c.v[d]!);
          }
        }
      }
    }
  }

  attention(out: Mat, q: Mat, segments: readonly AttentionSegment[], p: AttentionParams): void {
    const o = mat(out, "attention");
    const qs = mat(q, "attention");
    const { heads, kvHeads, headDim, scale, window } = p;
    if (heads % kvHeads !== 0) throw new InvalidArgumentError(`attention: ${heads} heads is not a multiple of ${kvHeads} KV heads`);
    checkCols("attention", qs, heads * headDim, "q");
    checkCols("attention", o, heads * headDim, "out");
    if (window !== null && (!Number.isInteger(window) || window < 1))
      throw new InvalidArgumentError(`attention: window must be a positive integer or null, got ${window}`);
    const group = heads / kvHeads;
    const scores = new Float64Array(0 + maxKeys(segments, window));
    const acc = new Float64Array(headDim);
    const qh = new Float64Array(headDim);
    const f16 = this.f16Cache;
    for (const seg of segments) {
      const c = kvBuf(seg.kv, "attention");
      if (c.kvHeads !== kvHeads || c.headDim !== headDim) {
        throw new InvalidArgumentError(`attention: cache is [${c.kvHeads} heads, ${c.headDim}], params say [${kvHeads}, ${headDim}]`);
      }
      checkRowCount("attention", seg.row + seg.count, qs, o);
      const end = seg.past + seg.count; // slots written so far
      const oldestKept = end - c.capacity; // slots below this were overwritten in the ring
      for (let i = 0; i < seg.count; i++) {
        const s = seg.past + i;
        const first = window === null ? 0 : Math.max(0, s - window + 1);
        if (first < oldestKept) {
          throw new InvalidArgumentError(
            `attention: query at slot ${s} needs key slot ${first}, but a ring of ${c.capacity} holding ${end} tokens only keeps slots from ${oldestKept}`,
          );
        }
        const qRow = (seg.row + i) * qs.cols;
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / group);
          const qBase = qRow + h * headDim;
          const kvBase = g * c.capacity * headDim;
          for (let d = 0; d < headDim; d++) qh[d] = f16 ? roundF16(qs.data[qBase + d]!) : qs.data[qBase + d]!;
          let max = -Infinity;
          for (let j = first; j <= s; j++) {
            const kBase = kvBase + (j % c.capacity) * headDim;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += qh[d]! * c.k[kBase + d]!;
            const sc = dot * scale;
            scores[j - first] = sc;
            if (sc > max) max = sc;
          }
          let sum = 0;
          for (let j = first; j <= s; j++) {
            const e = Math.exp(scores[j - first]! - max);
            scores[j - first] = e;
            sum += e;
          }
          acc.fill(0);
          for (let j = first; j <= s; j++) {
            const pj = f16 ? roundF16(scores[j - first]! / sum) : scores[j - first]! / sum;
            const vBase = kvBase + (j % c.capacity) * headDim;
            for (let d = 0; d < headDim; d++) acc[d]! += pj * c.v[vBase + d]!;
          }
          const oBase = (seg.row + i) * o.cols + h * headDim;
          for (let d = 0; d < headDim; d++) o.data[oBase + d] = acc[d]!;
        }
      }
    }
  }

  swiglu(out: Mat, gate: Mat, up: Mat, n: number): void {
    const o = mat(out, "swiglu");
    const g = mat(gate, "swiglu");
    const u = mat(up, "swiglu");
    checkRowCount("swiglu", n, o, g, u);
    checkCols("swiglu", g, o.cols, "gate");
    checkCols("swiglu", u, o.cols, "up");
    const len = n * o.cols;
    for (let i = 0; i < len; i++) {
      const a = g.data[i]!;
      o.data[i] = Math.fround(a / (1 + Math.exp(-a))) * u.data[i]!;
    }
  }

  add(out: Mat, a: Mat, b: Mat, n: number): void {
    const o = mat(out, "add");
    const as = mat(a, "add");
    const bs = mat(b, "add");
    checkRowCount("add", n, o, as, bs);
    checkCols("add", as, o.cols, "a");
    checkCols("add", bs, o.cols, "b");
    const len = n * o.cols;
    for (let i = 0; i < len; i++) o.data[i] = as.data[i]! + bs.data[i]!;
  }

  copyRows(out: Mat, x: Mat, rows: Int32Array): void {
    const o = mat(out, "copyRows");
    const xs = mat(x, "copyRows");
    if (o === xs) throw new InvalidArgumentError("copyRows: out must not alias x");
    checkRowCount("copyRows", rows.length, o);
    checkCols("copyRows", o, xs.cols, "out");
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r < 0 || r >= xs.rows) throw new InvalidArgumentError(`copyRows: row ${r} outside a matrix of ${xs.rows} rows`);
      o.data.set(xs.data.subarray(r * xs.cols, (r + 1) * xs.cols), i * o.cols);
    }
  }

  addScaledRows(out: Mat, x: Mat, rows: Int32Array, scale: number): void {
    const o = mat(out, "addScaledRows");
    const xs = mat(x, "addScaledRows");
    if (o === xs) throw new InvalidArgumentError("addScaledRows: out must not alias x");
    checkRowCount("addScaledRows", rows.length, xs);
    checkCols("addScaledRows", o, xs.cols, "out");
    const cols = o.cols;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!(r >= 0 && r < o.rows)) throw new InvalidArgumentError(`addScaledRows: row ${r} outside a matrix of ${o.rows} rows`);
      for (let k = 0; k < cols; k++) o.data[r * cols + k] = o.data[r * cols + k]! + scale * xs.data[i * cols + k]!;
    }
  }

  dispose(): void {
    // Nothing to stop: all memory is garbage-collected typed arrays.
  }
}

/** x[base .. base + n) · w[0 .. n), accumulated in float64 (four partial sums, then the tail). */
function dot(x: Float32Array, base: number, w: Float32Array, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += x[base + k]! * w[k]!;
    s1 += x[base + k + 1]! * w[k + 1]!;
    s2 += x[base + k + 2]! * w[k + 2]!;
    s3 += x[base + k + 3]! * w[k + 3]!;
  }
  for (; k < n; k++) s0 += x[base + k]! * w[k]!;
  return s0 + s1 + (s2 + s3);
}

/** The most keys any query of these segments can see, to size the score buffer once. */
function maxKeys(segments: readonly AttentionSegment[], window: number | null): number {
  let most = 0;
  for (const seg of segments) {
    const keys = seg.past + seg.count;
    most = Math.max(most, window === null ? keys : Math.min(window, keys));
  }
  return most;
}
