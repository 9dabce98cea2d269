/**
 * WasmBackend: the ops interface on WebAssembly SIMD kernels (AssemblyScript, two builds:
 * baseline SIMD and relaxed SIMD) over one shared WebAssembly.Memory. Ops validate their
 * arguments at once and record a command (commands.ts); `read` and `readInto` submit the
 * list to a driver worker plus one helper worker per extra thread and resolve when it has
 * run, so the calling thread neither computes nor blocks (pool.ts). Without shared memory
 * (a page that is not cross-origin isolated) each command runs at once on the calling thread.
 *
 * Memory holds weights in their storage type, 2-D ones in row-paired layouts of the same size
 * (see assembly/matmul_float.ts and matmul_quant.ts), 1-D weights (norms, biases) as float32,
 * activations, K/V caches and a few scratch areas that grow to the largest batch seen and are
 * then reused, so steady-state decoding allocates nothing.
 */
import { canBlock, sharedMemoryAvailable } from "#platform";
import { wasm, type WasmModule } from "./wasm_api.js";
import { InvalidArgumentError, UnsupportedError } from "../../errors.js";
import { asReader, readWhole, type UploadSource } from "../../formats/weights.js";
import { toFloat32 } from "../../tensor/convert.js";
import { byteSize, isQuantized, type FloatDType, type WeightDType } from "../../tensor/dtype.js";
import type { AttentionParams, AttentionSegment, Backend, KVBuffer, Mat, Weight } from "../ops.js";
import { Heap } from "./heap.js";
import { instantiateKernels, Kind, Op, readKernelBytes, type KernelBuild, type KernelExports } from "./kernels.js";
import { CONTROL_BYTES, ThreadPool } from "./pool.js";
import { CommandQueue } from "./commands.js";
import { QUANT_FORMATS, usesQ8K, usesQ8_1 } from "./quant_formats.js";
import { relaxedPreference, relaxedSimdAvailable, RELAXED_SIMD_ENV, RELAXED_SIMD_NODE_FLAG } from "./features.js";
import { selfTest } from "./selftest.js";
import { chooseThreads } from "./threads.js";

export interface WasmBackendOptions {
  /**
   * Compute threads (default: all cores; never more than the cores). Where threads can share
   * memory they are workers (a driver plus threads - 1 helpers) and the calling thread only
   * records ops and awaits reads (so a page's main thread gets every core too). One, with a
   * console warning, where threads cannot share memory (a page that is not cross-origin
   * isolated: ops then run on the calling thread).
   */
  threads?: number;
  /**
   * Use the relaxed-SIMD build: true (required), false, or "auto" (when it validates and
   * passes the self-test). Default: QWEN2_RELAXED_SIMD (0 or 1) where the process has one, else "auto".
   */
  relaxed?: boolean | "auto";
  /** Largest size of the shared memory in MiB (default and maximum 4096). */
  maxMemoryMiB?: number;
  /** URL of the compute worker script (default: worker.js beside this module; a bundle may place it elsewhere). */
  workerUrl?: URL;
}

class WasmMat implements Mat {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly ptr: number,
  ) {}
}

class WasmKV implements KVBuffer {
  constructor(
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
    /** [kvHeads, capacity, headDim] float32 each. */
    readonly k: number,
    readonly v: number,
  ) {}
}

class WasmWeight implements Weight {
  constructor(
    readonly dtype: WeightDType,
    readonly shape: readonly number[],
    readonly kind: Kind,
    /** Float data as stored, float32 for 1-D weights, or quantised blocks in their paired layout. */
    readonly ptr: number,
    readonly bytes: number,
  ) {}
}

const FLOAT_KIND: Record<FloatDType, Kind> = { f32: Kind.F32, bf16: Kind.BF16, f16: Kind.F16 };

function kindOf(dtype: WeightDType): Kind | undefined {
  return isQuantized(dtype) ? QUANT_FORMATS[dtype]?.kind : FLOAT_KIND[dtype as FloatDType];
}

/** A grow-only scratch area of the heap; an outgrown area goes back once pending commands have run. */
class Scratch {
  ptr = 0;
  bytes = 0;
  constructor(
    private readonly heap: Heap,
    private readonly queue: CommandQueue,
    private readonly what: string,
  ) {}
  ensure(bytes: number): number {
    if (bytes > this.bytes) {
      if (this.bytes > 0) this.queue.free(this.ptr, this.bytes);
      const size = Math.max(bytes, this.bytes * 2, 4096);
      this.ptr = this.heap.alloc(size, this.what);
      this.bytes = size;
    }
    return this.ptr;
  }
}

/** An activation of at least this many bytes is zeroed by a command rather than on the calling thread. */
const ZERO_BY_COMMAND_BYTES = 256 * 1024;

export class WasmBackend implements Backend {
  readonly name: string;
  private readonly args: Float64Array;
  private readonly queue: CommandQueue;
  private readonly xq: Scratch;
  private readonly scores: Scratch;
  private readonly staging: Scratch;
  private disposed = false;
  /**
   * What the quantised-activation scratch holds once the recorded commands have run: matrix x
   * (pointer, rows n, columns K) in a format (0 Q8_0, 1 Q8_1, 2 Q8_K) at scratch address base;
   * null when unknown or possibly stale.
   */
  private quantized: { x: number; n: number; K: number; format: number; base: number } | null = null;

  private constructor(
    readonly build: KernelBuild,
    readonly threads: number,
    private readonly heap: Heap,
    private readonly kernels: KernelExports,
    private readonly pool: ThreadPool,
  ) {
    this.name = `wasm-${build}`;
    this.queue = new CommandQueue(heap, pool);
    this.args = this.queue.args;
    this.xq = new Scratch(heap, this.queue, "quantised activations");
    this.scores = new Scratch(heap, this.queue, "attention scores");
    this.staging = new Scratch(heap, this.queue, "upload staging");
  }

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = chooseThreads(options.threads);
    const maxMiB = options.maxMemoryMiB ?? 4096;
    if (!(maxMiB >= 16 && maxMiB <= 4096))
      throw new InvalidArgumentError(`wasm backend: maxMemoryMiB must be between 16 and 4096, got ${maxMiB}`);
    // Where threads cannot share memory (a page that is not cross-origin isolated), threads
    // is 1 and the kernels run on an ordinary memory (see memory_import.ts).
    const shared = sharedMemoryAvailable();
    const memory = new wasm.Memory({ initial: 256, maximum: Math.floor(maxMiB * 16), shared });
    const heap = new Heap(memory, maxMiB * 2 ** 20);

    const want = options.relaxed ?? relaxedPreference();
    let build: KernelBuild = "simd";
    let module: WasmModule | undefined;
    let kernels: KernelExports | undefined;
    if (want !== false) {
      if (relaxedSimdAvailable()) {
        const m = new wasm.Module(readKernelBytes("relaxed", shared));
        const k = instantiateKernels(m, memory);
        const failure = selfTest(k, heap);
        if (failure === null) {
          build = "relaxed";
          module = m;
          kernels = k;
        } else if (want === true) {
          throw new UnsupportedError(
            `wasm backend: the relaxed-SIMD kernels compute wrong results on this engine (${failure}); use relaxed: false (or ${RELAXED_SIMD_ENV}=0)`,
          );
        }
      } else if (want === true) {
        throw new UnsupportedError(
          `wasm backend: this engine does not offer relaxed SIMD (on Node 20 run node with ${RELAXED_SIMD_NODE_FLAG})`,
        );
      }
    }
    if (!module || !kernels) {
      module = new wasm.Module(readKernelBytes("simd", shared));
      kernels = instantiateKernels(module, memory);
      const failure = selfTest(kernels, heap);
      if (failure !== null) throw new UnsupportedError(`wasm backend: the SIMD kernels fail their self-test on this engine: ${failure}`);
    }
    const control = heap.alloc(CONTROL_BYTES, "thread control block");
    heap.u8.fill(0, control, control + CONTROL_BYTES);
    const pool = await ThreadPool.start(kernels, module, memory, control, threads, shared, options.workerUrl);
    return new WasmBackend(build, threads, heap, kernels, pool);
  }

  /**
   * Commands recorded so far (a diagnostic): each op records about one, except that a product
   * may share its input's quantisation and its command with the products before it.
   */
  get commandsRecorded(): number {
    return this.queue.recorded;
  }

  /** Bytes of the shared memory in use (weights, caches, activations, scratch). */
  get memoryBytes(): number {
    return this.heap.used;
  }

  /** Largest size this backend's memory may reach, in bytes. */
  get memoryLimit(): number {
    return this.heap.maxBytes;
  }

  /**
   * The live float32 contents of a matrix of this backend (a view; valid until the memory
   * grows or the next op). Blocks the calling thread until pending ops have run, so a page's
   * main thread may not call it while ops are pending (use `read`).
   */
  view(m: Mat, rows = m.rows): Float32Array {
    const w = mat(m, "view");
    // The caller may write through the view.
    this.quantized = null;
    this.queue.drainSync();
    return this.heap.f32.subarray(w.ptr / 4, w.ptr / 4 + rows * w.cols);
  }

  // ---- memory -------------------------------------------------------------------------

  async upload(source: UploadSource): Promise<Weight> {
    const tensor = asReader(source);
    const { name, dtype, shape, byteLength } = tensor;
    const kind = kindOf(dtype as WeightDType);
    if (kind === undefined)
      throw new UnsupportedError(
        `wasm backend: tensor ${name} has dtype ${dtype}; weights must be f32, f16, bf16 or one of ${Object.keys(QUANT_FORMATS).join(", ")}`,
      );
    const wdt = dtype as WeightDType;
    this.quantized = null;
    // Uploads write the memory from this thread (packing): pending ops run first, and what
    // they free comes back to the heap.
    await this.queue.flush(() => undefined).catch(() => {});
    if (shape.length !== 1 && shape.length !== 2)
      throw new UnsupportedError(`wasm backend: tensor ${name} has shape [${shape.join(", ")}]; weights must be 1-D or 2-D`);
    const float = wdt === "f32" || wdt === "f16" || wdt === "bf16";
    if (!float && shape.length === 1) throw new UnsupportedError(`wasm backend: 1-D tensor ${name} is ${dtype}; vectors must be float`);
    const format = float ? null : QUANT_FORMATS[wdt as keyof typeof QUANT_FORMATS];
    if (format && shape[1]! % format.blockSize !== 0) {
      throw new InvalidArgumentError(
        `wasm backend: tensor ${name} is ${dtype} with ${shape[1]} columns, not a multiple of ${format.blockSize}`,
      );
    }
    const expected = byteSize(wdt, shape);
    if (byteLength !== expected)
      throw new InvalidArgumentError(
        `wasm backend: tensor ${name} [${shape.join(", ")}] ${dtype} has ${byteLength} bytes, expected ${expected}`,
      );
    if (shape.length === 1) {
      // Vectors (norm weights, biases) are tiny: keep them as float32 for the kernels.
      const values = toFloat32(wdt as FloatDType, (await readWhole(tensor)).data); // quantised vectors were refused above
      const bytes = values.length * 4;
      const ptr = this.heap.alloc(bytes, `tensor ${name}`);
      this.heap.f32.set(values, ptr / 4);
      return new WasmWeight(wdt, [...shape], Kind.F32, ptr, bytes);
    }
    const [rows, cols] = shape as [number, number];
    // Rows go into the paired layouts of assembly/matmul_float.ts, matmul_quant.ts and
    // matmul_kquant.ts (GGUF blocks as stored), read from the source a chunk of rows at a
    // time through a small staging area: no buffer of the whole tensor, each page touched once.
    const elemBytes = wdt === "f32" ? 4 : 2;
    const k = this.kernels;
    const payload = format ? format.blockBytes - 2 * format.halves : 0;
    const rowBytes = byteSize(wdt, [1, cols]);
    const pairBytes = !format
      ? k.float_pair_bytes(cols, elemBytes)
      : format.blockSize === 256
        ? k.superpair_bytes(cols, format.blockBytes)
        : k.pair_bytes(cols, payload, format.halves);
    const bytes = Math.ceil(rows / 2) * pairBytes;
    const ptr = this.heap.alloc(bytes, `tensor ${name}`);
    const chunkRows = Math.max(2, 2 * Math.floor(UPLOAD_CHUNK / (2 * rowBytes)));
    const chunkBytes = chunkRows * rowBytes;
    // Two staging slots, so the next piece is being read (over HTTP: a second request in
    // flight) while this one waits to be packed.
    const staging = this.staging.ensure(2 * chunkBytes);
    const read = (r: number): Promise<void> | null => {
      if (r >= rows) return null;
      const at = staging + ((r / chunkRows) % 2) * chunkBytes;
      // A fresh view each piece: the memory may have grown since the last one.
      const pending = tensor.readInto(this.heap.u8.subarray(at, at + Math.min(chunkRows, rows - r) * rowBytes), r * rowBytes);
      // Awaited below; this only keeps a failure of a read never awaited (after an earlier one failed) from going unhandled.
      pending.catch(() => {});
      return pending;
    };
    const pending = [read(0), read(chunkRows)];
    for (let r = 0; r < rows; r += chunkRows) {
      const slot = (r / chunkRows) % 2;
      await pending[slot];
      const count = Math.min(chunkRows, rows - r);
      const dst = ptr + (r / 2) * pairBytes;
      const at = staging + slot * chunkBytes;
      if (!format) k.pack_float(dst, at, count, cols, elemBytes);
      else if (format.blockSize === 256) k.pack_superblocks(dst, at, count, cols, format.blockBytes);
      else k.pack_blocks(dst, at, count, cols, payload, format.halves);
      pending[slot] = read(r + 2 * chunkRows);
    }
    return new WasmWeight(wdt, [rows, cols], kind, ptr, bytes);
  }

  /**
   * Faults in the next `bytes` bytes of the memory from every thread at once, then gives them
   * back to the allocator, so that the weights uploaded next land on pages already present.
   * The first touch of a page costs a kernel page fault (about 12 µs each on the VMs measured,
   * 3 s per GiB on one thread); several threads fault in parallel.
   */
  prefault(bytes: number): void {
    if (!(bytes > 0) || this.threads === 1) return;
    const size = Math.min(Math.ceil(bytes / 4096) * 4096, this.heap.maxBytes - this.heap.used);
    if (size <= 0) return;
    const ptr = this.heap.alloc(size, "pages faulted in ahead of the weights");
    this.recordSpan(Op.TouchPages, ptr, size);
    this.queue.free(ptr, size);
    // Waits (blocking this thread, at load time) so that the pages are back in the heap for
    // the uploads that follow. A thread that may not block (a page's main thread) leaves it
    // pending: the first upload waits for it.
    if (canBlock()) this.queue.drainSync();
  }

  alloc(rows: number, cols: number): Mat {
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
      throw new InvalidArgumentError(`wasm backend: cannot allocate a [${rows}, ${cols}] matrix`);
    this.quantized = null;
    const bytes = rows * cols * 4;
    const ptr = this.heap.alloc(bytes, `a [${rows}, ${cols}] activation`);
    if (bytes < ZERO_BY_COMMAND_BYTES) this.heap.f32.fill(0, ptr / 4, ptr / 4 + rows * cols);
    else {
      // Fresh memory's first-touch page faults (a batch's scratch and logits: tens of MB, tens
      // of ms) go to the threads, in order before any op on the matrix, as allocKV does.
      this.recordSpan(Op.ZeroBytes, ptr, bytes);
    }
    return new WasmMat(rows, cols, ptr);
  }

  allocKV(kvHeads: number, capacity: number, headDim: number): KVBuffer {
    const floats = kvHeads * capacity * headDim;
    if (!(floats > 0))
      throw new InvalidArgumentError(`wasm backend: cannot allocate a K/V cache of ${kvHeads} heads x ${capacity} slots x ${headDim}`);
    const k = this.heap.alloc(floats * 4, "a K cache");
    const v = this.heap.alloc(floats * 4, "a V cache");
    // Zeroed by a command, in order before any op that uses the cache: tens of MB of first-touch
    // page faults (~3 s per GiB on one thread) stay off the calling thread, a server's event loop.
    this.recordSpan(Op.ZeroBytes, k, floats * 4);
    this.recordSpan(Op.ZeroBytes, v, floats * 4);
    return new WasmKV(kvHeads, capacity, headDim, k, v);
  }

  free(x: Mat | KVBuffer | Weight): void {
    this.quantized = null;
    if (x instanceof WasmMat) this.queue.free(x.ptr, x.rows * x.cols * 4);
    else if (x instanceof WasmKV) {
      const bytes = x.kvHeads * x.capacity * x.headDim * 4;
      this.queue.free(x.k, bytes);
      this.queue.free(x.v, bytes);
    } else if (x instanceof WasmWeight) this.queue.free(x.ptr, x.bytes);
    else throw new InvalidArgumentError("wasm backend: free() of an object from another backend");
  }

  write(dst: Mat, src: Float32Array, row = 0): void {
    const m = mat(dst, "write dst");
    if (src.length % m.cols !== 0 || row < 0 || row + src.length / m.cols > m.rows) {
      throw new InvalidArgumentError(
        `wasm backend: write of ${src.length} floats at row ${row} does not fit a [${m.rows}, ${m.cols}] matrix`,
      );
    }
    if (src.length === 0) return;
    // Staged in the list's arena: a later op recorded before this runs must not see it early.
    const staged = this.queue.arena(src.length * 4);
    this.heap.f32.set(src, staged / 4);
    const a = this.args;
    a[0] = m.ptr + row * m.cols * 4;
    a[1] = staged;
    a[2] = src.length;
    this.dispatch(Op.Copy, src.length);
  }

  async read(src: Mat, row = 0, rows?: number): Promise<Float32Array> {
    const m = mat(src, "read src");
    const count = rows ?? m.rows - row;
    this.checkRange("read", m, row, count);
    return this.queue.flush(() => this.rowView("read", m, row, count).slice());
  }

  async readInto(src: Mat, row: number, rows: number, dst: Float32Array, at = 0): Promise<void> {
    const m = mat(src, "readInto src");
    this.checkRange("readInto", m, row, rows);
    if (at < 0 || at + rows * m.cols > dst.length)
      throw new InvalidArgumentError(`wasm backend: readInto of ${rows * m.cols} floats at ${at} into a destination of ${dst.length}`);
    return this.queue.flush(() => dst.set(this.rowView("readInto", m, row, rows), at));
  }

  // ---- ops ----------------------------------------------------------------------------

  embed(out: Mat, table: Weight, ids: Int32Array): void {
    const o = mat(out, "embed out");
    const t = weight(table, "embed table");
    const [vocab, dim] = t.shape as [number, number];
    if (t.shape.length !== 2 || o.cols !== dim || ids.length > o.rows) {
      throw new InvalidArgumentError(
        `wasm backend: embed of ${ids.length} ids from a [${t.shape.join(", ")}] table into a [${o.rows}, ${o.cols}] matrix`,
      );
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < vocab))
        throw new InvalidArgumentError(`wasm backend: embed: token id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
    }
    if (ids.length === 0) return;
    const idp = this.stageInt32(ids);
    const a = this.args;
    a[0] = o.ptr;
    a[1] = t.ptr;
    a[2] = t.kind;
    a[3] = idp;
    a[4] = dim;
    a[5] = ids.length;
    this.dispatch(Op.Embed, ids.length * dim);
  }

  rmsnorm(out: Mat, x: Mat, w: Weight, eps: number, n: number): void {
    const o = mat(out, "rmsnorm out");
    const xi = mat(x, "rmsnorm x");
    const wt = weight(w, "rmsnorm weight");
    checkRows("rmsnorm", n, o, xi);
    if (o.cols !== xi.cols || wt.shape.length !== 1 || wt.shape[0] !== xi.cols) {
      throw new InvalidArgumentError(
        `wasm backend: rmsnorm of [${xi.rows}, ${xi.cols}] with weight [${wt.shape.join(", ")}] into [${o.rows}, ${o.cols}]`,
      );
    }
    const a = this.args;
    a[0] = o.ptr;
    a[1] = xi.ptr;
    a[2] = wt.ptr;
    a[3] = eps;
    a[4] = xi.cols;
    a[5] = n;
    this.dispatch(Op.RmsNorm, n * xi.cols);
  }

  matmul(out: Mat, x: Mat, w: Weight, bias: Weight | null, n: number): void {
    const o = mat(out, "matmul out");
    const xi = mat(x, "matmul x");
    const wt = weight(w, "matmul weight");
    checkRows("matmul", n, o, xi);
    const [N, K] = wt.shape as [number, number];
    if (wt.shape.length !== 2 || xi.cols !== K || o.cols !== N) {
      throw new InvalidArgumentError(
        `wasm backend: matmul of x [${xi.rows}, ${xi.cols}] by weight [${wt.shape.join(", ")}] into [${o.rows}, ${o.cols}]`,
      );
    }
    let biasPtr = 0;
    if (bias) {
      const b = weight(bias, "matmul bias");
      if (b.shape.length !== 1 || b.shape[0] !== N)
        throw new InvalidArgumentError(`wasm backend: matmul bias [${b.shape.join(", ")}] does not match ${N} outputs`);
      biasPtr = b.ptr;
    }
    if (n === 0) return;
    const a = this.args;
    if (wt.kind >= Kind.Q8_0) {
      const [xq, xq16, xd, xs] = this.quantizeFor(xi, wt.kind, n, K);
      if (!this.joinProduct(wt, o.ptr, biasPtr, xq, n, K, N)) {
        a[0] = wt.kind;
        a[1] = o.ptr;
        a[2] = xq;
        a[3] = xq16;
        a[4] = xd;
        a[5] = xs;
        a[6] = wt.ptr;
        a[7] = biasPtr;
        a[8] = n;
        a[9] = K;
        a[10] = N;
        a[11] = 0;
        this.queue.record(Op.MatmulQuant, false);
      }
      // A product that overwrites the quantised input's rows makes that quantisation stale.
      const q = this.quantized;
      if (q && o.ptr < q.x + q.n * q.K * 4 && q.x < o.ptr + n * N * 4) this.quantized = null;
    } else {
      // bf16 rows past the 4-row tiles take the decode kernel, which wants x permuted (permute8).
      let xp = 0;
      if (wt.kind === Kind.BF16 && K % 8 === 0 && n % 4 !== 0) {
        xp = this.xq.ensure(n * K * 4);
        a[0] = xp;
        a[1] = xi.ptr;
        a[2] = K;
        a[3] = n;
        this.dispatch(Op.Permute8, n * K);
      }
      a[0] = wt.kind;
      a[1] = o.ptr;
      a[2] = xi.ptr;
      a[3] = wt.ptr;
      a[4] = biasPtr;
      a[5] = n;
      a[6] = K;
      a[7] = N;
      a[8] = xp;
      this.record(Op.MatmulFloat, false);
    }
  }

  rope(x: Mat, n: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    const xi = mat(x, "rope x");
    const h = headDim / 2;
    if (n < 0 || n > xi.rows || xi.cols !== heads * headDim || headDim % 2 !== 0 || cos.length < n * h || sin.length < n * h) {
      throw new InvalidArgumentError(
        `wasm backend: rope on [${xi.rows}, ${xi.cols}] with n=${n}, ${heads} heads of ${headDim}, cos/sin of ${cos.length}/${sin.length}`,
      );
    }
    if (n === 0) return;
    const bytes = align64(n * h * 4);
    const base = this.queue.arena(2 * bytes);
    const f32 = this.heap.f32;
    f32.set(cos.subarray(0, n * h), base / 4);
    f32.set(sin.subarray(0, n * h), (base + bytes) / 4);
    const a = this.args;
    a[0] = xi.ptr;
    a[1] = base;
    a[2] = base + bytes;
    a[3] = heads;
    a[4] = headDim;
    a[5] = n;
    this.dispatch(Op.Rope, n * xi.cols);
  }

  storeKV(kv: KVBuffer, k: Mat, v: Mat, row: number, count: number, slot: number): void {
    const c = cache(kv, "storeKV cache");
    const km = mat(k, "storeKV k");
    const vm = mat(v, "storeKV v");
    const width = c.kvHeads * c.headDim;
    if (
      km.cols !== width ||
      vm.cols !== width ||
      row < 0 ||
      row + count > km.rows ||
      row + count > vm.rows ||
      slot < 0 ||
      count > c.capacity
    ) {
      throw new InvalidArgumentError(
        `wasm backend: storeKV of rows [${row}, ${row + count}) of k [${km.rows}, ${km.cols}] into a cache of ${c.kvHeads} x ${c.capacity} x ${c.headDim} at slot ${slot}`,
      );
    }
    if (count === 0) return;
    const a = this.args;
    a[0] = c.k;
    a[1] = c.v;
    a[2] = km.ptr + row * width * 4;
    a[3] = vm.ptr + row * width * 4;
    a[4] = c.kvHeads;
    a[5] = c.capacity;
    a[6] = c.headDim;
    a[7] = slot;
    a[8] = count;
    this.dispatch(Op.StoreKV, count * width);
  }

  attention(out: Mat, q: Mat, segments: readonly AttentionSegment[], params: AttentionParams): void {
    const o = mat(out, "attention out");
    const qm = mat(q, "attention q");
    const { heads, kvHeads, headDim, scale, window } = params;
    const width = heads * headDim;
    if (qm.cols !== width || o.cols !== width || heads % kvHeads !== 0) {
      throw new InvalidArgumentError(
        `wasm backend: attention with ${heads} heads / ${kvHeads} kv heads of ${headDim} on q [${qm.rows}, ${qm.cols}] into [${o.rows}, ${o.cols}]`,
      );
    }
    if (window !== null && !(Number.isInteger(window) && window >= 1))
      throw new InvalidArgumentError(`wasm backend: attention window must be a positive integer or null, got ${window}`);
    if (segments.length === 0) return;
    const desc = this.queue.arena(segments.length * 24);
    const i32 = this.heap.i32;
    let items = 0;
    let longest = 1;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      const c = cache(seg.kv, `attention segment ${s} cache`);
      if (
        c.kvHeads !== kvHeads ||
        c.headDim !== headDim ||
        seg.row < 0 ||
        seg.count < 0 ||
        seg.row + seg.count > Math.min(qm.rows, o.rows) ||
        seg.past < 0
      ) {
        throw new InvalidArgumentError(
          `wasm backend: attention segment ${s} (rows [${seg.row}, ${seg.row + seg.count}), past ${seg.past}) does not fit q [${qm.rows}, ${qm.cols}] or its cache (${c.kvHeads} x ${c.capacity} x ${c.headDim})`,
        );
      }
      const seen = window === null ? seg.past + seg.count : Math.min(window, seg.past + seg.count);
      const needed = window === null ? seg.past + seg.count : Math.min(seg.past + seg.count, window + seg.count - 1);
      if (c.capacity < needed)
        throw new InvalidArgumentError(
          `wasm backend: attention segment ${s} needs ${needed} cached slots but its cache holds ${c.capacity}`,
        );
      longest = Math.max(longest, seen);
      const d = desc / 4 + s * 6;
      i32[d] = c.k;
      i32[d + 1] = c.v;
      i32[d + 2] = c.capacity;
      i32[d + 3] = seg.row;
      i32[d + 4] = seg.count;
      i32[d + 5] = seg.past;
      items += heads * seg.count;
    }
    if (items === 0) return;
    const stride = align64(longest * 4);
    const scores = this.scores.ensure(stride * this.threads);
    const a = this.args;
    a[0] = o.ptr;
    a[1] = qm.ptr;
    a[2] = desc;
    a[3] = segments.length;
    a[4] = heads;
    a[5] = kvHeads;
    a[6] = headDim;
    a[7] = scale;
    a[8] = window ?? 0;
    a[9] = items;
    a[10] = scores;
    a[11] = stride;
    this.record(Op.Attention, false);
  }

  swiglu(out: Mat, gate: Mat, up: Mat, n: number): void {
    // An exponential and a division per value: worth two threads from a few thousand values.
    this.elementwise(Op.SwiGLU, "swiglu", out, gate, up, n, SPLIT_QUANTIZE);
  }

  add(out: Mat, a: Mat, b: Mat, n: number): void {
    this.elementwise(Op.Add, "add", out, a, b, n);
  }

  copyRows(out: Mat, x: Mat, rows: Int32Array): void {
    const o = mat(out, "copyRows out");
    const xi = mat(x, "copyRows x");
    if (o.cols !== xi.cols || rows.length > o.rows)
      throw new InvalidArgumentError(
        `wasm backend: copyRows of ${rows.length} rows of [${xi.rows}, ${xi.cols}] into [${o.rows}, ${o.cols}]`,
      );
    checkRowIndices("copyRows", rows, xi.rows);
    if (rows.length === 0) return;
    const idx = this.stageInt32(rows);
    const a = this.args;
    a[0] = o.ptr;
    a[1] = xi.ptr;
    a[2] = idx;
    a[3] = o.cols;
    a[4] = rows.length;
    this.dispatch(Op.CopyRows, rows.length * o.cols);
  }

  addScaledRows(out: Mat, x: Mat, rows: Int32Array, scale: number): void {
    const o = mat(out, "addScaledRows out");
    const xi = mat(x, "addScaledRows x");
    if (o === xi || o.cols !== xi.cols || rows.length > xi.rows)
      throw new InvalidArgumentError(
        `wasm backend: addScaledRows of ${rows.length} rows of [${xi.rows}, ${xi.cols}] into [${o.rows}, ${o.cols}]`,
      );
    checkRowIndices("addScaledRows", rows, o.rows);
    if (rows.length === 0) return;
    // Small (a LoRA delta: the rows of a batch times one layer's outputs), on thread 0 alone
    // (rows may repeat), with the reference's arithmetic: each sum in double, rounded once.
    const idx = this.stageInt32(rows);
    const a = this.args;
    a[0] = o.ptr;
    a[1] = xi.ptr;
    a[2] = idx;
    a[3] = o.cols;
    a[4] = rows.length;
    a[5] = scale;
    this.record(Op.AddScaledRows, true);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue.dispose();
    this.pool.stop();
  }

  // ---- helpers ------------------------------------------------------------------------

  /**
   * The activations x (n rows of K) quantised for weights of `kind`, in the scratch: records
   * the quantisation unless the scratch already holds x in that format (q, k and v share one,
   * and so do gate and up), that is unless no command that may change x or the scratch has
   * been recorded since. Returns the pointers xq, xq16, xd, xs.
   */
  private quantizeFor(x: WasmMat, kind: Kind, n: number, K: number): [number, number, number, number] {
    // Activations are quantised as ggml pairs them with the weight type: per 32 values (scale
    // and scale x sum per block) or Q8_K (one scale per 256 values, one int16 sum per 16).
    const k8 = usesQ8K(kind);
    const format = k8 ? 2 : usesQ8_1(kind) ? 1 : 0;
    // Q8_K: the quants twice, natural then permuted for Q4_K/Q5_K/Q6_K (assembly/kquant_layout.ts);
    // n K is then a multiple of 256, so the permuted copy starts at xq + n K (xq16 + 2 n K).
    const copies = k8 ? 2 : 1;
    const qb = align64(n * K);
    const scales = align64(((n * K) / (k8 ? 256 : 32)) * 4);
    const sums = k8 ? align64(((n * K) / 16) * 2) : scales;
    const base = this.xq.ensure(3 * copies * qb + scales + sums);
    const xq16 = base + copies * qb,
      xd = xq16 + 2 * copies * qb,
      xs = xd + scales;
    const q = this.quantized;
    if (q && q.x === x.ptr && q.n === n && q.K === K && q.format === format && q.base === base) return [base, xq16, xd, xs];
    const a = this.args;
    a[0] = x.ptr;
    a[1] = base;
    a[2] = xq16;
    a[3] = xd;
    a[4] = xs;
    a[5] = K;
    a[6] = n;
    a[7] = k8 ? n * K : format === 1 ? 1 : 0;
    // Cheap per value: split across the threads only when long (the down projection's input).
    this.dispatch(k8 ? Op.QuantizeK : Op.Quantize, n * K, SPLIT_QUANTIZE);
    this.quantized = { x: x.ptr, n, K, format, base };
    return [base, xq16, xd, xs];
  }

  /**
   * Adds a product to the last recorded command when that is a product (deferred mode, not yet
   * submitted) on the same quantised activations with room for another (at most three: q, k
   * and v; gate and up): the threads then claim the rows of all of them as one range, with one
   * publish and one join instead of one per product. Only when every product's row count is a
   * multiple of 4 (chunks stay on row pairs) and no output overlaps another's.
   */
  private joinProduct(w: WasmWeight, out: number, bias: number, xq: number, n: number, K: number, N: number): boolean {
    const at = this.queue.pendingArgs(Op.MatmulQuant);
    if (at < 0 || N % 4 !== 0) return false;
    const f = this.heap.f64;
    const extra = f[at + 11]!;
    if (f[at + 2] !== xq || f[at + 8] !== n || f[at + 9] !== K || extra >= MAX_JOINED - 1 || f[at + 10]! % 4 !== 0) return false;
    const bytes = n * N * 4;
    for (let p = 0; p <= extra; p++) {
      const o = p === 0 ? f[at + 1]! : f[at + 12 + 5 * (p - 1) + 1]!;
      const rows = p === 0 ? f[at + 10]! : f[at + 12 + 5 * (p - 1) + 4]!;
      if (out < o + n * rows * 4 && o < out + bytes) return false;
    }
    const e = at + 12 + 5 * extra;
    f[e] = w.kind;
    f[e + 1] = out;
    f[e + 2] = w.ptr;
    f[e + 3] = bias;
    f[e + 4] = N;
    f[at + 11] = extra + 1;
    return true;
  }

  /** Records `op`; the quantised activations may no longer match what they were made from. */
  private record(op: Op, local: boolean): void {
    this.quantized = null;
    this.queue.record(op, local);
  }

  /** Records `op` (TouchPages or ZeroBytes) over `bytes` bytes from `ptr`, shared across the threads by pages. */
  private recordSpan(op: Op, ptr: number, bytes: number): void {
    this.args[0] = ptr;
    this.args[1] = bytes;
    this.record(op, false);
  }

  /** Copies `values` into the list's arena, where they stay until the command using them has run. */
  private stageInt32(values: Int32Array): number {
    const ptr = this.queue.arena(values.length * 4);
    this.heap.i32.set(values, ptr / 4);
    return ptr;
  }

  private elementwise(op: Op, what: string, out: Mat, a: Mat, b: Mat, n: number, alone?: number): void {
    const o = mat(out, `${what} out`);
    const am = mat(a, `${what} a`);
    const bm = mat(b, `${what} b`);
    checkRows(what, n, o, am);
    checkRows(what, n, o, bm);
    if (o.cols !== am.cols || o.cols !== bm.cols)
      throw new InvalidArgumentError(
        `wasm backend: ${what} of [${am.rows}, ${am.cols}] and [${bm.rows}, ${bm.cols}] into [${o.rows}, ${o.cols}]`,
      );
    if (n === 0) return;
    const args = this.args;
    args[0] = o.ptr;
    args[1] = am.ptr;
    args[2] = bm.ptr;
    args[3] = n * o.cols;
    this.dispatch(op, n * o.cols, alone);
  }

  private checkRange(what: string, m: WasmMat, row: number, rows: number): void {
    if (row < 0 || rows < 0 || row + rows > m.rows)
      throw new InvalidArgumentError(`wasm backend: ${what} of rows [${row}, ${row + rows}) from a [${m.rows}, ${m.cols}] matrix`);
  }

  /** Rows [row, row + rows) of m (already checked) as a view of the memory. */
  private rowView(what: string, m: WasmMat, row: number, rows: number): Float32Array {
    this.checkRange(what, m, row, rows);
    const start = m.ptr / 4 + row * m.cols;
    return this.heap.f32.subarray(start, start + rows * m.cols);
  }

  /** Small jobs run on thread 0 alone: a dispatch to the helpers costs more than it saves. */
  private dispatch(op: Op, work: number, alone = 16384): void {
    this.record(op, work < alone);
  }
}

/** Most products one command holds (see joinProduct). */
const MAX_JOINED = 3;
/** Values from which a quantisation or SwiGLU is split across the threads (below, thread 0 does it alone). */
const SPLIT_QUANTIZE = 4096;

/** Bytes read from a weight file per step at upload: bounds the staging area of 2-D weights. */
const UPLOAD_CHUNK = 4 << 20;

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

function mat(x: Mat, what: string): WasmMat {
  if (!(x instanceof WasmMat)) throw new InvalidArgumentError(`wasm backend: ${what} is not a matrix of this backend`);
  return x;
}

function weight(x: Weight, what: string): WasmWeight {
  if (!(x instanceof WasmWeight)) throw new InvalidArgumentError(`wasm backend: ${what} is not a weight of this backend`);
  return x;
}

function cache(x: KVBuffer, what: string): WasmKV {
  if (!(x instanceof WasmKV)) throw new InvalidArgumentError(`wasm backend: ${what} is not a K/V cache of this backend`);
  return x;
}

/** Each of `rows` must index a row of a matrix of `limit` rows. */
function checkRowIndices(what: string, rows: Int32Array, limit: number): void {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (!(r >= 0 && r < limit)) throw new InvalidArgumentError(`wasm backend: ${what}: row ${r} at position ${i} is outside [0, ${limit})`);
  }
}

function checkRows(what: string, n: number, ...mats: WasmMat[]): void {
  for (const m of mats) {
    if (!Number.isInteger(n) || n < 0 || n > m.rows)
      throw new InvalidArgumentError(`wasm backend: ${what} of ${n} rows on a matrix of ${m.rows} rows`);
  }
}
