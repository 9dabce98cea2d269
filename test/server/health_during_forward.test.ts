/**
 * The server's event loop stays free while a model step computes on the wasm backend (its
 * ops run on worker threads; the calling thread only awaits the read): a `GET /health` sent
 * while a long prompt's prefill is in flight is answered before that request's first token.
 * Ordering only, no timing: were the step computed on the server's thread, the prefill and
 * the first token would both come before the health request was even read.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { WasmBackend } from "../../src/backends/wasm/index.js";
import type { CausalLM } from "../../src/models/causal_lm.js";
import { createServer } from "../../src/server/server.js";
import { createTinyModel } from "../models/tiny_model.js";
import { ServerToyTokenizer } from "./toy.js";

it("GET /health answers while a long prefill is in flight on the wasm backend, before that request's first token", async () => {
  const tokenizer = new ServerToyTokenizer();
  const backend = await WasmBackend.create({ threads: 2 });
  const model = await createTinyModel({
    vocabSize: tokenizer.vocabSize,
    seed: 4,
    backend,
    config: { hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2 },
  });
  let markStarted = (): void => {};
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  // The model as the server sees it, telling the test when the first step has begun.
  const watched = new Proxy(model, {
    get(target, prop) {
      if (prop === "forward")
        return (...args: Parameters<CausalLM["forward"]>) => {
          markStarted();
          return target.forward(...args);
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const server = createServer({ model: watched, tokenizer, modelId: "tiny", parallel: 1, contextLength: 2048 });
  const url = await server.listen(0, "127.0.0.1");
  try {
    const events: string[] = [];
    const prompt = "the quick brown fox jumps over the lazy dog ".repeat(22);
    const completion = (async () => {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", prompt, max_tokens: 2, temperature: 0, stream: true }),
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (!events.includes("first token") && text.includes('"text"')) events.push("first token");
      }
      return text;
    })();
    await started;
    const health = await fetch(`${url}/health`);
    events.push(`health ${health.status}`);
    await health.arrayBuffer();
    const text = await completion;
    assert.match(text, /\[DONE\]/);
    assert.deepEqual(events, ["health 200", "first token"]);
  } finally {
    await server.close();
    model.dispose();
    backend.dispose();
  }
});
