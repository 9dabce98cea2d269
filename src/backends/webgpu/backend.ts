/**
 * The WebGPU backend: every op of ops.ts as a WGSL compute kernel (wgsl/), recorded into one
 * command encoder and submitted when a result is read back (recorder.ts). Weights, activations
 * and K/V caches live in GPU buffers for the life of the model; `read`/`readInto` are the only
 * round trips and are asynchronous (mapAsync).
 *
 * Weights keep their storage dtype in GPU memory (f16/bf16 widened, Q8_0/Q4_0 dequantised in
 * the shader). A 2-D weight larger than the device's storage-binding or buffer limit is split
 * by rows into several buffers, each multiplied (or looked up) on its own; vectors (norm
 * scales, biases) are decoded to float32 at upload, being a few kilobytes.
 */
import { InvalidArgumentError, UnsupportedError } from "../../errors.js";
import { checkCols, checkRowCount, ownHandle } from "../handles.js";
import { asReader, readWhole, type UploadSource } from "../../formats/weights.js";
import { byteSize, type WeightDType } from "../../tensor/dtype.js";
import type { AttentionParams, AttentionSegment, Backend, KVBuffer, Mat, Weight } from "../ops.js";
import { RefWeight } from "../reference/weights.js";
import { type AcquiredDevice, acquireDevice, type DeviceOptions } from "./device.js";
import { BufferUsage, type GPUBufferLike, type GPUComputePipelineLike, type GPUDeviceLike, MAP_READ } from "./gpu_types.js";
import { type Binding, Recorder } from "./recorder.js";
import { ATTENTION, MAX_HEAD_DIM } from "./wgsl/attention.js";
import { LANES_ROWS, MATVEC_ROWS, matvecRowsShader, matvecShader, tiledShader } from "./wgsl/matmul.js";
import { DTYPE_CODE, type WebGPUDType } from "./wgsl/weights.js";
import {
  ADD_EXPR,
  ADD_SCALED_ROWS,
  type BinaryAlias,
  binaryShader,
  COPY_ROWS,
  embedShader,
  ROPE,
  rmsnormShader,
  STORE_KV,
  SWIGLU_EXPR,
} from "./wgsl/rows.js";

/** Storage dtypes the kernels read. Anything else is refused at upload, naming the tensor. */
export const WEBGPU_DTYPES: readonly WebGPUDType[] = ["f32", "f16", "bf16", "q8_0", "q4_0"];

/** Bytes read from a tensor source per piece on the way to the GPU (no whole-tensor copy on the CPU). */
const UPLOAD_PIECE = 8 * 2 ** 20;

export interface WebGPUBackendOptions extends DeviceOptions {
  /** Use this device instead of requesting one (the backend then does not destroy it on dispose). */
  readonly device?: GPUDeviceLike;
  /**
   * Largest buffer a weight part may take, below the device's own limits (tests lower it to
   * force the split of a tensor into several buffers).
   */
  readonly maxBufferBytes?: number;
  /**
   * The decode-time matrix-vector kernel: "lanes" (32 threads per weight row, for GPUs) or
   * "rows" (a thread per row, for CPU implementations of WebGPU). Default: "rows" on
   * SwiftShader, else "lanes".
   */
  readonly matvec?: MatvecKernel;
}

export type MatvecKernel = "lanes" | "rows";

const EMPTY_SHAPE_MIN = 16;
/** Matrices up to this size are read back whole when a few rows are asked (see `snapshot`). */
const SNAPSHOT_BYTES = 4 * 2 ** 20;

class GpuMat implements Mat {
  freed = false;
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly buffer: GPUBufferLike,
  ) {}
}

class GpuKV implements KVBuffer {
  freed = false;
  constructor(
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
    readonly k: GPUBufferLike,
    readonly v: GPUBufferLike,
  ) {}
}

/** Rows [rowOffset, rowOffset + rows) of a weight, in one buffer. */
interface WeightPart {
  readonly buffer: GPUBufferLike;
  readonly rowOffset: number;
  readonly rows: number;
  /** Bytes of weights in this part. */
  readonly bytes: number;
}

class GpuWeight implements Weight {
  freed = false;
  constructor(
    readonly name: string,
    /** The storage dtype as uploaded. */
    readonly dtype: WeightDType,
    /** The dtype in GPU memory (f32 for vectors, else the storage dtype). */
    readonly gpuDtype: WebGPUDType,
    readonly shape: readonly number[],
    readonly rows: number,
    readonly cols: number,
    readonly parts: readonly WeightPart[],
  ) {}
}

function mat(x: Mat, what: string): GpuMat {
  return ownHandle(x, GpuMat, "matrix", "WebGPU backend", what);
}

function weight(w: Weight, what: string): GpuWeight {
  return ownHandle(w, GpuWeight, "weight", "WebGPU backend", what);
}

function kvBuf(x: KVBuffer, what: string): GpuKV {
  return ownHandle(x, GpuKV, "KV buffer", "WebGPU backend", what);
}

/** Workgroups for `groups` units of work as a 2-D grid within the per-dimension limit. */
function grid(groups: number, perDim: number): [number, number] {
  if (groups <= perDim) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / perDim);
  return [Math.ceil(groups / y), y];
}

function notAVector(w: GpuWeight): never {
  throw new InvalidArgumentError(`weight ${w.name}: expected a vector, got shape [${w.shape.join(", ")}]`);
}

export class WebGPUBackend implements Backend {
  readonly name = "webgpu";
  /** The adapter, in words ("google swiftshader", "nvidia ampere ..."). */
  readonly adapterDescription: string;
  /** Whether the adapter offers shader-f16 (the kernels compute in f32 either way). */
  readonly shaderF16: boolean;
  /** The decode-time matrix-vector kernel in use. */
  readonly matvecKernel: MatvecKernel;
  private readonly recorder: Recorder;
  private readonly pipelines = new Map<string, GPUComputePipelineLike>();
  private readonly readbacks: GPUBufferLike[] = [];
  private readonly zeros: GPUBufferLike;
  /** Set when the device is lost: every later call fails with it instead of hanging. */
  private lostError: Error | null = null;
  private readonly lostSignal: Promise<never>;
  /** The first uncaptured GPU error (a kernel or binding the device refused). */
  private gpuError: string | null = null;
  private disposed = false;
  /** Largest buffer a matrix or cache may take: the device's storage-binding and buffer limits. */
  readonly maxBufferBytes: number;
  /** Largest buffer one part of a weight may take (maxBufferBytes, or lower when asked). */
  readonly weightPartBytes: number;
  /** Bytes of weights uploaded (all parts). */
  weightBytes = 0;

  private constructor(
    readonly device: GPUDeviceLike,
    acquired: Pick<AcquiredDevice, "description" | "shaderF16">,
    private readonly ownsDevice: boolean,
    maxBufferBytes: number | undefined,
    matvec: MatvecKernel | undefined,
  ) {
    this.adapterDescription = acquired.description;
    this.matvecKernel = matvec ?? (/swiftshader/i.test(acquired.description) ? "rows" : "lanes");
    this.shaderF16 = acquired.shaderF16;
    const lim = device.limits;
    this.maxBufferBytes = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    this.weightPartBytes = Math.min(this.maxBufferBytes, maxBufferBytes ?? Number.POSITIVE_INFINITY);
    this.recorder = new Recorder(device);
    this.zeros = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE, label: "zeros" });
    this.lostSignal = device.lost.then((info) => {
      this.lostError = new UnsupportedError(
        `WebGPU device lost (${info.reason}${info.message ? `: ${info.message}` : ""}); the model must be loaded again`,
      );
      throw this.lostError;
    });
    // Nobody may be waiting on it: keep an unobserved rejection from being reported.
    this.lostSignal.catch(() => undefined);
    device.onuncapturederror = (e) => {
      this.gpuError ??= e.error.message;
    };
  }

  /** Requests an adapter and device (or wraps `options.device`). Rejects with the reason when WebGPU is unavailable. */
  static async create(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    if (options.device !== undefined) {
      return new WebGPUBackend(
        options.device,
        { description: "given device", shaderF16: options.device.features.has("shader-f16") },
        false,
        options.maxBufferBytes,
        options.matvec,
      );
    }
    const acquired = await acquireDevice(options);
    return new WebGPUBackend(acquired.device, acquired, true, options.maxBufferBytes, options.matvec);
  }

  /**
   * Weight bytes the recorded dispatches read, by the kernels' access pattern: a matrix-vector
   * dispatch reads each weight byte once (for all its input rows), a tiled one once per 32
   * input rows, an embedding lookup one row per id, norms and biases their vector.
   */
  private weightBytesRead = 0;

  /** Dispatches, submits and weight bytes read so far (benchmarks: per decoded token). */
  get counters(): { dispatches: number; submits: number; weightBytesRead: number } {
    return { dispatches: this.recorder.dispatches, submits: this.recorder.submits, weightBytesRead: this.weightBytesRead };
  }

  private check(): void {
    if (this.disposed) throw new InvalidArgumentError("WebGPU backend used after dispose()");
    if (this.lostError !== null) throw this.lostError;
  }

  private pipeline(key: string, source: () => string): GPUComputePipelineLike {
    let p = this.pipelines.get(key);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private createBuffer(bytes: number, usage: number, what: string, limit = this.maxBufferBytes): GPUBufferLike {
    if (bytes > limit) {
      throw new UnsupportedError(
        `${what} takes ${bytes} bytes, more than one buffer may hold on this device (${limit} bytes: ` +
          `maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize}, maxBufferSize ${this.device.limits.maxBufferSize})`,
      );
    }
    return this.device.createBuffer({ size: Math.max(EMPTY_SHAPE_MIN, Math.ceil(bytes / 4) * 4), usage, label: what });
  }

  /** Uniform parameters for one dispatch, as 32-bit words (u32 unless listed in `floats`). */
  private params(values: readonly number[], floats: readonly number[] = []): Binding {
    const size = values.length * 4;
    const [at] = this.recorder.reserve(size);
    const view = new DataView(this.recorder.bytes(at!, size).buffer, at!, size);
    values.forEach((v, i) => (floats.includes(i) ? view.setFloat32(i * 4, v, true) : view.setUint32(i * 4, v, true)));
    return this.recorder.range(at!, size);
  }

  /** Copies `data` into the arena for this submit and returns its binding. */
  private staged(data: Float32Array | Uint32Array | Int32Array): Binding {
    const [at] = this.recorder.reserve(data.byteLength);
    this.recorder.bytes(at!, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return this.recorder.range(at!, data.byteLength);
  }

  // ---- memory -------------------------------------------------------------------------

  async upload(tensor: UploadSource): Promise<Weight> {
    this.check();
    const { name, dtype, shape } = tensor;
    if (!(WEBGPU_DTYPES as readonly string[]).includes(dtype)) {
      throw new UnsupportedError(
        `weight ${name}: dtype ${dtype} is not supported by the WebGPU backend (it reads ${WEBGPU_DTYPES.join(", ")})`,
      );
    }
    if (shape.length !== 1 && shape.length !== 2) {
      throw new InvalidArgumentError(`weight ${name}: expected a 1-D or 2-D tensor, got shape [${shape.join(", ")}]`);
    }
    const wdtype = dtype as WebGPUDType;
    let expected: number;
    try {
      expected = byteSize(wdtype, shape);
    } catch (err) {
      throw new InvalidArgumentError(`weight ${name}: ${(err as Error).message}`);
    }
    const reader = asReader(tensor);
    if (reader.byteLength !== expected) {
      throw new InvalidArgumentError(`weight ${name}: ${dtype} [${shape.join(", ")}] needs ${expected} bytes, got ${reader.byteLength}`);
    }
    if (shape.length === 1) return this.uploadVector(tensor);
    const [rows, cols] = shape as [number, number];
    const rowBytes = rows === 0 ? 0 : expected / rows;
    const rowsPerPart = rowBytes === 0 ? rows : Math.floor(this.weightPartBytes / rowBytes);
    if (rows > 0 && rowsPerPart === 0) {
      throw new UnsupportedError(
        `weight ${name}: one row takes ${rowBytes} bytes, more than one buffer may hold on this device (${this.weightPartBytes} bytes, maxStorageBufferBindingSize)`,
      );
    }
    const parts: WeightPart[] = [];
    const piece = new Uint8Array(Math.min(UPLOAD_PIECE, Math.max(4, Math.ceil(expected / 4) * 4)));
    try {
      for (let r0 = 0; r0 < rows || parts.length === 0; r0 += rowsPerPart) {
        const partRows = Math.min(rowsPerPart, rows - r0);
        const bytes = partRows * rowBytes;
        const what = `weight ${name} rows ${r0}..${r0 + partRows}`;
        const buffer = this.createBuffer(bytes, BufferUsage.STORAGE | BufferUsage.COPY_DST, what, this.weightPartBytes);
        parts.push({ buffer, rowOffset: r0, rows: partRows, bytes });
        for (let done = 0; done < bytes; done += piece.length) {
          const len = Math.min(piece.length, bytes - done);
          await reader.readInto(piece.subarray(0, len), r0 * rowBytes + done);
          this.check();
          // writeBuffer sizes are multiples of 4: the tail's padding lands past the tensor's bytes.
          this.device.queue.writeBuffer(buffer, done, piece, 0, Math.ceil(len / 4) * 4);
        }
        if (rows === 0) break;
      }
    } catch (err) {
      for (const p of parts) p.buffer.destroy();
      throw err;
    }
    this.weightBytes += expected;
    return new GpuWeight(name, wdtype, wdtype, shape, rows, cols, parts);
  }

  /** A norm scale or bias: decoded to float32 once (a few kilobytes). */
  private async uploadVector(tensor: UploadSource): Promise<Weight> {
    const host = await readWhole(tensor);
    const values = new RefWeight(host).toFloat32();
    const buffer = this.createBuffer(values.byteLength, BufferUsage.STORAGE | BufferUsage.COPY_DST, `weight ${host.name}`);
    this.device.queue.writeBuffer(buffer, 0, new Uint8Array(values.buffer), 0, values.byteLength);
    this.weightBytes += values.byteLength;
    const n = values.length;
    const part = { buffer, rowOffset: 0, rows: 1, bytes: values.byteLength };
    return new GpuWeight(host.name, host.dtype as WeightDType, "f32", [...host.shape], 1, n, [part]);
  }

  alloc(rows: number, cols: number): Mat {
    this.check();
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
      throw new InvalidArgumentError(`alloc: bad shape [${rows}, ${cols}]`);
    }
    const buffer = this.createBuffer(
      rows * cols * 4,
      BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
      `a [${rows}, ${cols}] float32 matrix`,
    );
    return new GpuMat(rows, cols, buffer);
  }

  allocKV(kvHeads: number, capacity: number, headDim: number): KVBuffer {
    this.check();
    if (![kvHeads, capacity, headDim].every((v) => Number.isInteger(v) && v > 0)) {
      throw new InvalidArgumentError(`allocKV: bad shape [${kvHeads}, ${capacity}, ${headDim}]`);
    }
    const bytes = kvHeads * capacity * headDim * 4;
    const what = `a [${kvHeads}, ${capacity}, ${headDim}] K/V cache`;
    const k = this.createBuffer(bytes, BufferUsage.STORAGE, what);
    const v = this.createBuffer(bytes, BufferUsage.STORAGE, what);
    return new GpuKV(kvHeads, capacity, headDim, k, v);
  }

  free(x: Mat | KVBuffer | Weight): void {
    if (x instanceof GpuMat && !x.freed) {
      x.freed = true;
      this.recorder.release(x.buffer);
    } else if (x instanceof GpuKV && !x.freed) {
      x.freed = true;
      this.recorder.release(x.k);
      this.recorder.release(x.v);
    } else if (x instanceof GpuWeight && !x.freed) {
      x.freed = true;
      for (const p of x.parts) this.recorder.release(p.buffer);
    }
  }

  write(dst: Mat, src: Float32Array, row = 0): void {
    this.check();
    const d = mat(dst, "write");
    if (src.length % Math.max(d.cols, 1) !== 0)
      throw new InvalidArgumentError(`write: ${src.length} values is not a whole number of ${d.cols}-wide rows`);
    if (row < 0 || row * d.cols + src.length > d.rows * d.cols) {
      throw new InvalidArgumentError(`write: rows [${row}, ${row + src.length / d.cols}) outside a matrix of ${d.rows} rows`);
    }
    if (src.length === 0) return;
    // Through the arena, so the write keeps its place among the recorded ops.
    const [at] = this.recorder.reserve(src.byteLength);
    this.recorder.bytes(at!, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    this.recorder.copyFromArena(at!, d.buffer, row * d.cols * 4, src.byteLength);
  }

  async read(src: Mat, row = 0, rows?: number): Promise<Float32Array> {
    const s = mat(src, "read");
    const count = rows ?? s.rows - row;
    this.checkRange("read", s, row, count);
    const out = new Float32Array(count * s.cols);
    await this.readBack(s, row, count, out, 0);
    return out;
  }

  async readInto(src: Mat, row: number, rows: number, dst: Float32Array, at = 0): Promise<void> {
    const s = mat(src, "readInto");
    this.checkRange("readInto", s, row, rows);
    const len = rows * s.cols;
    if (at < 0 || at + len > dst.length)
      throw new InvalidArgumentError(`readInto: ${len} floats at ${at} do not fit a destination of ${dst.length}`);
    await this.readBack(s, row, rows, dst, at);
  }

  private checkRange(what: string, m: GpuMat, row: number, rows: number): void {
    if (!Number.isInteger(row) || !Number.isInteger(rows) || row < 0 || rows < 0 || row + rows > m.rows)
      throw new InvalidArgumentError(`${what}: rows [${row}, ${row + rows}) outside a matrix of ${m.rows} rows`);
  }

  /**
   * The last matrix read back whole, while nothing has been recorded since: a forward call
   * reads each sequence's logits row by row, awaiting each, and this turns those reads into
   * one round trip.
   */
  private snapshot: { mat: GpuMat; version: number; data: Float32Array } | null = null;

  /** Submits the recorded work with a copy of the rows at its end, then maps the copy. */
  private async readBack(m: GpuMat, row: number, rows: number, dst: Float32Array, at: number): Promise<void> {
    this.check();
    const cols = m.cols;
    if (rows * cols === 0) return;
    const snap = this.snapshot;
    if (snap !== null && snap.mat === m && snap.version === this.recorder.version) {
      dst.set(snap.data.subarray(row * cols, (row + rows) * cols), at);
      return;
    }
    // A small matrix comes back whole (for the reads of its other rows that usually follow).
    const whole = m.rows * cols * 4 <= SNAPSHOT_BYTES;
    const [first, count] = whole ? [0, m.rows] : [row, rows];
    const bytes = count * cols * 4;
    const staging = this.takeReadback(bytes);
    this.recorder.copy(m.buffer, first * cols * 4, staging, 0, bytes);
    this.recorder.flush();
    const version = this.recorder.version;
    try {
      await Promise.race([staging.mapAsync(MAP_READ, 0, bytes), this.lostSignal]);
      if (this.gpuError !== null) throw new UnsupportedError(`WebGPU error: ${this.gpuError}`);
      const mapped = new Float32Array(staging.getMappedRange(0, bytes));
      if (whole) {
        const data = mapped.slice();
        this.snapshot = { mat: m, version, data };
        dst.set(data.subarray(row * cols, (row + rows) * cols), at);
      } else {
        dst.set(mapped, at);
      }
      staging.unmap();
      this.readbacks.push(staging);
    } catch (err) {
      if (this.lostError !== null) throw this.lostError;
      throw err;
    }
  }

  /** A mappable buffer of at least `bytes` (kept for reuse; several reads may be in flight). */
  private takeReadback(bytes: number): GPUBufferLike {
    const i = this.readbacks.findIndex((b) => b.size >= bytes);
    if (i >= 0) return this.readbacks.splice(i, 1)[0]!;
    return this.device.createBuffer({
      size: Math.max(256, Math.ceil(bytes / 256) * 256),
      usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
    });
  }

  // ---- ops ----------------------------------------------------------------------------

  private get perDim(): number {
    return this.device.limits.maxComputeWorkgroupsPerDimension;
  }

  embed(out: Mat, table: Weight, ids: Int32Array): void {
    this.check();
    const o = mat(out, "embed");
    const t = weight(table, "embed");
    checkRowCount("embed", ids.length, o);
    checkCols("embed", o, t.cols, "out");
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= t.rows)
        throw new InvalidArgumentError(`embed: token id ${id} at position ${i} is outside the vocabulary [0, ${t.rows})`);
    }
    if (ids.length === 0) return;
    const pipe = this.pipeline("embed", embedShader);
    const idsBinding = this.staged(ids);
    this.weightBytesRead += ids.length * (t.rows === 0 ? 0 : t.parts.reduce((a, p) => a + p.bytes, 0) / t.rows);
    for (const part of t.parts) {
      const p = this.params([ids.length, t.cols, part.rowOffset, part.rows, DTYPE_CODE[t.gpuDtype]]);
      this.recorder.dispatch(pipe, [p, idsBinding, part.buffer, o.buffer], ...grid(Math.ceil((ids.length * t.cols) / 256), this.perDim));
    }
  }

  rmsnorm(out: Mat, x: Mat, w: Weight, eps: number, n: number): void {
    this.check();
    const o = mat(out, "rmsnorm");
    const xs = mat(x, "rmsnorm");
    const g = weight(w, "rmsnorm");
    if (g.shape.length !== 1) notAVector(g);
    checkRowCount("rmsnorm", n, o, xs);
    checkCols("rmsnorm", o, xs.cols, "out");
    if (g.cols !== xs.cols) throw new InvalidArgumentError(`rmsnorm: weight has ${g.cols} values, rows have ${xs.cols}`);
    if (n === 0) return;
    const inPlace = o === xs;
    const pipe = this.pipeline(`rmsnorm/${inPlace}`, () => rmsnormShader(inPlace));
    const p = this.params([xs.cols, eps, n], [1]);
    this.weightBytesRead += g.cols * 4;
    this.recorder.dispatch(pipe, [p, xs.buffer, g.parts[0]!.buffer, inPlace ? null : o.buffer], ...grid(n, this.perDim));
  }

  matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void {
    this.check();
    const o = mat(out, "matmul");
    const xs = mat(x, "matmul");
    const wt = weight(w, "matmul");
    if (wt.shape.length !== 2) throw new InvalidArgumentError(`matmul: weight must be 2-D, got [${wt.shape.join(", ")}]`);
    checkRowCount("matmul", n, o, xs);
    checkCols("matmul", xs, wt.cols, "x");
    checkCols("matmul", o, wt.rows, "out");
    if (o === xs) throw new InvalidArgumentError("matmul: out must not alias x");
    const b = bias === null ? null : weight(bias, "matmul bias");
    if (b !== null && (b.shape.length !== 1 || b.cols !== wt.rows))
      throw new InvalidArgumentError(`matmul: bias has shape [${b.shape.join(", ")}], expected [${wt.rows}]`);
    if (n === 0) return;
    const matvec = n <= MATVEC_ROWS;
    const rowsKernel = this.matvecKernel === "rows";
    const pipe = !matvec
      ? this.pipeline("tiled", tiledShader)
      : rowsKernel
        ? this.pipeline("matvecRows", matvecRowsShader)
        : this.pipeline("matvec", matvecShader);
    for (const part of wt.parts) {
      if (part.rows === 0) continue;
      const p = this.params([n, wt.cols, wt.rows, part.rows, part.rowOffset, b === null ? 0 : 1, DTYPE_CODE[wt.gpuDtype]]);
      this.weightBytesRead += part.bytes * (matvec ? 1 : Math.ceil(n / 32)) + (b === null ? 0 : b.cols * 4);
      const bindings = [p, xs.buffer, part.buffer, b === null ? this.zeros : b.parts[0]!.buffer, o.buffer];
      if (matvec) this.recorder.dispatch(pipe, bindings, ...grid(Math.ceil(part.rows / (rowsKernel ? 64 : LANES_ROWS)), this.perDim));
      else this.recorder.dispatch(pipe, bindings, Math.ceil(part.rows / 32), Math.ceil(n / 32));
    }
  }

  rope(x: Mat, n: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    this.check();
    const xs = mat(x, "rope");
    checkRowCount("rope", n, xs);
    checkCols("rope", xs, heads * headDim, "x");
    if (headDim % 2 !== 0) throw new InvalidArgumentError(`rope: head dimension ${headDim} is odd`);
    const h = headDim / 2;
    if (cos.length < n * h || sin.length < n * h)
      throw new InvalidArgumentError(`rope: cos/sin need ${n * h} values, got ${cos.length}/${sin.length}`);
    if (n === 0) return;
    const table = this.ropeTable(cos, sin, n * h);
    const pipe = this.pipeline("rope", () => ROPE);
    const p = this.params([n, heads, headDim, xs.cols]);
    this.recorder.dispatch(pipe, [p, xs.buffer, table], ...grid(Math.ceil((n * heads * h) / 256), this.perDim));
  }

  /** The last RoPE table staged in this submit, reused while cos/sin hold the same values (q and k of every layer). */
  private lastTable: { cs: Float32Array; binding: Binding; epoch: number } | null = null;

  private ropeTable(cos: Float32Array, sin: Float32Array, len: number): Binding {
    const last = this.lastTable;
    if (last !== null && last.epoch === this.recorder.epoch && last.cs.length === 2 * len) {
      const cs = last.cs;
      let same = true;
      for (let i = 0; i < len && same; i++) same = cs[i] === cos[i] && cs[len + i] === sin[i];
      if (same) return last.binding;
    }
    const cs = new Float32Array(2 * len);
    cs.set(cos.subarray(0, len));
    cs.set(sin.subarray(0, len), len);
    const binding = this.staged(cs);
    this.lastTable = { cs, binding, epoch: this.recorder.epoch };
    return binding;
  }

  storeKV(kv: KVBuffer, k: Mat, v: Mat, row: number, count: number, slot: number): void {
    this.check();
    const c = kvBuf(kv, "storeKV");
    const ks = mat(k, "storeKV");
    const vs = mat(v, "storeKV");
    const width = c.kvHeads * c.headDim;
    checkCols("storeKV", ks, width, "k");
    checkCols("storeKV", vs, width, "v");
    checkRowCount("storeKV", row + count, ks, vs);
    if (!Number.isInteger(slot) || slot < 0) throw new InvalidArgumentError(`storeKV: slot must be a non-negative integer, got ${slot}`);
    if (count > c.capacity) throw new InvalidArgumentError(`storeKV: ${count} tokens do not fit a ring of ${c.capacity}`);
    if (count === 0) return;
    const pipe = this.pipeline("storeKV", () => STORE_KV);
    const p = this.params([row, count, slot % c.capacity, c.capacity, c.kvHeads, c.headDim]);
    this.recorder.dispatch(pipe, [p, ks.buffer, vs.buffer, c.k, c.v], ...grid(Math.ceil((count * width) / 256), this.perDim));
  }

  attention(out: Mat, q: Mat, segments: readonly AttentionSegment[], params: AttentionParams): void {
    this.check();
    const o = mat(out, "attention");
    const qs = mat(q, "attention");
    const { heads, kvHeads, headDim, scale, window } = params;
    if (heads % kvHeads !== 0) throw new InvalidArgumentError(`attention: ${heads} heads is not a multiple of ${kvHeads} KV heads`);
    checkCols("attention", qs, heads * headDim, "q");
    checkCols("attention", o, heads * headDim, "out");
    if (o === qs) throw new InvalidArgumentError("attention: out must not alias q");
    if (headDim > MAX_HEAD_DIM)
      throw new UnsupportedError(`attention: head dimension ${headDim} is over the WebGPU kernel's ${MAX_HEAD_DIM}`);
    if (window !== null && (!Number.isInteger(window) || window < 1))
      throw new InvalidArgumentError(`attention: window must be a positive integer or null, got ${window}`);
    const pipe = this.pipeline("attention", () => ATTENTION);
    for (const seg of segments) {
      const c = kvBuf(seg.kv, "attention");
      if (c.kvHeads !== kvHeads || c.headDim !== headDim) {
        throw new InvalidArgumentError(`attention: cache is [${c.kvHeads} heads, ${c.headDim}], params say [${kvHeads}, ${headDim}]`);
      }
      checkRowCount("attention", seg.row + seg.count, qs, o);
      const end = seg.past + seg.count;
      const oldestKept = end - c.capacity;
      const first = window === null ? 0 : Math.max(0, seg.past - window + 1);
      if (first < oldestKept) {
        throw new InvalidArgumentError(
          `attention: query at slot ${seg.past} needs key slot ${first}, but a ring of ${c.capacity} holding ${end} tokens only keeps slots from ${oldestKept}`,
        );
      }
      if (seg.count === 0) continue;
      if (seg.count > this.perDim)
        throw new InvalidArgumentError(`attention: ${seg.count} query rows in one segment (at most ${this.perDim})`);
      const p = this.params([seg.row, seg.past, c.capacity, headDim, heads / kvHeads, window ?? 0, qs.cols, scale], [7]);
      this.recorder.dispatch(pipe, [p, qs.buffer, c.k, c.v, o.buffer], heads, seg.count);
    }
  }

  swiglu(out: Mat, gate: Mat, up: Mat, n: number): void {
    this.binary("swiglu", SWIGLU_EXPR, out, gate, up, n);
  }

  add(out: Mat, a: Mat, b: Mat, n: number): void {
    this.binary("add", ADD_EXPR, out, a, b, n);
  }

  private binary(what: string, expr: string, out: Mat, a: Mat, b: Mat, n: number): void {
    this.check();
    const o = mat(out, what);
    const as = mat(a, what);
    const bs = mat(b, what);
    checkRowCount(what, n, o, as, bs);
    checkCols(what, as, o.cols, "a");
    checkCols(what, bs, o.cols, "b");
    const len = n * o.cols;
    if (len === 0) return;
    const alias: BinaryAlias = o === as ? (o === bs ? "ab" : "a") : o === bs ? "b" : "none";
    const pipe = this.pipeline(`${what}/${alias}`, () => binaryShader(expr, alias));
    const p = this.params([len]);
    const bindings = alias === "none" ? [p, as.buffer, bs.buffer, o.buffer] : alias === "ab" ? [p, as.buffer] : [p, as.buffer, bs.buffer];
    this.recorder.dispatch(pipe, bindings, ...grid(Math.ceil(len / 256), this.perDim));
  }

  copyRows(out: Mat, x: Mat, rows: Int32Array): void {
    this.check();
    const o = mat(out, "copyRows");
    const xs = mat(x, "copyRows");
    if (o === xs) throw new InvalidArgumentError("copyRows: out must not alias x");
    checkRowCount("copyRows", rows.length, o);
    checkCols("copyRows", o, xs.cols, "out");
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r < 0 || r >= xs.rows) throw new InvalidArgumentError(`copyRows: row ${r} outside a matrix of ${xs.rows} rows`);
    }
    if (rows.length === 0 || o.cols === 0) return;
    const pipe = this.pipeline("copyRows", () => COPY_ROWS);
    const p = this.params([rows.length, o.cols]);
    this.recorder.dispatch(
      pipe,
      [p, this.staged(rows), xs.buffer, o.buffer],
      ...grid(Math.ceil((rows.length * o.cols) / 256), this.perDim),
    );
  }

  addScaledRows(out: Mat, x: Mat, rows: Int32Array, scale: number): void {
    this.check();
    const o = mat(out, "addScaledRows");
    const xs = mat(x, "addScaledRows");
    if (o === xs) throw new InvalidArgumentError("addScaledRows: out must not alias x");
    checkRowCount("addScaledRows", rows.length, xs);
    checkCols("addScaledRows", o, xs.cols, "out");
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!(r >= 0 && r < o.rows)) throw new InvalidArgumentError(`addScaledRows: row ${r} outside a matrix of ${o.rows} rows`);
    }
    if (rows.length === 0 || o.cols === 0) return;
    const pipe = this.pipeline("addScaledRows", () => ADD_SCALED_ROWS);
    const p = this.params([rows.length, o.cols, scale], [2]);
    this.recorder.dispatch(pipe, [p, this.staged(rows), xs.buffer, o.buffer], ...grid(Math.ceil(o.cols / 256), this.perDim));
  }

  /** Submits recorded work and resolves when the GPU has finished it (benchmarks time with it). */
  async finish(): Promise<void> {
    this.check();
    this.recorder.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lostSignal]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.recorder.dispose();
    for (const b of this.readbacks) b.destroy();
    this.zeros.destroy();
    if (this.ownsDevice) this.device.destroy();
  }
}
