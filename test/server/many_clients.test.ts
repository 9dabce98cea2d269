/**
 * Many clients at once on loopback (a bounded load test): 32 concurrent streaming clients, a quarter of them
 * disconnecting midway, while others send malformed bodies. Every well-formed request must
 * complete with the right answer, the server must stay up, and memory (live caches and
 * the JS heap after GC) must come back to where it started.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { postRaw, startServer, whoAmI } from "./harness.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it("32 streaming clients, 8 disconnecting, plus malformed bodies: all good requests complete", { timeout: 60_000 }, async () => {
  const h = await startServer({ parallel: 8, maxQueue: 64, prefixCacheEntries: 0 });
  try {
    // Warm up every code path once so lazily built state is in the baseline.
    const warm = await h.client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "say hello" }],
      temperature: 0,
      stream: true,
    });
    for await (const _ of warm);
    const baseline = heapAfterGc();

    const complete = async (i: number): Promise<string> => {
      const s = await h.client.chat.completions.create({
        model: "toy",
        messages: [{ role: "user", content: `client ${i}: who am I?` }],
        temperature: 0,
        stream: true,
      });
      let text = "";
      let finish: string | null = null;
      for await (const c of s) {
        text += c.choices[0]?.delta.content ?? "";
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(finish, "stop");
      return text;
    };
    const disconnect = async (i: number): Promise<number> => {
      const controller = new AbortController();
      const s = await h.client.chat.completions.create(
        { model: "toy", messages: [{ role: "user", content: `client ${i} babbles` }], temperature: 1, max_tokens: 5000, stream: true },
        { signal: controller.signal },
      );
      let chunks = 0;
      try {
        for await (const _ of s) if (++chunks === 4) controller.abort();
      } catch {
        // aborted
      }
      return chunks;
    };
    const malformed = [
      "{",
      "[]",
      JSON.stringify({ model: "toy" }),
      JSON.stringify({ model: "toy", messages: "hi" }),
      JSON.stringify({ model: "toy", messages: [{ role: "user", content: "x" }], temperature: -1 }),
      JSON.stringify({ model: "toy", messages: [{ role: "user" }] }),
      "\u0000garbage",
      JSON.stringify({ model: "toy", messages: [{ role: "user", content: "x" }], n: "two" }),
    ];
    const bad = async (i: number): Promise<number> =>
      (await postRaw(h.url, "/v1/chat/completions", malformed[i % malformed.length]!)).status;

    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 32; i++) jobs.push(i % 4 === 3 ? disconnect(i) : complete(i));
    for (let i = 0; i < 16; i++) jobs.push(bad(i));
    const results = await Promise.all(jobs);

    const texts = results.slice(0, 32).filter((_, i) => i % 4 !== 3);
    assert.equal(texts.length, 24);
    // Each client gets the answer to its own prompt, not a neighbour's from the same batch.
    results.slice(0, 32).forEach((t, i) => {
      if (i % 4 !== 3) assert.equal(t, whoAmI(i), `client ${i}`);
    });
    for (const [i, c] of results.slice(0, 32).entries()) if (i % 4 === 3) assert.equal(c, 4);
    for (const status of results.slice(32)) assert.equal(status, 400);

    // The server is still up and idle, with every cache released.
    for (let i = 0; i < 200 && (h.server.stats().active > 0 || h.model.live.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
    const health = (await (await fetch(`${h.url}/health`)).json()) as { status: string; active: number; queued: number; maxBatch: number };
    assert.equal(health.status, "ok");
    assert.equal(health.active, 0);
    assert.equal(health.queued, 0);
    assert.ok(health.maxBatch > 1, "requests were batched");
    assert.equal(h.model.live.size, 0);
    const after = await complete(99);
    assert.equal(after, whoAmI(99));
    const end = heapAfterGc();
    assert.ok(
      end < baseline + 8 * 1024 * 1024,
      `heap back near baseline: ${(baseline / 1e6).toFixed(1)} MB → ${(end / 1e6).toFixed(1)} MB`,
    );
  } finally {
    await h.close();
  }
});
