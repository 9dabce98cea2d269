/**
 * The compute threads and how a command list runs on them.
 *
 * Thread 0 (a Conductor) runs each command in order: it writes the command's arguments into
 * the control block, publishes the op by bumping a generation counter, runs its own static
 * share (see `execute`) and waits until the helper workers count themselves done; a small
 * ("local") command it runs alone. Waiting spins briefly (a round trip then costs well under
 * a microsecond) and then sleeps in Atomics.wait, so an idle or contended core is never burnt
 * by an unbounded spin.
 *
 * Two modes, chosen by the environment:
 * - deferred (shared memory: Node, Deno, Bun, cross-origin-isolated pages): thread 0 is a
 *   driver worker. The caller records commands into a list in the shared memory and submits
 *   the whole list with one message; the driver runs it and answers with one message. The
 *   calling thread never computes and never blocks, so its event loop keeps running.
 * - immediate (no shared memory, so one thread): the calling thread is thread 0 and runs each
 *   command as it is recorded.
 */
import { spawnWorker, type ComputeWorker, type WebWorkerConstructor } from "#platform";
import type { WasmMemory, WasmModule } from "./wasm_api.js";
import { execute, opName, prepare, Op, type KernelExports } from "./kernels.js";
import type { ListProfile } from "./profile.js";
import {
  CTL_DONE,
  CTL_FAILED,
  CTL_GEN,
  CTL_LIST_FAILED,
  CTL_LISTS_DONE,
  CTL_MAIN_SLEEPING,
  CTL_OP,
  CTL_SLEEPING,
  CTL_SLOTS,
} from "./control.js";

export { CONTROL_BYTES, MAX_THREADS } from "./control.js";
/** Loads before a waiting thread falls asleep (~10-40 µs). */
export const SPIN_LIMIT = 20000;
/** Browsers' global; only `webWorker` below calls it, and only browsers call that. */
declare const Worker: WebWorkerConstructor;

/**
 * The compute worker beside this module. Browsers make it with the literal
 * `new Worker(new URL("./worker.js", import.meta.url), ...)`, the shape bundlers recognise and
 * bundle worker.js for; Node starts the URL, built from a constant so that bundlers do not copy
 * the unbundled file as an asset too.
 */
const WORKER_FILE = "./worker.js";
function spawnComputeWorker(workerUrl: URL | undefined, name: string): ComputeWorker {
  if (workerUrl) return spawnWorker(workerUrl, { name });
  return spawnWorker(new URL(WORKER_FILE, import.meta.url), {
    name,
    webWorker: (o) => new Worker(new URL("./worker.js", import.meta.url), { ...o, type: "module" }),
  });
}

/** Float64 slots per recorded command: op code, local flag (1: thread 0 alone), 32 arguments. */
export const CMD_F64 = 34;

/** The first message a compute worker receives. */
export interface WorkerInit {
  memory: WasmMemory;
  module: WasmModule;
  control: number;
  index: number;
  threads: number;
  /** "driver": thread 0 of deferred mode, runs submitted lists; "helper": runs its share of each op. */
  role: "driver" | "helper";
}

/** A command list submitted to the driver: `count` commands at byte offset `ptr`. */
export interface ListMessage {
  ptr: number;
  count: number;
  seq: number;
}

/** The driver's answer when list `seq` has finished: null, or why it failed. */
export interface ListDoneMessage {
  seq: number;
  error: string | null;
}

/** A command of a list failed: names the op. */
export class CommandError extends Error {
  constructor(
    readonly op: number,
    cause: unknown,
    inWorker: boolean,
  ) {
    const detail = inWorker ? "a kernel trapped in a worker thread" : `a kernel trapped: ${cause instanceof Error ? cause.message : String(cause)}`;
    super(`wasm backend: operation ${opName(op)} failed (${detail})`, { cause });
  }
}

/** Thread 0's role: runs commands on itself and the helpers. */
export class Conductor {
  constructor(
    private readonly kernels: KernelExports,
    private readonly ctl: Int32Array,
    /** The arguments the helpers read (in the control block when shared). */
    private readonly args: Float64Array,
    readonly threads: number,
    /** Times each command and thread 0's waits (QWEN2_WASM_PROFILE), or null. */
    private readonly profile: ListProfile | null = null,
  ) {}

  /** Runs `count` commands stored from element `at` of `cmds`, in order; throws a CommandError at the first that fails. */
  runList(cmds: Float64Array, at: number, count: number): void {
    const args = this.args;
    for (let i = 0; i < count; i++) {
      const c = at + i * CMD_F64;
      const op = cmds[c]!;
      args.set(cmds.subarray(c + 2, c + CMD_F64));
      const local = cmds[c + 1] !== 0;
      if (this.profile === null) this.run(op, local);
      else {
        const t0 = performance.now();
        this.run(op, local);
        this.profile.add(this.profile.key(op, args, local), performance.now() - t0);
      }
    }
  }

  private run(op: number, local: boolean): void {
    if (local || this.threads === 1) {
      try {
        execute(this.kernels, op, this.args, 0, 1, this.ctl);
      } catch (err) {
        throw new CommandError(op, err, false);
      }
      return;
    }
    prepare(op, this.args, this.threads, this.ctl);
    publish(this.ctl, op, this.threads);
    let failure: unknown = null;
    try {
      execute(this.kernels, op, this.args, 0, this.threads, this.ctl);
    } catch (err) {
      failure = new CommandError(op, err, false);
    }
    // Even when our share throws, the helpers must finish before anything is reused.
    this.join();
    if (Atomics.load(this.ctl, CTL_FAILED) !== 0) {
      Atomics.store(this.ctl, CTL_FAILED, 0);
      failure ??= new CommandError(op, null, true);
    }
    if (failure !== null) throw failure;
  }

  private join(): void {
    if (this.profile === null) return this.waitForHelpers();
    const t0 = performance.now();
    this.waitForHelpers();
    this.profile.add("join", performance.now() - t0);
  }

  private waitForHelpers(): void {
    const ctl = this.ctl;
    const want = this.threads - 1;
    for (let i = 0; i < SPIN_LIMIT; i++) if (Atomics.load(ctl, CTL_DONE) === want) return;
    Atomics.store(ctl, CTL_MAIN_SLEEPING, 1);
    for (;;) {
      const done = Atomics.load(ctl, CTL_DONE);
      if (done === want) break;
      Atomics.wait(ctl, CTL_DONE, done, 1000);
    }
    Atomics.store(ctl, CTL_MAIN_SLEEPING, 0);
  }
}

/** Publishes `op` to the helpers of a pool of `threads` threads. */
export function publish(ctl: Int32Array, op: number, threads: number): void {
  Atomics.store(ctl, CTL_OP, op);
  Atomics.store(ctl, CTL_DONE, 0);
  Atomics.add(ctl, CTL_GEN, 1);
  for (let w = 1; w < threads; w++) {
    if (Atomics.load(ctl, CTL_SLEEPING + w) !== 0) Atomics.notify(ctl, CTL_GEN);
  }
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly workers: ComputeWorker[] = [];
  /** Immediate mode's thread 0 (null in deferred mode, where the driver worker is). */
  private readonly local: Conductor | null;
  private stopped = false;
  /** The list last handed to the driver: the driver is held (ref) until it has answered for it. */
  private lastSubmitted = 0;
  /** Told when a submitted list finishes (error null) or fails; seq -1: the driver died, every pending list failed. */
  onListDone: (seq: number, error: string | null) => void = () => {};

  private constructor(
    kernels: KernelExports,
    memory: WasmMemory,
    control: number,
    readonly threads: number,
    readonly deferred: boolean,
  ) {
    // Immediate mode shares nothing: its control block lives outside the memory, which may be
    // an ordinary one whose buffer is replaced when it grows (views into it would go stale).
    this.ctl = deferred ? new Int32Array(memory.buffer, control, CTL_SLOTS) : new Int32Array(CTL_SLOTS);
    this.local = deferred ? null : new Conductor(kernels, this.ctl, new Float64Array(32), 1);
  }

  /**
   * Deferred mode (`deferred`): starts the driver and `threads - 1` helpers running
   * `workerUrl` (worker.js beside this module unless a bundle puts it elsewhere) on `memory`
   * and resolves when every one has instantiated the kernels. Immediate mode (one thread,
   * memory not shared): starts nothing.
   */
  static async start(
    kernels: KernelExports,
    module: WasmModule,
    memory: WasmMemory,
    control: number,
    threads: number,
    deferred: boolean,
    workerUrl?: URL,
  ): Promise<ThreadPool> {
    if (!deferred && threads !== 1) throw new Error("wasm backend: several threads need a shared memory");
    const pool = new ThreadPool(kernels, memory, control, threads, deferred);
    if (!deferred) return pool;
    const ready: Promise<void>[] = [];
    const detach: (() => void)[] = [];
    for (let index = 0; index < threads; index++) {
      const role = index === 0 ? "driver" : "helper";
      const worker = spawnComputeWorker(workerUrl, `qwen2 wasm ${role} ${index}`);
      // Workers must not keep the process alive when a caller forgets dispose(); the driver is
      // held (ref) while a list runs, so that an awaited read keeps the process alive.
      worker.unref();
      pool.workers.push(worker);
      ready.push(
        new Promise((ok, fail) => {
          detach.push(worker.onMessage(() => ok()));
          detach.push(
            worker.onError((err) => fail(new Error(`wasm ${role} thread ${index} failed before starting: ${err.message}`, { cause: err }))),
          );
        }),
      );
      const init: WorkerInit = { memory, module, control, index, threads, role };
      worker.postMessage(init);
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      pool.stop();
      throw err;
    } finally {
      for (const off of detach) off();
    }
    const driver = pool.workers[0]!;
    driver.onMessage((data) => {
      const done = data as ListDoneMessage;
      // An answer for a list that waitFor already saw is stale: a later one may be running.
      if (done.seq === pool.lastSubmitted) driver.unref();
      pool.onListDone(done.seq, done.error);
    });
    const fail = (err: Error): void => {
      driver.unref();
      pool.onListDone(-1, `wasm backend: the driver thread failed: ${err.message}`);
    };
    driver.onError(fail);
    for (const w of pool.workers.slice(1)) w.onError(fail);
    return pool;
  }

  /** Deferred mode: hands list `seq` (`count` commands at byte `ptr`) to the driver; onListDone follows. */
  submit(ptr: number, count: number, seq: number): void {
    if (this.stopped) throw new Error("wasm backend: used after dispose()");
    const driver = this.workers[0]!;
    driver.ref();
    this.lastSubmitted = seq;
    const message: ListMessage = { ptr, count, seq };
    driver.postMessage(message);
  }

  /** Immediate mode: runs `count` commands at element `at` of `cmds` on this thread. */
  runHere(cmds: Float64Array, at: number, count: number): void {
    if (this.stopped) throw new Error("wasm backend: used after dispose()");
    this.local!.runList(cmds, at, count);
  }

  /**
   * Deferred mode: blocks this thread until the driver has finished list `seq` (for callers
   * that need results synchronously). Returns the op code of the command that failed, or -1.
   */
  waitFor(seq: number): number {
    const ctl = this.ctl;
    for (;;) {
      const done = Atomics.load(ctl, CTL_LISTS_DONE);
      if (done >= seq) break;
      Atomics.wait(ctl, CTL_LISTS_DONE, done, 1000);
    }
    if (seq === this.lastSubmitted) this.workers[0]?.unref();
    return Atomics.load(ctl, CTL_LIST_FAILED) - 1;
  }

  /** Tells the workers to exit and terminates them (a worker's end needs no waiting for). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.workers.length > 0) {
      publish(this.ctl, Op.Exit, this.threads);
      for (const w of this.workers) void w.terminate();
      this.workers.length = 0;
    }
  }
}
