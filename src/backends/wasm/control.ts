/**
 * Layout of the thread pool's control block in the shared memory: Int32 slots that the
 * threads synchronise on, then the Float64 arguments of the current op. Thread 0 (the driver
 * worker, or the calling thread in immediate mode) publishes ops; the helpers run their
 * shares. Used by pool.ts (dispatch), worker.ts and row_claims.ts.
 */
export const CTL_GEN = 0;
export const CTL_OP = 1;
export const CTL_DONE = 2;
export const CTL_MAIN_SLEEPING = 3;
/** Set by a worker whose share threw (a kernel trap); the main thread reports it. */
export const CTL_FAILED = 4;
/**
 * Slot of worker w's "sleeping" flag (w = 1 .. threads - 1), up to slot 63: MAX_THREADS
 * follows from it (CTL_FAILED used to be slot 63, which a 60th thread's flag overwrote).
 */
export const CTL_SLEEPING = 5;
export const MAX_THREADS = 64 - CTL_SLEEPING;
/**
 * Sequence number of the last command list the driver finished: a caller that must block for
 * the results (WasmBackend.view) waits on it.
 */
export const CTL_LISTS_DONE = 126;
/** Op code + 1 of the command that failed in the last finished list, or 0. */
export const CTL_LIST_FAILED = 127;
/**
 * Thread t's row-chunk claims (see row_claims.ts) are slot CTL_CLAIMS + t * CLAIM_STRIDE: one
 * 64-byte cache line each (the block is 64-byte aligned), so that a thread taking its own
 * chunks (a compare-and-swap every few microseconds) does not pull the line from the other
 * core each time, as neighbouring slots did.
 */
export const CTL_CLAIMS = 128;
export const CLAIM_STRIDE = 16;
/** Int32 slots, then 32 Float64 arguments. */
export const CTL_SLOTS = CTL_CLAIMS + CLAIM_STRIDE * MAX_THREADS;
export const CONTROL_BYTES = CTL_SLOTS * 4 + 32 * 8;
/** Byte offset of the arguments inside the block. */
export const ARGS_OFFSET = CTL_SLOTS * 4;
