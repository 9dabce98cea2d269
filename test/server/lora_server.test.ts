/**
 * LoRA adapters chosen per request by the OpenAI `model` field: a real Qwen2 model (the LoRA
 * fixture's base, reference backend) served with two adapters ("la": the fixture's, "rnd": a
 * random one) next to the base. Two clients with two adapters at once (one batched step) each
 * get exactly the text a single-adapter run gives; the prefix cache never crosses adapters;
 * /v1/models lists the adapters with their parent; `base:adapter` works; unknown names 404 and
 * embeddings refuse adapters.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { needsShared } from "../support/shared.js";
import { loraFixture, randomAdapterFiles } from "../support/lora.js";
import { openFolder } from "../support/files.js";
import { ReferenceBackend } from "../../src/backends/reference/index.js";
import { Qwen2ForCausalLM } from "../../src/models/qwen2.js";
import { loadAdapter } from "../../src/runtime/adapters.js";
import { generate } from "../../src/generation/generate.js";
import { createServer } from "../../src/server/server.js";
import { ServerToyTokenizer } from "./toy.js";
import type { AdapterChoice } from "../../src/models/lora.js";

const PROMPT = "Hello there";
const MAX_TOKENS = 10;

test("serve: LoRA adapters per request by the model field", { skip: needsShared("lora fixtures") }, async (t) => {
  const paths = loraFixture("la_all_modules_r4");
  const folder = await openFolder(paths.model);
  const model = await Qwen2ForCausalLM.load({ config: folder.config, weights: folder.weights }, new ReferenceBackend());
  folder.weights.close();
  const la = await loadAdapter(model, paths.adapter, { name: "la" });
  const rnd = await loadAdapter(model, await randomAdapterFiles(folder.config, 7), { name: "rnd" });
  t.after(() => {
    la.dispose();
    rnd.dispose();
    model.dispose();
  });
  const tokenizer = new ServerToyTokenizer();
  assert.ok(tokenizer.vocabSize <= model.vocabSize);

  // Single-adapter runs through the library, before any server exists: what each request must give.
  const alone = async (adapters: readonly AdapterChoice[]) =>
    (await generate(model, tokenizer, PROMPT, { maxNewTokens: MAX_TOKENS, temperature: 0, ignoreEos: true, adapters })).text;
  const want = { base: await alone([]), la: await alone([{ adapter: la }]), rnd: await alone([{ adapter: rnd, scale: 0.5 }]) };
  assert.notEqual(want.la, want.base, "the adapter changes the text");
  assert.notEqual(want.rnd, want.la);

  const server = createServer({
    model,
    tokenizer,
    modelId: "base",
    parallel: 4,
    webui: false,
    adapters: [
      { name: "la", adapter: la, source: paths.adapter },
      { name: "rnd", adapter: rnd, scale: 0.5 },
    ],
  });
  const url = await server.listen(0, "127.0.0.1");
  t.after(() => server.close());
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 30_000 });
  const complete = async (name: string) =>
    (await client.completions.create({ model: name, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true } as never))
      .choices[0]!.text;

  await t.test("one at a time: each adapter's text equals its single-adapter run; the cache never crosses adapters", async () => {
    // The same prompt each time: a prefix cache reused across adapters would change the text.
    assert.equal(await complete("la"), want.la);
    assert.equal(await complete("base"), want.base);
    assert.equal(await complete("base:rnd"), want.rnd);
    assert.equal(await complete("la"), want.la);
  });

  await t.test("two clients, two adapters at once (one batch): each gets its own text, as alone", async () => {
    const before = server.stats().maxBatch;
    const other = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 30_000 });
    const streamed = async () => {
      const s = await other.chat.completions.create({
        model: "rnd",
        messages: [{ role: "user", content: PROMPT }],
        max_tokens: MAX_TOKENS,
        temperature: 0,
        stream: true,
      });
      let text = "";
      for await (const chunk of s) text += chunk.choices[0]?.delta.content ?? "";
      return text;
    };
    const chatAlone = (
      await generate(model, tokenizer, [{ role: "user", content: PROMPT }], {
        maxNewTokens: MAX_TOKENS,
        temperature: 0,
        adapters: [{ adapter: rnd, scale: 0.5 }],
        eosIds: [tokenizer.eosTokenId],
      })
    ).text;
    const [a, b, c] = await Promise.all([complete("la"), streamed(), complete("base")]);
    assert.equal(a, want.la, "client 1 (la)");
    assert.equal(b, chatAlone, "client 2 (rnd, streamed chat)");
    assert.equal(c, want.base, "client 3 (base)");
    assert.ok(Math.max(before, server.stats().maxBatch) >= 2, "the requests shared a batched step");
  });

  await t.test("llama.cpp's per-request lora [{id, scale}] picks adapters and scales; GET /lora-adapters lists them", async () => {
    const laHalf = await alone([{ adapter: la, scale: 0.5 }]);
    assert.notEqual(laHalf, want.la, "the scale changes the text");
    const withLora = async (lora: unknown, model = "base") => {
      const r = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true, lora }),
      });
      return { status: r.status, json: (await r.json()) as { choices: { text: string }[]; error: { param: string; message: string } } };
    };
    assert.equal((await withLora([{ id: 0, scale: 0.5 }])).json.choices[0]!.text, laHalf, "la at a request's own scale");
    assert.equal((await withLora([{ id: 0, scale: 1 }])).json.choices[0]!.text, want.la);
    assert.equal((await withLora([{ id: 1, scale: 0.5 }])).json.choices[0]!.text, want.rnd);
    assert.equal((await withLora([{ id: 0, scale: 0 }])).json.choices[0]!.text, want.base, "scale 0 leaves it out");
    assert.equal((await withLora([])).json.choices[0]!.text, want.base);
    for (const [lora, model, param] of [
      [[{ id: 2, scale: 1 }], "base", "lora[0].id"],
      [[{ id: 0, scale: "x" }], "base", "lora[0].scale"],
      [
        [
          { id: 0, scale: 1 },
          { id: 0, scale: 2 },
        ],
        "base",
        "lora[1].id",
      ],
      [[{ id: 0, scale: 1 }], "la", "lora"],
      [{ id: 0 }, "base", "lora"],
    ] as const) {
      const r = await withLora(lora, model);
      assert.equal(r.status, 400, JSON.stringify(lora));
      assert.equal(r.json.error.param, param);
    }
    const list = await (await fetch(`${url}/lora-adapters`)).json();
    assert.deepEqual(list, [
      { id: 0, name: "la", path: paths.adapter, scale: 1 },
      { id: 1, name: "rnd", path: "rnd", scale: 0.5 },
    ]);
  });

  await t.test("/v1/models lists the adapters with their parent; /v1/models/ID finds one", async () => {
    const list = await (await fetch(`${url}/v1/models`)).json();
    const ids = (list as { data: { id: string; parent?: string; root?: string }[] }).data;
    assert.deepEqual(
      ids.map((m) => [m.id, m.parent ?? null]),
      [
        ["base", null],
        ["la", "base"],
        ["rnd", "base"],
      ],
    );
    assert.equal(ids[1]!.root, paths.adapter);
    const one = (await (await fetch(`${url}/v1/models/rnd`)).json()) as { id: string; parent: string };
    assert.deepEqual([one.id, one.parent], ["rnd", "base"]);
  });

  await t.test("unknown names are 404s naming the adapters; embeddings refuse an adapter", async () => {
    for (const name of ["nope", "other:la"]) {
      const r = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: name, prompt: PROMPT, max_tokens: 1 }),
      });
      assert.equal(r.status, 404, name);
      const body = (await r.json()) as { error: { message: string } };
      assert.match(body.error.message, name === "nope" ? /serves 'base' with LoRA adapters 'la', 'rnd'/ : /'other' does not exist/);
    }
    const r = await fetch(`${url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "la", input: "hi" }),
    });
    assert.equal(r.status, 400);
    assert.match(
      ((await r.json()) as { error: { message: string } }).error.message,
      /'la' is a LoRA adapter; \/v1\/embeddings runs the base model only/,
    );
  });
});
