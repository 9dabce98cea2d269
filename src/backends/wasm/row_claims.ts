/**
 * How the threads share the rows of a matrix product. Each thread owns its static share of
 * the rows, cut into chunks that it takes front to back, so that it reads one sequential
 * stream (what the hardware prefetcher follows best); a thread that has finished its own range
 * takes chunks from the back of another's. A thread that starts late or runs slow (a worker
 * woken from sleep, a core shared with the GC) thus hands its last chunks to an idle one
 * instead of making every thread wait for it.
 *
 * Measured on Qwen2-0.5B decode, 2 threads: a static split left the main thread waiting about
 * 20 µs per product for the worker (3-4 ms of a 17 ms Q4_0 token); chunks handed out in turn
 * from one counter removed the wait but cut every stream into pieces and lost more than it won.
 *
 * State: one Int32 per thread in the control block (a cache line each), (next chunk << 16) |
 * end chunk, claimed by compare-and-swap from either end.
 */
import { CLAIM_STRIDE, CTL_CLAIMS } from "./control.js";
import { share } from "./share.js";

/**
 * How a share of `rows` rows is cut: the first three quarters in eighths of the share, the
 * last quarter in 64ths, no chunk under `minRows` (a multiple of 4: the weight layouts pair
 * rows). The threads meet in the last quarter, where a thread that is done waits at most for
 * a small chunk of the other's, while the share's first chunks are few and long streams.
 * (Sixteen equal chunks left the faster thread idle for half a sixteenth of a share on average,
 * about 3% of each product.)
 */
interface Cut {
  readonly big: number;
  readonly small: number;
  readonly bigCount: number;
  readonly count: number;
}

function cutShare(rows: number, minRows: number): Cut {
  const big = Math.max(minRows, Math.ceil(rows / 32) * 4);
  const small = Math.max(minRows, Math.ceil(rows / 256) * 4);
  const bigCount = Math.floor((rows * 3) / 4 / big);
  return { big, small, bigCount, count: bigCount + Math.ceil((rows - bigCount * big) / small) };
}

function chunkStart(c: Cut, i: number): number {
  return i <= c.bigCount ? i * c.big : c.bigCount * c.big + (i - c.bigCount) * c.small;
}

/**
 * Sets every thread's claims for a product of N rows (chunks of at least minRows rows, a
 * multiple of 4). Main thread, before the op is published.
 */
export function resetClaims(ctl: Int32Array, N: number, threads: number, minRows = 4): void {
  for (let t = 0; t < threads; t++) {
    const [r0, r1] = share(N, t, threads, 4);
    Atomics.store(ctl, CTL_CLAIMS + t * CLAIM_STRIDE, r1 > r0 ? cutShare(r1 - r0, minRows).count : 0);
  }
}

/** Takes chunk `next` (front) or `end - 1` (back) of thread u's range; -1 when none is left. */
function claim(ctl: Int32Array, u: number, back: boolean): number {
  const slot = CTL_CLAIMS + u * CLAIM_STRIDE;
  for (;;) {
    const w = Atomics.load(ctl, slot);
    const next = w >>> 16;
    const end = w & 0xffff;
    if (next >= end) return -1;
    const taken = back ? (next << 16) | (end - 1) : ((next + 1) << 16) | end;
    if (Atomics.compareExchange(ctl, slot, w, taken) === w) return back ? end - 1 : next;
  }
}

/**
 * Runs `rows(r0, r1)` over the chunks thread t gets of an N-row product (cut as resetClaims
 * was told, minRows): its own front to back, then the others' from the back. With one thread,
 * the whole range at once.
 */
export function forClaimedRows(
  ctl: Int32Array,
  N: number,
  t: number,
  threads: number,
  rows: (r0: number, r1: number) => void,
  minRows = 4,
): void {
  if (threads === 1) {
    if (N > 0) rows(0, N);
    return;
  }
  for (let i = 0; i < threads; i++) {
    const u = (t + i) % threads;
    const [u0, u1] = share(N, u, threads, 4);
    if (u1 <= u0) continue;
    const cut = cutShare(u1 - u0, minRows);
    for (let c = claim(ctl, u, i > 0); c >= 0; c = claim(ctl, u, i > 0)) {
      rows(u0 + chunkStart(cut, c), u0 + Math.min(u1 - u0, chunkStart(cut, c + 1)));
    }
  }
}
