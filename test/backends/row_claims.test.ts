/**
 * Row claims of the wasm thread pool: whichever thread runs first and however far it gets,
 * every row of a product is computed exactly once, in chunks that keep row pairs whole, and
 * each thread takes its own range front to back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CTL_SLOTS } from "../../src/backends/wasm/control.js";
import { forClaimedRows, resetClaims } from "../../src/backends/wasm/row_claims.js";
import { share } from "../../src/backends/wasm/share.js";

test("every row is claimed exactly once, in 4-aligned chunks, own range first and in order", () => {
  for (const [threads, minRows] of [
    [2, 4],
    [3, 4],
    [4, 4],
    [2, 20],
  ] as const) {
    for (const N of [1, 4, 7, 64, 130, 1000, 17920, 151936]) {
      for (let first = 0; first < threads; first++) {
        const ctl = new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
        resetClaims(ctl, N, threads, minRows);
        const seen = new Uint8Array(N);
        const order = [first, ...Array.from({ length: threads }, (_, t) => t).filter((t) => t !== first)];
        for (const t of order) {
          const [own0, own1] = share(N, t, threads, 4);
          let lastOwn = -1;
          forClaimedRows(
            ctl,
            N,
            t,
            threads,
            (r0, r1) => {
              assert.ok(r0 % 4 === 0 && r0 < r1 && r1 <= N, `threads=${threads} N=${N}: chunk [${r0}, ${r1})`);
              for (let r = r0; r < r1; r++) seen[r]!++;
              if (r0 >= own0 && r0 < own1) {
                assert.ok(r0 > lastOwn, "a thread's own chunks go front to back");
                lastOwn = r0;
              }
            },
            minRows,
          );
        }
        assert.ok(
          seen.every((c) => c === 1),
          `threads=${threads} N=${N} first=${first}: rows claimed ${seen.findIndex((c) => c !== 1)} not once`,
        );
      }
    }
  }
});

test("a single thread runs the whole range at once", () => {
  const ctl = new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
  const calls: [number, number][] = [];
  forClaimedRows(ctl, 37, 0, 1, (r0, r1) => calls.push([r0, r1]));
  assert.deepEqual(calls, [[0, 37]]);
});

test("the threads meet on small chunks: a share's last quarter goes in 64ths (at least minRows), its start in eighths", () => {
  for (const [N, minRows] of [
    [17920, 4],
    [151936, 16],
    [3072, 20],
  ] as const) {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
    resetClaims(ctl, N, 2, minRows);
    const [own0, own1] = share(N, 0, 2, 4);
    const rows = own1 - own0;
    const chunks: [number, number][] = [];
    // Thread 0 alone takes its own share front to back, then the other's from the back.
    forClaimedRows(ctl, N, 0, 2, (r0, r1) => chunks.push([r0, r1]), minRows);
    const own = chunks.filter(([r0]) => r0 < own1);
    const small = Math.max(minRows, Math.ceil(rows / 256) * 4);
    const big = Math.max(minRows, Math.ceil(rows / 32) * 4);
    for (const [r0, r1] of own) {
      if (r0 - own0 >= rows * 0.75) assert.ok(r1 - r0 <= small, `N=${N}: chunk [${r0}, ${r1}) in the last quarter is over ${small} rows`);
      else assert.equal(r1 - r0, big, `N=${N}: chunk [${r0}, ${r1}) in the first three quarters`);
    }
    assert.ok(own.length <= 6 + Math.ceil(rows / 4 / small) + 1, `N=${N}: ${own.length} chunks`);
    const theirs = chunks.filter(([r0]) => r0 >= own1);
    assert.ok(theirs[0]![1] === N && theirs[0]![1] - theirs[0]![0] <= Math.max(minRows, Math.ceil((N - own1) / 256) * 4), "the other's last chunk first");
  }
});
