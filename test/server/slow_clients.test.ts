/**
 * What a long or slow stream may cost the others: least-served first (a request far ahead in
 * generated tokens joins one batched step in `aheadStepInterval`). Toy model, loopback only,
 * counts of forward passes, no timings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SequenceCache } from "../../src/models/causal_lm.js";
import { SCRIPTS, slowDown, startServer, type Harness } from "./harness.js";

const chat = (content: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: "toy", messages: [{ role: "user", content }], temperature: 0, ...extra });

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

/** Counts caches the model creates from now on, and the most alive at once. */
function countCaches(h: Harness): { created: () => number; peak: () => number } {
  let created = 0;
  let peak = h.model.live.size;
  const createCache = h.model.createCache.bind(h.model);
  h.model.createCache = ((capacity: number) => {
    const cache = createCache(capacity);
    created++;
    peak = Math.max(peak, h.model.live.size);
    return cache;
  }) as typeof h.model.createCache;
  return { created: () => created, peak: () => peak };
}

/** The streamed text of each choice of a chat completion stream. */
async function streamChoices(res: Response, n: number, onChunk: (chunks: number) => void = () => {}): Promise<string[]> {
  const texts = Array.from({ length: n }, () => "");
  let buffer = "";
  let chunks = 0;
  for await (const part of res.body!) {
    buffer += Buffer.from(part as Uint8Array).toString();
    let at: number;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (!line.startsWith("data: {")) continue;
      const ev = JSON.parse(line.slice(6)) as { choices: { index: number; delta: { content?: string } }[] };
      for (const c of ev.choices) texts[c.index] += c.delta.content ?? "";
      onChunk(++chunks);
    }
  }
  return texts;
}

const post = (url: string, body: string): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });

describe("least-served first: prompts", () => {
  it("a long prompt being prefilled demotes nobody: the running stream is stepped between every two of its chunks", {
    timeout: 30_000,
  }, async () => {
    const h = await startServer({ parallel: 4, prefixCacheEntries: 0, prefillChunk: 16 });
    const rec = recordForwards(h);
    try {
      let ahead!: () => void;
      const started = new Promise<void>((r) => (ahead = r));
      const long = post(h.url, chat("count slowly", { stream: true, max_tokens: 200 })).then((r) =>
        streamChoices(r, 1, (c) => c >= 30 && ahead()),
      );
      await started;
      const longCache = rec.created[0]!;
      const before = rec.created.length;
      const r = await post(h.url, chat(`say hello ${"and more ".repeat(40)}`, { max_tokens: 1 }));
      assert.equal(r.status, 200);
      const promptCache = rec.created[before]!;
      const chunks = rec.passes.map((p, i) => ({ p, i })).filter(({ p }) => p.length === 1 && p[0] === promptCache);
      assert.ok(chunks.length >= 10, `the prompt took ${chunks.length} chunks`);
      let gaps = 0;
      for (let k = 1; k < chunks.length; k++)
        if (rec.passes.slice(chunks[k - 1]!.i + 1, chunks[k]!.i).some((p) => p.includes(longCache))) gaps++;
      assert.equal(gaps, chunks.length - 1, "a decode step of the running stream between every two chunks");
      await long;
    } finally {
      await h.close();
    }
  });
});

describe("K/V budget", () => {
  it("reserved: --parallel + 1 caches are made at startup and no request makes another", { timeout: 30_000 }, async () => {
    const h = await startServer({ parallel: 2, reserveKvCaches: true });
    try {
      assert.equal(h.model.live.size, 3);
      const count = countCaches(h);
      await h.server.scheduler.warmUp();
      assert.equal(h.model.forwardCalls, 1, "warmUp runs one forward pass on a reserved cache");
      assert.equal(h.server.stats().kvCaches, 3);
      const [many, one] = await Promise.all([
        post(h.url, chat("count slowly", { stream: true, n: 4, max_tokens: 30 })).then((r) => streamChoices(r, 4)),
        post(h.url, chat("say hello")).then((r) => r.json() as Promise<{ choices: { message: { content: string } }[] }>),
      ]);
      assert.equal(one.choices[0]!.message.content, SCRIPTS.hello);
      assert.deepEqual(many, Array(4).fill(SCRIPTS.count.slice(0, many[0]!.length)));
      assert.ok(many[0]!.length > 20);
      assert.equal(count.created(), 0, "every sequence ran on a reserved cache");
      assert.equal(h.model.live.size, 3);
      assert.equal(h.server.stats().kvCaches, 3);
      assert.equal(h.server.stats().kvCacheBudget, 3);
    } finally {
      await h.close();
    }
    assert.equal(h.model.live.size, 0, "close frees the reserved caches");
  });

  it("a request for more choices than --kv-caches runs them in turns within the budget", { timeout: 30_000 }, async () => {
    const h = await startServer({ parallel: 4, kvCaches: 2, prefixCacheEntries: 0 });
    try {
      const count = countCaches(h);
      const r = (await (await post(h.url, chat("babble please", { n: 4, max_tokens: 12 }))).json()) as {
        choices: { message: { content: string } }[];
      };
      const texts = r.choices.map((c) => c.message.content);
      assert.equal(texts.length, 4);
      assert.ok(
        texts.every((t) => t === texts[0]),
        "greedy choices agree",
      );
      assert.ok(count.peak() <= 2, `at most 2 caches alive, saw ${count.peak()}`);
      assert.equal(h.model.live.size, 0);
    } finally {
      await h.close();
    }
  });

  it("over the budget, a waiting choice's cache goes to a new request and is recomputed: same text as never preempted", {
    timeout: 30_000,
  }, async () => {
    const prompt = chat("babble please", { stream: true, n: 2, max_tokens: 60 });
    // Reference: the same request alone.
    const ref = await startServer({ parallel: 2, kvCaches: 2, prefixCacheEntries: 0 });
    let expected: string[];
    try {
      expected = await streamChoices(await post(ref.url, prompt), 2);
      assert.equal(ref.server.stats().preempted, 0);
    } finally {
      await ref.close();
    }
    const h = await startServer({ parallel: 2, kvCaches: 2, prefixCacheEntries: 0, aheadStepInterval: 1 });
    slowDown(h, 2);
    try {
      const count = countCaches(h);
      let ahead!: () => void;
      const started = new Promise<void>((r) => (ahead = r));
      const many = post(h.url, prompt).then((r) => streamChoices(r, 2, (c) => c >= 20 && ahead()));
      await started;
      assert.equal(h.server.stats().active, 2, "alone, both choices run: the budget is spent");
      const one = (await (await post(h.url, chat("say hello"))).json()) as { choices: { message: { content: string } }[] };
      assert.equal(one.choices[0]!.message.content, SCRIPTS.hello);
      assert.equal(h.server.stats().preempted, 1, "the waiting choice's cache went to the new request");
      const texts = await many;
      assert.deepEqual(texts, expected, "the preempted choice, recomputed, goes on exactly as it would have");
      assert.ok(count.peak() <= 2, `at most 2 caches alive, saw ${count.peak()}`);
      assert.equal(h.model.live.size, 0);
    } finally {
      await h.close();
    }
  });
});

it("a request for 16 choices raises no MaxListenersExceededWarning (16 sequences share one abort signal)", async () => {
  const h = await startServer({ parallel: 4 });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on("warning", onWarning);
  try {
    const r = await post(h.url, chat("babble please", { n: 16, max_tokens: 2 }));
    assert.equal(((await r.json()) as { choices: unknown[] }).choices.length, 16);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      warnings.filter((w) => w === "MaxListenersExceededWarning"),
      [],
    );
  } finally {
    process.off("warning", onWarning);
    await h.close();
  }
});
