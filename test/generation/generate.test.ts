import { test } from "node:test";
import assert from "node:assert/strict";
import { generate, stream, encodePrompt } from "../../src/generation/generate.js";
import { SequenceGenerator, stepBatch, ContextOverflowError, type GenerationResult } from "../../src/generation/sequence_generator.js";
import { collectEosIds } from "../../src/generation/stopping.js";
import { ToyTokenizer, ToyModel, type ToyCache, scriptedModel, hashModel, EOT, IM_END } from "./toy.js";

const tok = new ToyTokenizer();

async function collect(it: AsyncGenerator<string, unknown, void>): Promise<{ pieces: string[]; result: unknown }> {
  const pieces: string[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { pieces, result: r.value };
    pieces.push(r.value);
  }
}

test("prefill runs the whole prompt in one forward call, then one token per step", async () => {
  const model = scriptedModel("hi!");
  const r = await generate(model, tok, "abcd");
  assert.equal(r.text, "hi!");
  assert.equal(r.finishReason, "stop");
  assert.deepEqual(r.stoppedBy, { eosId: IM_END });
  assert.deepEqual(r.ids, [...Buffer.from("hi!"), IM_END], "ids include the EOS id, the text does not");
  assert.deepEqual(model.calls[0], [[...Buffer.from("abcd")]]);
  assert.deepEqual(
    model.calls.slice(1).map((c) => c[0]),
    [[104], [105], [33]],
    "decode steps feed the previous token",
  );
  assert.deepEqual(r.usage, { promptTokens: 4, completionTokens: 4, totalTokens: 8 });
  assert.equal(r.timings.prefillTokens, 4);
  assert.equal(r.timings.decodeTokens, 3);
  assert.ok(
    model.caches.every((c) => c.disposed),
    "the generator's own cache is released",
  );
});

test("every EOS id of the union stops, and ignoreEos keeps going", async () => {
  const r = await generate(scriptedModel("ab", EOT), tok, "x", { eosIds: [EOT] });
  assert.equal(r.text, "ab");
  assert.equal(r.finishReason, "stop");
  const r2 = await generate(scriptedModel("ab", EOT), tok, "x", { ignoreEos: true, maxNewTokens: 5 });
  assert.equal(r2.finishReason, "length");
  assert.deepEqual(r2.ids, [97, 98, EOT, 97, 98]);
  assert.equal(r2.text, "abab", "special tokens are skipped in the text by default");
});

test("an EOS id from generation_config that is not the tokenizer's own EOS stops generation", async () => {
  // The tokenizer's EOS is <|im_end|>; generation_config adds byte 7, which the model emits.
  const BELL = 7;
  const eosIds = collectEosIds({ generationConfig: { eos_token_id: [BELL] }, tokenizer: tok });
  assert.ok(eosIds.includes(BELL) && eosIds.includes(IM_END));
  const r = await generate(scriptedModel("ab", BELL), tok, "x", { eosIds, maxNewTokens: 10 });
  assert.deepEqual(r.ids, [97, 98, BELL]);
  assert.equal(r.finishReason, "stop");
  assert.equal(r.text, "ab", "the EOS token is not part of the text");
  // The tokenizer's EOS alone does not know byte 7: the same model runs to the length limit.
  const alone = await generate(scriptedModel("ab", BELL), tok, "x", { maxNewTokens: 10 });
  assert.equal(alone.finishReason, "length");
});

test("max_new_tokens ends with finish reason length", async () => {
  const r = await generate(scriptedModel("abcdefgh"), tok, "x", { maxNewTokens: 3 });
  assert.equal(r.text, "abc");
  assert.equal(r.finishReason, "length");
  assert.equal(r.ids.length, 3);
});

test("a stop string spanning tokens is trimmed and never streamed", async () => {
  const model = scriptedModel("Hello, World! More text");
  const { pieces, result } = await collect(stream(model, tok, "p", { stop: ["World"] }));
  const r = result as Awaited<ReturnType<typeof generate>>;
  assert.equal(r.text, "Hello, ");
  assert.equal(pieces.join(""), "Hello, ");
  assert.equal(r.finishReason, "stop");
  assert.deepEqual(r.stoppedBy, { stop: "World" });
  for (const p of pieces) assert.ok(!p.includes("W"), `piece ${JSON.stringify(p)} leaks the stop string`);
  // Held-back text that turns out not to be a stop string is released.
  const r2 = await generate(scriptedModel("a Wo b"), tok, "p", { stop: "World" });
  assert.equal(r2.text, "a Wo b");
});

test("streamed text never splits a multi-byte character and concatenates to the result", async () => {
  const text = "zé€😀 done";
  const { pieces, result } = await collect(stream(scriptedModel(text), tok, "p"));
  assert.equal(pieces.join(""), text);
  assert.equal((result as { text: string }).text, text);
  for (const p of pieces) assert.ok(!p.includes("\uFFFD"));
  assert.ok(pieces.includes("😀"), "the 4-byte character arrives whole");
});

test("an incomplete UTF-8 tail is replaced with U+FFFD at the end", async () => {
  // 0xE2 0x82 starts "€" but the budget ends before the last byte.
  const r = await generate(scriptedModel("a€"), tok, "p", { maxNewTokens: 3 });
  assert.equal(r.text, "a\uFFFD");
  assert.equal(r.finishReason, "length");
});

test("an AbortSignal ends generation with finish reason abort", async () => {
  const ac = new AbortController();
  let n = 0;
  const it = stream(scriptedModel("abcdefghijklmnop"), tok, "p", { signal: ac.signal });
  let result;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      result = r.value;
      break;
    }
    if (++n === 3) ac.abort();
  }
  assert.equal(result.finishReason, "abort");
  assert.equal(result.text, "abc");
});

test("breaking out of a stream releases the cache", async () => {
  const model = scriptedModel("abcdefgh");
  for await (const piece of stream(model, tok, "p")) {
    assert.equal(piece, "a");
    break;
  }
  assert.ok(model.caches[0]!.disposed);
});

test("chat messages are rendered with the chat template and a generation prompt", async () => {
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
  ];
  const ids = encodePrompt(tok, messages);
  assert.equal(tok.decode(ids), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const model = scriptedModel("Hello");
  const r = await generate(model, tok, messages);
  assert.equal(r.text, "Hello");
  assert.deepEqual(model.calls[0]![0], ids);
});

test("same seed, same text; the seed is reported for replay", async () => {
  const run = (seed?: number) => generate(hashModel(), tok, "seed test", { temperature: 1, maxNewTokens: 24, seed, ignoreEos: true });
  const a = await run(1234);
  const b = await run(1234);
  const c = await run(99);
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, c.ids);
  const d = await run();
  const e = await run(d.seed);
  assert.deepEqual(e.ids, d.ids);
});

test("stepBatch runs several sequences in one forward call with the results of running each alone", async () => {
  const prompts = ["one", "second prompt", "3"];
  const options = { temperature: 0.8, seed: 5, maxNewTokens: 6, ignoreEos: true } as const;
  const alone: GenerationResult[] = [];
  for (const p of prompts) {
    const m = hashModel();
    const g = new SequenceGenerator(m, tok, tok.encode(p), options);
    while (!g.done) await stepBatch(m, [g]);
    alone.push(g.result());
  }
  const model = hashModel();
  const gens = prompts.map((p, i) => new SequenceGenerator(model, tok, tok.encode(p), { ...options, maxNewTokens: 4 + i }));
  let steps = 0;
  while (gens.some((g) => !g.done)) {
    await stepBatch(model, gens);
    steps++;
  }
  assert.equal(steps, 6);
  assert.equal(model.calls.length, 6, "one forward call per step");
  assert.deepEqual(
    model.calls[0]!.map((ids) => ids.length),
    prompts.map((p) => p.length),
    "the first call prefills all prompts",
  );
  assert.deepEqual(model.calls[4]!.length, 2, "finished sequences drop out of the batch");
  gens.forEach((g, i) => {
    const r = g.result();
    assert.deepEqual(r.ids, alone[i]!.ids.slice(0, 4 + i));
    assert.equal(r.finishReason, "length");
  });
});

test("an aborted sequence leaves the batch without running", async () => {
  const model = hashModel();
  const ac = new AbortController();
  const a = new SequenceGenerator(model, tok, tok.encode("a"), { signal: ac.signal, ignoreEos: true });
  const b = new SequenceGenerator(model, tok, tok.encode("b"), { ignoreEos: true, maxNewTokens: 3 });
  await stepBatch(model, [a, b]);
  ac.abort();
  const events = await stepBatch(model, [a, b]);
  assert.equal(events[0]!.finishReason, "abort");
  assert.equal(events[0]!.id, null);
  assert.equal(model.calls[1]!.length, 1);
  assert.equal(a.result().finishReason, "abort");
});

test("a reused cache skips the cached prefix; a fully cached prompt reruns its last token", () => {
  const model = scriptedModel("xyz");
  const cache = model.createCache(64) as ToyCache;
  cache.ids.push(...tok.encode("abc"));
  cache.promptLength = 99; // not the scripted model's concern here
  const g = new SequenceGenerator(model, tok, tok.encode("abcdef"), { cache, maxNewTokens: 2 });
  assert.deepEqual(Array.from(g.nextInput()!), tok.encode("def"));
  const g2 = new SequenceGenerator(model, tok, tok.encode("ab"), { cache, maxNewTokens: 1 });
  assert.equal(cache.length, 1);
  assert.deepEqual(Array.from(g2.nextInput()!), tok.encode("b"));
  g2.accept(new Float32Array(259));
  assert.ok(g2.done);
  assert.equal(cache.disposed, false, "a caller's cache is never disposed by the generator");
});

test("a prompt that does not fit the context is rejected before any work", () => {
  const model = new ToyModel(() => new Float32Array(259), 8);
  assert.throws(() => new SequenceGenerator(model, tok, tok.encode("123456789"), {}), ContextOverflowError);
  assert.throws(() => new SequenceGenerator(model, tok, [], {}), /empty/);
  assert.throws(() => new SequenceGenerator(model, tok, [300], {}), /outside the model's vocabulary/);
  // The context caps the number of new tokens: 6 prompt tokens + 3 generated fill 8 slots.
  const g = new SequenceGenerator(scriptedModel("abcdefgh"), tok, tok.encode("123456"), { contextLength: 8, maxNewTokens: 100 });
  assert.equal(g.maxNewTokens, 3);
});

test("logprobs are collected per token when asked for", async () => {
  const r = await generate(scriptedModel("ab"), tok, "p", { logprobs: true, topLogprobs: 2 });
  assert.equal(r.logprobs!.length, 3);
  assert.equal(r.logprobs![0]!.id, 97);
  assert.ok(r.logprobs![0]!.logprob < 0 && r.logprobs![0]!.logprob > -0.01);
  assert.equal(r.logprobs![0]!.topLogprobs![0]!.id, 97);
});

test("prefillChunk runs a long prompt in pieces, interleaved with other sequences' decoding", async () => {
  const model = hashModel();
  const long = new SequenceGenerator(model, tok, tok.encode("0123456789"), {
    prefillChunk: 4,
    maxNewTokens: 2,
    ignoreEos: true,
    seed: 1,
    temperature: 1,
  });
  const short = new SequenceGenerator(model, tok, tok.encode("ab"), { maxNewTokens: 3, ignoreEos: true });
  const first = await stepBatch(model, [long, short]);
  assert.equal(first[0]!.id, null, "no token after the first prompt piece");
  assert.notEqual(first[1]!.id, null);
  while (!long.done || !short.done) await stepBatch(model, [long, short]);
  assert.deepEqual(
    model.calls.map((c) => c[0]!.length),
    [4, 4, 2, 1],
  );
  // Same tokens as an unchunked run.
  const m2 = hashModel();
  const whole = new SequenceGenerator(m2, tok, tok.encode("0123456789"), { maxNewTokens: 2, ignoreEos: true, seed: 1, temperature: 1 });
  while (!whole.done) await stepBatch(m2, [whole]);
  assert.deepEqual(long.result().ids, whole.result().ids);
  assert.equal(long.result().timings.prefillTokens, 10);
});

test("bad sampling options fail before a cache is created", () => {
  const model = hashModel();
  assert.throws(() => new SequenceGenerator(model, tok, tok.encode("a"), { topP: 2 }), /topP/);
  assert.equal(model.caches.length, 0);
});
