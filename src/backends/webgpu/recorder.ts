/**
 * Work waiting for the GPU: one command encoder that ops record into, and an upload arena
 * for what ops bring from the CPU (uniform parameters, token ids, RoPE tables, row lists).
 * Nothing reaches the GPU until `flush()`, which writes the arena once and submits the
 * encoder as one command buffer; a backend flushes when it must read a result back, so a
 * forward step is one submit with no round trip inside it.
 *
 * The arena is written at flush time, so every op's arena range stays valid until its
 * dispatch runs; after a submit the ranges are reused, which is safe because queue
 * operations run in order (the next arena write lands after the submitted work).
 */
import { UnsupportedError } from "../../errors.js";
import {
  BufferUsage,
  type GPUBindGroupEntryLike,
  type GPUBufferLike,
  type GPUCommandEncoderLike,
  type GPUComputePassLike,
  type GPUComputePipelineLike,
  type GPUDeviceLike,
} from "./gpu_types.js";

/** The arena's first size; it grows (after a flush) when one op needs more. */
const ARENA_BYTES = 4 * 2 ** 20;
/** Offsets of uniform and storage bindings must be multiples of this (the WebGPU default limit). */
export const ARENA_ALIGN = 256;

/** A binding: a buffer, or a range of one. */
export type Binding = GPUBufferLike | { readonly buffer: GPUBufferLike; readonly offset: number; readonly size: number };

export class Recorder {
  private encoder: GPUCommandEncoderLike | null = null;
  private pass: GPUComputePassLike | null = null;
  private arena: GPUBufferLike;
  private staging: Uint8Array;
  private used = 0;
  /** Buffers freed while work that may use them is still recorded: destroyed after the next submit. */
  private doomed: GPUBufferLike[] = [];
  /** Dispatches and submits so far (for benchmarks: dispatches per decoded token). */
  dispatches = 0;
  submits = 0;
  /** Counts recorded commands: results read back stay current while it does not change. */
  version = 0;
  /** Counts arena resets: an arena range is valid only within the epoch it was reserved in. */
  epoch = 0;

  constructor(private readonly device: GPUDeviceLike) {
    this.arena = this.makeArena(ARENA_BYTES);
    this.staging = new Uint8Array(ARENA_BYTES);
  }

  private makeArena(bytes: number): GPUBufferLike {
    return this.device.createBuffer({
      size: bytes,
      usage: BufferUsage.UNIFORM | BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
      label: "qwen2 upload arena",
    });
  }

  /**
   * Reserves arena ranges of the given byte sizes for one op (all in the same submit) and
   * returns their offsets; fill them through `bytes(offset, size)` before the next reserve.
   */
  reserve(...sizes: number[]): number[] {
    const aligned = sizes.map((s) => Math.ceil(Math.max(s, 16) / ARENA_ALIGN) * ARENA_ALIGN);
    const total = aligned.reduce((a, b) => a + b, 0);
    if (this.used + total > this.staging.length) {
      this.flush();
      if (total > this.staging.length) {
        const max = this.device.limits.maxBufferSize;
        if (total > max)
          throw new UnsupportedError(`one op needs ${total} bytes of inputs, more than this device's maxBufferSize (${max})`);
        this.arena.destroy();
        const bytes = Math.min(max, Math.max(total, this.staging.length * 2));
        this.arena = this.makeArena(bytes);
        this.staging = new Uint8Array(bytes);
      }
    }
    return aligned.map((size) => {
      const at = this.used;
      this.used += size;
      return at;
    });
  }

  /** The arena's CPU copy of [offset, offset + size). */
  bytes(offset: number, size: number): Uint8Array {
    return this.staging.subarray(offset, offset + size);
  }

  /** An arena range as a binding. */
  range(offset: number, size: number): Binding {
    return { buffer: this.arena, offset, size: Math.ceil(Math.max(size, 16) / 16) * 16 };
  }

  /** Records one compute dispatch; bindings are numbered in order, skipping nulls. */
  dispatch(pipeline: GPUComputePipelineLike, bindings: readonly (Binding | null)[], x: number, y = 1): void {
    const entries: GPUBindGroupEntryLike[] = [];
    bindings.forEach((b, i) => {
      if (b === null) return;
      entries.push({ binding: i, resource: "buffer" in b ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b } });
    });
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y);
    this.dispatches++;
    this.version++;
  }

  /** Records a copy between buffers (offsets and size multiples of 4). */
  copy(src: GPUBufferLike, srcOffset: number, dst: GPUBufferLike, dstOffset: number, size: number): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.version++;
  }

  /** Records a copy from an arena range (filled by the caller) into a buffer. */
  copyFromArena(offset: number, dst: GPUBufferLike, dstOffset: number, size: number): void {
    this.copy(this.arena, offset, dst, dstOffset, size);
  }

  /** Destroys `buffer` once the work recorded so far has been submitted. */
  release(buffer: GPUBufferLike): void {
    this.doomed.push(buffer);
  }

  /** Writes the arena and submits everything recorded, as one command buffer. */
  flush(): void {
    if (this.encoder !== null) {
      this.endPass();
      if (this.used > 0) this.device.queue.writeBuffer(this.arena, 0, this.staging, 0, this.used);
      this.device.queue.submit([this.encoder.finish()]);
      this.submits++;
      this.encoder = null;
    }
    this.used = 0;
    this.epoch++;
    // Destroying after the submit is safe: WebGPU frees the memory once the submitted work is done.
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  dispose(): void {
    this.encoder = null;
    this.pass = null;
    this.arena.destroy();
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  private commandEncoder(): GPUCommandEncoderLike {
    this.encoder ??= this.device.createCommandEncoder({ label: "qwen2 step" });
    return this.encoder;
  }

  private computePass(): GPUComputePassLike {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}
