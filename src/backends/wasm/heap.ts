/**
 * Allocation inside the backend's shared WasmMemory: a bump pointer plus free lists
 * by exact (rounded) size, which is all a model needs (weights once, activations and caches
 * of a few recurring sizes). Memory grows on demand up to the configured maximum.
 */
import type { WasmMemory } from "./wasm_api.js";
import { InvalidArgumentError } from "../../errors.js";

const PAGE = 65536;
/** The first 64 KiB belong to the kernel module's constant data (math tables). */
const RESERVED = 65536;
const ALIGN = 64;

export class Heap {
  private top = RESERVED;
  private readonly freeLists = new Map<number, number[]>();
  private f32View: Float32Array;
  private u8View: Uint8Array;
  private i32View: Int32Array;
  private f64View: Float64Array;

  constructor(
    readonly memory: WasmMemory,
    /** Largest size the memory may reach, in bytes. */
    readonly maxBytes: number,
  ) {
    this.f32View = new Float32Array(memory.buffer);
    this.u8View = new Uint8Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
    this.f64View = new Float64Array(memory.buffer);
  }

  /** Bytes in use or reserved (the bump pointer). */
  get used(): number {
    return this.top;
  }

  /** Returns a 64-byte aligned block of at least `bytes` bytes (contents undefined). */
  alloc(bytes: number, what: string): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const list = this.freeLists.get(size);
    if (list && list.length > 0) return list.pop()!;
    const ptr = this.top;
    const end = ptr + size;
    if (end > this.maxBytes) {
      throw new InvalidArgumentError(
        `wasm backend: cannot allocate ${(size / 2 ** 20).toFixed(1)} MiB for ${what}: the memory would reach ${(end / 2 ** 20).toFixed(0)} MiB, over its limit of ${(this.maxBytes / 2 ** 20).toFixed(0)} MiB (option maxMemoryMiB, at most 4096)`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return ptr;
  }

  free(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (ptr + size === this.top) {
      this.top = ptr;
      return;
    }
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
  }

  private refresh(): void {
    if (this.u8View.byteLength !== this.memory.buffer.byteLength) {
      this.f32View = new Float32Array(this.memory.buffer);
      this.u8View = new Uint8Array(this.memory.buffer);
      this.i32View = new Int32Array(this.memory.buffer);
      this.f64View = new Float64Array(this.memory.buffer);
    }
  }

  get f32(): Float32Array {
    this.refresh();
    return this.f32View;
  }
  get u8(): Uint8Array {
    this.refresh();
    return this.u8View;
  }
  get i32(): Int32Array {
    this.refresh();
    return this.i32View;
  }
  get f64(): Float64Array {
    this.refresh();
    return this.f64View;
  }
}
