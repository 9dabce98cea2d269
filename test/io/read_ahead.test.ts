/**
 * Range reads over HTTP go through aligned windows and fetch ahead of the reader: the bytes
 * are right wherever a read starts and ends, each window is asked for once while it is kept,
 * and the window after a read is already on its way when the next read comes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type FetchLike, openUrl } from "../../src/io/http.js";

const SIZE = 200_000;
const WINDOW = 16_384;
const URL = "http://127.0.0.1:1/model.bin";

/** A file of SIZE bytes (byte i is i * 7 mod 251) behind a fetch that honours ranges and logs them. */
function rangeServer(): { fetch: FetchLike; ranges: string[]; file: Uint8Array } {
  const file = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7) % 251);
  const ranges: string[] = [];
  const fetch: FetchLike = async (_url, init) => {
    const range = init?.headers?.Range ?? "";
    ranges.push(range);
    const m = /^bytes=(\d+)-(\d+)$/.exec(range);
    assert.ok(m, `a range request, got ${JSON.stringify(range)}`);
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), SIZE - 1);
    return new Response(file.slice(a, b + 1), {
      status: 206,
      headers: { "content-range": `bytes ${a}-${b}/${SIZE}`, "content-length": String(b - a + 1) },
    });
  };
  return { fetch, ranges, file };
}

test("sequential reads: right bytes, each window fetched once, the next one fetched ahead", async () => {
  const { fetch, ranges, file } = rangeServer();
  const source = await openUrl(URL, { fetch, probeBytes: 1024, windowBytes: WINDOW });
  assert.equal(source.size, SIZE);
  const piece = 5000; // not a divisor of the window: reads straddle window edges
  for (let offset = 2000; offset < SIZE; offset += piece) {
    const dest = new Uint8Array(Math.min(piece, SIZE - offset));
    await source.readInto(dest, offset);
    assert.deepEqual(dest, file.subarray(offset, offset + dest.byteLength), `bytes at ${offset}`);
    if (offset === 2000) {
      assert.ok(ranges.includes(`bytes=${WINDOW}-${2 * WINDOW - 1}`), "the window after the first read is requested with it");
    }
  }
  const windows = ranges.slice(1);
  assert.equal(new Set(windows).size, windows.length, `no window fetched twice: ${windows.join(", ")}`);
  assert.equal(windows.length, Math.ceil(SIZE / WINDOW), "one request per window");
  source.close();
});

test("a read back into a kept window costs no request; a failed window is fetched again", async () => {
  const { fetch: inner, ranges, file } = rangeServer();
  let failNext = false;
  const fetch: FetchLike = async (url, init) => {
    if (failNext && init?.headers?.Range === `bytes=${9 * WINDOW}-${10 * WINDOW - 1}`) {
      failNext = false;
      throw new TypeError("fetch failed");
    }
    return inner(url, init);
  };
  const source = await openUrl(URL, { fetch, probeBytes: 1024, windowBytes: WINDOW });
  const dest = new Uint8Array(100);
  await source.readInto(dest, 3 * WINDOW + 10);
  const before = ranges.length;
  await source.readInto(dest, 3 * WINDOW + 500);
  assert.deepEqual(dest, file.subarray(3 * WINDOW + 500, 3 * WINDOW + 600));
  assert.equal(ranges.length, before, "served from the kept window");

  failNext = true;
  await assert.rejects(source.readInto(dest, 9 * WINDOW + 1));
  await source.readInto(dest, 9 * WINDOW + 1);
  assert.deepEqual(dest, file.subarray(9 * WINDOW + 1, 9 * WINDOW + 101), "fetched again after the failure");
  source.close();
});
