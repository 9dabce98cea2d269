/**
 * Two scheduler paths where a bug would corrupt someone's answer rather than fail loudly:
 * - prefix-cache reuse: a conversation's second turn, run on a server that kept the first
 *   turn's cache, gives exactly the seeded output of a cold server (a real tiny Qwen2 on the
 *   wasm backend, with a sliding window shorter than the conversation so the ring wraps);
 * - a client that goes away during its chunked prefill, before its first token: its cache is
 *   freed, the rest of its prompt is never computed, and another client streaming beside it
 *   gets exactly what it gets alone.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import OpenAI from "openai";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import type { ForwardItem, ForwardOptions } from "../../src/models/causal_lm.js";
import { createServer } from "../../src/server/server.js";
import { createTinyModel } from "../models/tiny_model.js";
import { startServer } from "./harness.js";
import { ServerToyTokenizer } from "./toy.js";

// With the default chunk (512) the sliding layer's ring (window + chunk - 1 slots) holds the
// whole conversation, so the second turn reuses the first turn's cache past the window; with
// chunk 4 the ring (19 slots) has wrapped, the prefix cannot be recovered, and the pool must
// fall back to a fresh cache. Either way the answer is the cold run's.
for (const { chunk, reuses } of [
  { chunk: 512, reuses: true },
  { chunk: 4, reuses: false },
]) {
  it(`a conversation's second turn gives a cold run's seeded output (wasm backend, sliding window 16, chunk ${chunk}: ${reuses ? "prefix reused" : "ring wrapped, not reused"})`, async () => {
    const tokenizer = new ServerToyTokenizer();
    const backend = await WasmBackend.create({ threads: 2 });
    const model = await createTinyModel({
      vocabSize: tokenizer.vocabSize,
      seed: 7,
      backend,
      chunkSize: chunk,
      config: { use_sliding_window: true, sliding_window: 16, max_window_layers: 1 },
    });
    const serve = async (prefixCacheEntries: number) => {
      const server = createServer({
        model,
        tokenizer,
        modelId: "tiny",
        parallel: 2,
        prefixCacheEntries,
        contextLength: 512,
        prefillChunk: chunk,
      });
      const url = await server.listen(0, "127.0.0.1");
      return { server, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 30_000 }) };
    };
    const sampling = { model: "tiny", temperature: 0.9, seed: 21, max_tokens: 12 } as const;
    const first = [{ role: "user" as const, content: "Tell me a story about a fox and a hound in a forest." }];
    try {
      const warm = await serve(4);
      let reused: number;
      let second: { role: "user" | "assistant"; content: string }[];
      let warmAnswer: string;
      try {
        const one = await warm.client.chat.completions.create({ ...sampling, messages: first });
        second = [...first, { role: "assistant", content: one.choices[0]!.message.content! }, { role: "user", content: "And then?" }];
        const before = warm.server.stats().reusedPromptTokens;
        const two = await warm.client.chat.completions.create({ ...sampling, messages: second });
        reused = warm.server.stats().reusedPromptTokens - before;
        warmAnswer = two.choices[0]!.message.content!;
      } finally {
        await warm.server.close();
      }
      if (reuses) assert.ok(reused > 16, `the second turn reused the first turn's cache past the window (${reused} tokens)`);
      else assert.equal(reused, 0, "a wrapped ring is not reused");

      const cold = await serve(0);
      try {
        const two = await cold.client.chat.completions.create({ ...sampling, messages: second });
        assert.equal(cold.server.stats().reusedPromptTokens, 0);
        assert.equal(warmAnswer, two.choices[0]!.message.content, "reused prefix and cold run differ");
      } finally {
        await cold.server.close();
      }
    } finally {
      model.dispose();
      backend.dispose();
    }
  });
}

it("a client gone during its chunked prefill frees its cache, stops the prefill, and leaves a neighbour's stream unchanged", async () => {
  const h = await startServer({ parallel: 4, prefillChunk: 8, prefixCacheEntries: 0 });
  try {
    const neighbour = async (): Promise<string> => {
      const s = await h.client.chat.completions.create({
        model: "toy",
        messages: [{ role: "user", content: "count slowly" }],
        temperature: 0.8,
        seed: 3,
        max_tokens: 40,
        stream: true,
      });
      let text = "";
      for await (const c of s) text += c.choices[0]?.delta.content ?? "";
      return text;
    };
    const solo = await neighbour();

    // The long prompt's chunks are 8 tokens; each forward call takes a few milliseconds so the
    // disconnect reaches the server while the prompt is still being prefilled.
    const prompt = "x ".repeat(300);
    const promptTokens = h.tokenizer.encode(prompt).length;
    const controller = new AbortController();
    let chunks = 0;
    const forward = h.model.forward.bind(h.model);
    h.model.forward = (items: readonly ForwardItem[], options?: ForwardOptions) => {
      if (items.some((it) => it.ids.length === 8) && ++chunks === 2) controller.abort();
      const until = Date.now() + 3;
      while (Date.now() < until);
      return forward(items, options);
    };
    const gone = fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "toy", messages: [{ role: "user", content: prompt }], stream: true, max_tokens: 50 }),
      signal: controller.signal,
    }).then(
      async (res) => {
        // Headers may come before the abort; no content token may.
        const body = await res.text();
        return body;
      },
      () => "",
    );
    const [beside, goneBody] = await Promise.all([neighbour(), gone.catch(() => "")]);
    assert.equal(beside, solo, "the neighbour's seeded stream changed");
    assert.doesNotMatch(goneBody, /"content":"[^"]/, "the aborted client got no token");
    for (let i = 0; i < 200 && (h.server.stats().active > 0 || h.model.live.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.server.stats().active, 0);
    assert.equal(h.model.live.size, 0, "the aborted sequence's cache is disposed");
    assert.ok(chunks >= 2 && chunks * 8 < promptTokens, `the prefill stopped early (${chunks} chunks of a ${promptTokens}-token prompt)`);
  } finally {
    await h.close();
  }
});
