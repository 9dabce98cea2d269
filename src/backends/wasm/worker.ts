/**
 * A compute worker of the WebAssembly backend, started by pool.ts as a worker_threads worker
 * (Node, Deno, Bun) or a module Web Worker (browsers). Its first message (WorkerInit) brings
 * the shared memory and the compiled kernels; it instantiates them and says "ready". Then:
 * - a helper loops for good: wait for a new generation, run its share, count itself done.
 *   The loop blocks this thread's event loop, which is fine: no other message ever comes.
 * - the driver (thread 0 of deferred mode) waits for command lists (ListMessage), runs each
 *   (see Conductor), marks it done in the control block and answers with a ListDoneMessage.
 */
import { parentPort } from "#platform";
import { execute, instantiateKernels, Op, type KernelExports } from "./kernels.js";
import { CMD_F64, CommandError, Conductor, SPIN_LIMIT, type ListDoneMessage, type ListMessage, type WorkerInit } from "./pool.js";
import {
  ARGS_OFFSET,
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
import { listProfileFromEnv } from "./profile.js";

const port = parentPort();
const stopListening = port.onMessage((data) => {
  stopListening();
  const init = data as WorkerInit;
  const kernels = instantiateKernels(init.module, init.memory);
  const ctl = new Int32Array(init.memory.buffer, init.control, CTL_SLOTS);
  const args = new Float64Array(init.memory.buffer, init.control + ARGS_OFFSET, 32);
  if (init.role === "driver") drive(init, kernels, ctl, args);
  else help(init, kernels, ctl, args);
});

function drive(init: WorkerInit, kernels: KernelExports, ctl: Int32Array, args: Float64Array): void {
  const profile = listProfileFromEnv();
  const conductor = new Conductor(kernels, ctl, args, init.threads, profile);
  // A view of the whole memory, renewed when the memory has grown past it (lists live anywhere in it).
  let f64 = new Float64Array(init.memory.buffer);
  port.onMessage((data) => {
    const list = data as ListMessage;
    profile?.listStarted();
    const at = list.ptr / 8;
    if (at + list.count * CMD_F64 > f64.length) f64 = new Float64Array(init.memory.buffer);
    let failed = 0;
    let error: string | null = null;
    try {
      conductor.runList(f64, at, list.count);
    } catch (err) {
      failed = err instanceof CommandError ? err.op + 1 : Op.Exit + 1;
      error = err instanceof Error ? err.message : String(err);
    }
    Atomics.store(ctl, CTL_LIST_FAILED, failed);
    Atomics.store(ctl, CTL_LISTS_DONE, list.seq);
    Atomics.notify(ctl, CTL_LISTS_DONE);
    profile?.listEnded();
    const done: ListDoneMessage = { seq: list.seq, error };
    port.postMessage(done);
  });
  port.postMessage("ready");
}

function help(init: WorkerInit, kernels: KernelExports, ctl: Int32Array, args: Float64Array): void {
  const sleepSlot = CTL_SLEEPING + init.index;
  let seen = Atomics.load(ctl, CTL_GEN);
  port.postMessage("ready");

  for (;;) {
    let gen = seen;
    for (let i = 0; i < SPIN_LIMIT && gen === seen; i++) gen = Atomics.load(ctl, CTL_GEN);
    if (gen === seen) {
      Atomics.store(ctl, sleepSlot, 1);
      while ((gen = Atomics.load(ctl, CTL_GEN)) === seen) Atomics.wait(ctl, CTL_GEN, seen);
      Atomics.store(ctl, sleepSlot, 0);
    }
    seen = gen;
    const op = Atomics.load(ctl, CTL_OP);
    if (op === Op.Exit) break;
    try {
      execute(kernels, op, args, init.index, init.threads, ctl);
    } catch {
      // Count ourselves done anyway, or thread 0 would wait forever; it reports the failure.
      Atomics.store(ctl, CTL_FAILED, 1);
    }
    const done = Atomics.add(ctl, CTL_DONE, 1) + 1;
    if (done === init.threads - 1 && Atomics.load(ctl, CTL_MAIN_SLEEPING) !== 0) Atomics.notify(ctl, CTL_DONE);
  }
}
