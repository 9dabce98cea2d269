/**
 * A compute worker of the WebAssembly backend, started by pool.ts as a worker_threads worker
 * (Node, Deno, Bun) or a module Web Worker (browsers). Its one message (WorkerInit) brings
 * the shared memory and the compiled kernels; it instantiates them, says "ready", then loops
 * for good: wait for a new generation, run its share, count itself done. The loop blocks
 * this thread's event loop, which is fine: no other message ever comes.
 */
import { parentPort } from "#platform";
import { execute, instantiateKernels, Op } from "./kernels.js";
import { SPIN_LIMIT, type WorkerInit } from "./pool.js";
import { ARGS_OFFSET, CTL_DONE, CTL_FAILED, CTL_GEN, CTL_MAIN_SLEEPING, CTL_OP, CTL_SLEEPING, CTL_SLOTS } from "./control.js";

const port = parentPort();
const stopListening = port.onMessage((data) => {
  stopListening();
  run(data as WorkerInit);
});

function run(init: WorkerInit): void {
  const kernels = instantiateKernels(init.module, init.memory);
  const ctl = new Int32Array(init.memory.buffer, init.control, CTL_SLOTS);
  const args = new Float64Array(init.memory.buffer, init.control + ARGS_OFFSET, 32);
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
      // Count ourselves done anyway, or the main thread would wait forever; it reports the failure.
      Atomics.store(ctl, CTL_FAILED, 1);
    }
    const done = Atomics.add(ctl, CTL_DONE, 1) + 1;
    if (done === init.threads - 1 && Atomics.load(ctl, CTL_MAIN_SLEEPING) !== 0) Atomics.notify(ctl, CTL_DONE);
  }
}
