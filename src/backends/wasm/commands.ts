/**
 * The WebAssembly backend's command lists: every op appends one command (op code, whether it
 * is small enough for thread 0 alone, its 32 arguments) to the list being recorded, which
 * lives in the shared memory; `flush` hands the list to the pool and resolves once it has run
 * (see pool.ts for the two modes). In immediate mode each command runs as it is recorded.
 *
 * What a recorded command uses must stay as it was until the command runs:
 * - data the caller passes (token ids, rotary tables, attention descriptors, staged writes,
 *   row indices) goes into the list's own arena, a bump area reset when the list has run;
 * - a region freed while commands are pending (a model's free, a scratch area that grows)
 *   returns to the heap only when the latest list that may use it has run (lists run in
 *   order), so nothing allocated meanwhile (and zero-filled at once) can alias it.
 */
import type { Heap } from "./heap.js";
import { opName, type Op } from "./kernels.js";
import { CMD_F64, type ThreadPool } from "./pool.js";

interface Waiter {
  then: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

class CommandList {
  /** Byte offset of the commands in the memory, and room for how many. */
  ptr = 0;
  capacity = 0;
  count = 0;
  arena = 0;
  arenaBytes = 0;
  arenaUsed = 0;
  /** Pairs (ptr, bytes) that go back to the heap once this list has run. */
  frees: number[] = [];
  /** Callers waiting for this list (a read): each `then` runs before the next list starts. */
  waiters: Waiter[] = [];
  seq = 0;
}

const ALIGN = 64;

export class CommandQueue {
  /** Arguments of the command being recorded. */
  readonly args = new Float64Array(32);
  private recording = new CommandList();
  /** Closed lists not yet handed to the driver (one runs at a time). */
  private readonly waiting: CommandList[] = [];
  private running: CommandList | null = null;
  private readonly spare: CommandList[] = [];
  private seq = 0;
  private disposed = false;
  /** Commands recorded since the queue was made (a diagnostic: tests count what ops cost). */
  recorded = 0;

  constructor(
    private readonly heap: Heap,
    private readonly pool: ThreadPool,
  ) {
    pool.onListDone = (seq, error) => this.listDone(seq, error);
    // The first list's room now, below anything a model allocates (a prefault's region then
    // returns to the top of the heap).
    this.grow(this.recording);
  }

  /** Whether recorded commands have not all run yet. */
  get pending(): boolean {
    return this.recording.count > 0 || this.running !== null || this.waiting.length > 0;
  }

  /** Appends `op` with the arguments in `args` (thread 0 alone when `local`). */
  record(op: Op, local: boolean): void {
    if (this.disposed) throw new Error("wasm backend: used after dispose()");
    const list = this.recording;
    if (list.count === list.capacity) this.grow(list);
    const f64 = this.heap.f64;
    const c = list.ptr / 8 + list.count * CMD_F64;
    f64[c] = op;
    f64[c + 1] = local ? 1 : 0;
    f64.set(this.args, c + 2);
    list.count++;
    this.recorded++;
    if (!this.pool.deferred) {
      try {
        this.pool.runHere(this.heap.f64, list.ptr / 8, list.count);
      } finally {
        list.count = 0;
        list.arenaUsed = 0;
        for (let i = 0; i < list.frees.length; i += 2) this.heap.free(list.frees[i]!, list.frees[i + 1]!);
        list.frees.length = 0;
      }
    }
  }

  /**
   * Deferred mode: the Float64 index (in the memory) of the arguments of the last command
   * recorded, when it is an `op` command that has not been handed to the driver yet, so that
   * the caller may still extend it; else -1 (immediate mode runs each command at once).
   */
  pendingArgs(op: Op): number {
    const list = this.recording;
    if (!this.pool.deferred || list.count === 0) return -1;
    const c = list.ptr / 8 + (list.count - 1) * CMD_F64;
    return this.heap.f64[c] === op ? c + 2 : -1;
  }

  /** `bytes` (64-byte aligned) of the recording list's arena, valid until the list has run. */
  arena(bytes: number): number {
    const list = this.recording;
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (list.arenaUsed + size > list.arenaBytes) {
      // Commands already recorded may still read the old area: it goes back with the list.
      if (list.arenaBytes > 0) {
        if (list.arenaUsed > 0) list.frees.push(list.arena, list.arenaBytes);
        else this.heap.free(list.arena, list.arenaBytes);
      }
      list.arenaBytes = Math.max(size, list.arenaBytes * 2, 4096);
      list.arena = this.heap.alloc(list.arenaBytes, "ids, rotary tables, descriptors and staged writes of a command list");
      list.arenaUsed = 0;
    }
    const ptr = list.arena + list.arenaUsed;
    list.arenaUsed += size;
    return ptr;
  }

  /** Gives a region back to the heap once no pending command can use it. */
  free(ptr: number, bytes: number): void {
    const latest = this.recording.count > 0 ? this.recording : (this.waiting.at(-1) ?? this.running);
    if (latest) latest.frees.push(ptr, bytes);
    else this.heap.free(ptr, bytes);
  }

  /**
   * Runs what has been recorded and resolves with `then()`, called once those commands have
   * run and before any recorded later does; rejects when one of them failed.
   */
  flush<T>(then: () => T): Promise<T> {
    if (this.disposed) return Promise.reject(new Error("wasm backend: used after dispose()"));
    this.close();
    const latest = this.waiting.at(-1) ?? this.running;
    if (!latest) {
      try {
        return Promise.resolve(then());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      latest.waiters.push({ then, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /**
   * Runs what has been recorded and blocks this thread until it has (for callers that need
   * the memory synchronously; a page's main thread may not block). Throws when a command failed.
   */
  drainSync(): void {
    if (this.disposed) throw new Error("wasm backend: used after dispose()");
    this.close();
    let failure: Error | null = null;
    while (this.running) {
      const list = this.running;
      const op = this.pool.waitFor(list.seq);
      const error = op >= 0 ? new Error(`wasm backend: operation ${opName(op)} failed (a kernel trapped)`) : null;
      failure ??= error;
      this.complete(list, error);
    }
    if (failure) throw failure;
  }

  /** Rejects every waiter; the pool is stopped by the caller. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const error = new Error("wasm backend: disposed while operations were pending");
    const lists = [...(this.running ? [this.running] : []), ...this.waiting];
    this.running = null;
    this.waiting.length = 0;
    for (const list of lists) for (const w of list.waiters.splice(0)) w.reject(error);
  }

  private close(): void {
    const list = this.recording;
    if (list.count === 0) return;
    list.seq = ++this.seq;
    this.waiting.push(list);
    this.recording = this.spare.pop() ?? new CommandList();
    this.kick();
  }

  private kick(): void {
    if (this.running || this.waiting.length === 0 || this.disposed) return;
    const list = this.waiting.shift()!;
    this.running = list;
    this.pool.submit(list.ptr, list.count, list.seq);
  }

  private listDone(seq: number, error: string | null): void {
    if (seq === -1) {
      // The driver is gone: nothing pending will run.
      const failure = new Error(error ?? "wasm backend: the driver thread failed");
      const lists = [...(this.running ? [this.running] : []), ...this.waiting];
      this.running = null;
      this.waiting.length = 0;
      for (const list of lists) for (const w of list.waiters.splice(0)) w.reject(failure);
      return;
    }
    // A list drainSync has already completed answers too: ignore it.
    if (this.running && this.running.seq === seq) this.complete(this.running, error === null ? null : new Error(error));
  }

  private complete(list: CommandList, error: Error | null): void {
    this.running = null;
    const done = [list];
    // Lists queued behind a failed one would compute on its garbage: they fail with it.
    if (error) done.push(...this.waiting.splice(0));
    const waiters: Waiter[] = [];
    for (const l of done) {
      for (let i = 0; i < l.frees.length; i += 2) this.heap.free(l.frees[i]!, l.frees[i + 1]!);
      l.frees.length = 0;
      l.count = 0;
      l.arenaUsed = 0;
      waiters.push(...l.waiters.splice(0));
      // A recording list that has no room yet takes this one's instead of allocating.
      const r = this.recording;
      if (r.count === 0 && r.capacity === 0 && r.arenaBytes === 0) this.recording = l;
      else this.spare.push(l);
    }
    for (const w of waiters) {
      if (error) w.reject(error);
      else {
        try {
          w.resolve(w.then());
        } catch (err) {
          w.reject(err);
        }
      }
    }
    this.kick();
  }

  /** Doubles a list's room (it is not submitted yet, so its old area is free at once). */
  private grow(list: CommandList): void {
    const capacity = Math.max(256, list.capacity * 2);
    const ptr = this.heap.alloc(capacity * CMD_F64 * 8, "a command list");
    if (list.count > 0) {
      const f64 = this.heap.f64;
      f64.copyWithin(ptr / 8, list.ptr / 8, list.ptr / 8 + list.count * CMD_F64);
    }
    if (list.capacity > 0) this.heap.free(list.ptr, list.capacity * CMD_F64 * 8);
    list.ptr = ptr;
    list.capacity = capacity;
  }
}
