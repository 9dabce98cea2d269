/**
 * The thread pool: the main thread plus one worker per extra thread, all running the same
 * kernels on the same shared memory. An operation is published by writing its arguments and
 * bumping a generation counter; every thread runs its static share (see `execute`) and the
 * workers count themselves done. Waiting spins briefly (a round trip then costs well under a
 * microsecond) and then sleeps in Atomics.wait, so an idle or contended core is never burnt
 * by an unbounded spin.
 */
import { spawnWorker, type ComputeWorker, type WebWorkerConstructor } from "#platform";
import type { WasmMemory, WasmModule } from "./wasm_api.js";
import { execute, prepare, Op, type KernelExports } from "./kernels.js";
import { ARGS_OFFSET, CTL_DONE, CTL_FAILED, CTL_GEN, CTL_MAIN_SLEEPING, CTL_OP, CTL_SLEEPING, CTL_SLOTS } from "./control.js";

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

/** The first (and only) message a compute worker receives. */
export interface WorkerInit {
  memory: WasmMemory;
  module: WasmModule;
  control: number;
  index: number;
  threads: number;
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  readonly args: Float64Array;
  private readonly workers: ComputeWorker[] = [];
  private stopped = false;

  private constructor(
    private readonly kernels: KernelExports,
    memory: WasmMemory,
    control: number,
    readonly threads: number,
  ) {
    // One thread shares nothing: its control block lives outside the memory, which may be an
    // ordinary one whose buffer is replaced when it grows (views into it would go stale).
    this.ctl = threads === 1 ? new Int32Array(CTL_SLOTS) : new Int32Array(memory.buffer, control, CTL_SLOTS);
    this.args = threads === 1 ? new Float64Array(32) : new Float64Array(memory.buffer, control + ARGS_OFFSET, 32);
  }

  /**
   * Starts `threads - 1` workers running `workerUrl` (worker.js beside this module unless a
   * bundle puts it elsewhere) on `memory` and resolves when every one has instantiated the kernels.
   */
  static async start(
    kernels: KernelExports,
    module: WasmModule,
    memory: WasmMemory,
    control: number,
    threads: number,
    workerUrl?: URL,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(kernels, memory, control, threads);
    const ready: Promise<void>[] = [];
    const detach: (() => void)[] = [];
    for (let index = 1; index < threads; index++) {
      const worker = spawnComputeWorker(workerUrl, `qwen2 wasm worker ${index}`);
      // Workers must not keep the process alive when a caller forgets dispose().
      worker.unref();
      pool.workers.push(worker);
      ready.push(
        new Promise((ok, fail) => {
          detach.push(worker.onMessage(() => ok()));
          detach.push(
            worker.onError((err) => fail(new Error(`wasm worker ${index} failed before starting: ${err.message}`, { cause: err }))),
          );
        }),
      );
      const init: WorkerInit = { memory, module, control, index, threads };
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
    return pool;
  }

  /** Runs `op` (arguments already in `args`) on every thread and returns when all are done. */
  run(op: Op): void {
    if (this.stopped) throw new Error("wasm backend: used after dispose()");
    if (this.threads === 1) {
      execute(this.kernels, op, this.args, 0, 1, this.ctl);
      return;
    }
    prepare(op, this.args, this.threads, this.ctl);
    this.publish(op);
    try {
      execute(this.kernels, op, this.args, 0, this.threads, this.ctl);
    } finally {
      // Even when our share throws, the workers must finish before anything is reused.
      this.join();
    }
    if (Atomics.load(this.ctl, CTL_FAILED) !== 0) {
      Atomics.store(this.ctl, CTL_FAILED, 0);
      throw new Error(`wasm backend: a worker thread failed in operation ${op} (a kernel trapped)`);
    }
  }

  /** Runs `op` on the main thread alone (for work too small to be worth a dispatch). */
  runLocal(op: Op): void {
    if (this.stopped) throw new Error("wasm backend: used after dispose()");
    execute(this.kernels, op, this.args, 0, 1, this.ctl);
  }

  private publish(op: Op): void {
    const ctl = this.ctl;
    Atomics.store(ctl, CTL_OP, op);
    Atomics.store(ctl, CTL_DONE, 0);
    Atomics.add(ctl, CTL_GEN, 1);
    for (let w = 1; w < this.threads; w++) {
      if (Atomics.load(ctl, CTL_SLEEPING + w) !== 0) Atomics.notify(ctl, CTL_GEN);
    }
  }

  private join(): void {
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

  /** Tells the workers to exit and terminates them (a worker's end needs no waiting for). */
  stop(): void {
    this.stopped = true;
    if (this.workers.length > 0) {
      this.publish(Op.Exit);
      for (const w of this.workers) void w.terminate();
      this.workers.length = 0;
    }
  }
}
