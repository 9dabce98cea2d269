/**
 * What a long or slow stream may cost the others: least-served first (a request far ahead in
 * generated tokens joins one batched step in `aheadStepInterval`). Toy model, loopback only,
 * counts of forward passes, no timings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SequenceCache } from "../../src/models/causal_lm.js";
import { SCRIPTS, startServer, type Harness } from "./harness.js";

const chat = (content: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: "toy", messages: [{ role: "user", content }], temperature: 0, ...extra });

/** Makes every forward call take at least `ms`, so a generation lasts long enough to overlap another. */
function slowDown(h: Harness, ms: number): void {
  const forward = h.model.forward.bind(h.model);
  h.model.forward = ((...args: Parameters<typeof forward>) => {
    const until = Date.now() + ms;
    while (Date.now() < until);
    return forward(...args);
  }) as typeof h.model.forward;
}

/** Records the caches of every forward pass, and the caches in order of creation. */
function recordForwards(h: Harness): { passes: SequenceCache[][]; created: SequenceCache[] } {
  const passes: SequenceCache[][] = [];
  const created: SequenceCache[] = [];
  const forward = h.model.forward.bind(h.model);
  h.model.forward = ((...args: Parameters<typeof forward>) => {
    passes.push(args[0].map((item) => item.cache));
    return forward(...args);
  }) as typeof h.model.forward;
  const createCache = h.model.createCache.bind(h.model);
  h.model.createCache = ((capacity: number) => {
    const cache = createCache(capacity);
    created.push(cache);
    return cache;
  }) as typeof h.model.createCache;
  return { passes, created };
}

/**
 * Streams "count slowly" (300 tokens); once it has sent 40 chunks, asks "say hello" without
 * streaming. Returns the forward passes that computed the short answer, and how many of them
 * also stepped the long stream.
 */
async function shortBesideLong(h: Harness): Promise<{ shortPasses: number; shared: number }> {
  const rec = recordForwards(h);
  slowDown(h, 2);
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chat("count slowly", { stream: true, max_tokens: 300 }),
  });
  let text = "";
  let chunks = 0;
  let ahead!: () => void;
  const farAhead = new Promise<void>((r) => (ahead = r));
  const reading = (async () => {
    for await (const chunk of res.body!) {
      const s = Buffer.from(chunk as Uint8Array).toString();
      text += s;
      chunks += s.split("\n\n").length - 1;
      if (chunks >= 40) ahead();
    }
    ahead();
  })();
  await farAhead;
  const longCache = rec.created[0]!;
  const before = rec.created.length;
  const one = await fetch(`${h.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chat("say hello"),
  });
  const answer = (await one.json()) as { choices: { message: { content: string } }[] };
  assert.equal(answer.choices[0]!.message.content, SCRIPTS.hello);
  const shortCache = rec.created[before]!;
  assert.ok(shortCache, "the short request made its own cache");
  const withShort = rec.passes.filter((p) => p.includes(shortCache));
  await reading;
  assert.match(text, /"finish_reason":"length"/, "the long stream still finishes");
  assert.doesNotMatch(text, /"error"/);
  return { shortPasses: withShort.length, shared: withShort.filter((p) => p.includes(longCache)).length };
}

describe("least-served first", () => {
  it("a stream 40 tokens ahead joins one step in 4 of a newcomer's, and runs on after it", { timeout: 30_000 }, async () => {
    const h = await startServer({ parallel: 4, prefixCacheEntries: 0 });
    try {
      const { shortPasses, shared } = await shortBesideLong(h);
      assert.ok(shortPasses >= 8, `the short answer took ${shortPasses} passes`);
      assert.ok(shared >= 1, "the long stream is not starved while the short one runs");
      assert.ok(shared <= Math.ceil(shortPasses / 4) + 1, `the long stream shared ${shared} of the short answer's ${shortPasses} passes`);
      assert.ok(h.server.stats().demotedSteps >= shortPasses - shared - 1);
      assert.equal(h.model.live.size, 0);
    } finally {
      await h.close();
    }
  });

  it("aheadStepInterval 1 batches every running sequence in every step (no demotion)", { timeout: 30_000 }, async () => {
    const h = await startServer({ parallel: 4, prefixCacheEntries: 0, aheadStepInterval: 1 });
    try {
      const { shortPasses, shared } = await shortBesideLong(h);
      // Every pass steps both (the short prompt may have had one pass to itself).
      assert.ok(shared >= shortPasses - 1, `shared ${shared} of ${shortPasses}`);
      assert.equal(h.server.stats().demotedSteps, 0);
    } finally {
      await h.close();
    }
  });
});
