import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import { EMBEDDED_TOKENIZERS, type EmbeddedTokenizer, Tokenizer, type TokenizerFiles } from "../../src/tokenizer/tokenizer.js";
import { FormatError, InvalidArgumentError } from "../../src/errors.js";
import { repoRoot } from "../support/paths.js";

const tok = await Tokenizer.embedded("qwen2");
const SAMPLES = ["Hello, world!", "<|im_start|>user\nWhat's 2+2?<|im_end|>\n", "  naïve café — 中文 😀\r\n\tend", "e\u0301\u0301 x"];

test("special tokens and ids come from tokenizer_config.json", async () => {
  assert.equal(tok.vocabSize, 151646);
  assert.equal(tok.eosToken, "<|im_end|>");
  assert.equal(tok.eosTokenId, 151645);
  assert.equal(tok.padToken, "<|endoftext|>");
  assert.equal(tok.padTokenId, 151643);
  assert.equal(tok.bosToken, null);
  assert.equal(tok.bosTokenId, null);
  assert.equal(tok.unkTokenId, null);
  assert.equal(tok.idToToken(151644), "<|im_start|>");
  assert.equal(tok.tokenToId("<|im_start|>"), 151644);
  assert.equal(tok.idToToken(tok.tokenToId("Ġworld")!), "Ġworld");
  assert.equal(tok.tokenToId("no such token here"), undefined);
  assert.equal(tok.idToToken(500_000), undefined);
  assert.deepEqual(tok.specialTokens, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
  assert.equal((await Tokenizer.embedded("qwen2.5")).vocabSize, 151665);
});

test("encode options: splitSpecialTokens, addSpecialTokens, countTokens", () => {
  assert.deepEqual(tok.encode("<|im_end|>"), [151645]);
  const split = tok.encode("<|im_end|>", { splitSpecialTokens: true });
  assert.ok(split.length > 1 && !split.includes(151645));
  assert.equal(tok.decode(split), "<|im_end|>");
  assert.equal(tok.countTokens(SAMPLES[1]!), tok.encode(SAMPLES[1]!).length);
  const tiny = {
    model: { type: "BPE", vocab: { h: 0, i: 1, hi: 2 }, merges: ["h i"] },
    added_tokens: [{ id: 3, content: "<s>", special: true }],
  };
  const withBos = Tokenizer.fromJSON(JSON.stringify(tiny), { bos_token: "<s>", add_bos_token: true });
  assert.equal(withBos.bosTokenId, 3);
  assert.deepEqual(withBos.encode("hi"), [3, 2]);
  assert.deepEqual(withBos.encode("hi", { addSpecialTokens: false }), [2]);
  assert.throws(() => withBos.applyChatTemplate([{ role: "user", content: "x" }]), /no chat template/);
});

test("fromVocabAndMerges (the GGUF shape) gives the same ids as the folder", () => {
  // The embedded vocabulary and merges (merges.bin: [left, right, merged] ids per rank).
  const vocab: string[] = [];
  for (let id = 0; id < 151643; id++) vocab.push(tok.idToToken(id)!);
  const raw = readFileSync(join(repoRoot, "assets/tokenizers/qwen2/merges.bin"));
  const triples = new Int32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const merges: string[] = [];
  for (let i = 0; i < triples.length; i += 3) merges.push(vocab[triples[i]!] + " " + vocab[triples[i + 1]!]);
  const json = { model: { merges } };
  // GGUF lists added tokens in the vocabulary as well.
  vocab.push("<|endoftext|>", "<|im_start|>", "<|im_end|>");
  const g = Tokenizer.fromVocabAndMerges({
    vocab,
    merges: json.model.merges,
    addedTokens: [
      { id: 151643, content: "<|endoftext|>", special: true },
      { id: 151644, content: "<|im_start|>", special: true },
      { id: 151645, content: "<|im_end|>", special: true },
    ],
    eosToken: "<|im_end|>",
    padToken: "<|endoftext|>",
    chatTemplate: tok.chatTemplate,
  });
  assert.equal(g.vocabSize, tok.vocabSize);
  assert.equal(g.eosTokenId, 151645);
  for (const s of SAMPLES) {
    assert.deepEqual(g.encode(s), tok.encode(s), s);
    assert.equal(g.decode(g.encode(s), { skipSpecialTokens: true }), tok.decode(tok.encode(s), { skipSpecialTokens: true }));
  }
  const pairs = Tokenizer.fromVocabAndMerges({
    vocab: vocab.slice(0, 151643),
    merges: json.model.merges.map((m) => m.split(" ") as [string, string]),
  });
  assert.deepEqual(pairs.encode(SAMPLES[2]!), tok.encode(SAMPLES[2]!));
});

test("encodeBatch: padding, truncation, attention masks", () => {
  const texts: [string, string] = ["Hello world, how are you?", "Hi"];
  const a = tok.encode(texts[0]);
  const b = tok.encode(texts[1]);
  const right = tok.encodeBatch(texts, { padding: "right" });
  assert.deepEqual(right.ids, [a, [...b, ...Array(a.length - b.length).fill(151643)]]);
  assert.deepEqual(right.attentionMask[1], [...b.map(() => 1), ...Array(a.length - b.length).fill(0)]);
  const left = tok.encodeBatch(texts, { padding: "left" });
  assert.deepEqual(left.ids[1], [...Array(a.length - b.length).fill(151643), ...b]);
  assert.deepEqual(
    left.attentionMask[0],
    a.map(() => 1),
  );
  const cut = tok.encodeBatch(texts, { truncation: true, maxLength: 3, padding: "right" });
  assert.deepEqual(cut.ids, [a.slice(0, 3), [...b, 151643, 151643].slice(0, 3)]);
  assert.deepEqual(tok.encodeBatch(texts).ids, [a, b]);
  assert.equal(tok.encodeBatch(texts).offsets, undefined);
  assert.deepEqual(tok.decodeBatch([a, b]), texts);
});

test("encodeBatch offsets point into the original strings", () => {
  const text = "Hi <|im_end|> there, naïve 中文😀!";
  const batch = tok.encodeBatch([text], { returnOffsets: true });
  const ids0 = batch.ids[0]!;
  const spans0: [number, number][] = batch.offsets?.[0] ?? [];
  assert.equal(spans0.length, ids0.length);
  // Tokens that hold whole characters decode to exactly their span.
  let whole = 0;
  ids0.forEach((id, i) => {
    const piece = tok.decode([id]);
    const [s, e] = spans0[i]!;
    if (!piece.includes("\ufffd")) {
      assert.equal(text.slice(s, e), piece, `token ${i}`);
      whole++;
    } else assert.ok(s < e && "😀中文".includes(text.slice(s, e)[0]!), `partial token ${i} spans its character`);
  });
  assert.ok(whole > 5);
  // NFC changes the text: the composed token covers both original code units.
  const nfd = "cafe\u0301!";
  const r = tok.encodeBatch([nfd], { returnOffsets: true });
  const spans = r.offsets![0]!;
  assert.deepEqual(spans.at(-1), [nfd.length - 1, nfd.length]);
  assert.ok(spans.some(([s, e]) => nfd.slice(s, e).includes("\u0301")));
});

test("applyChatTemplate renders the ChatML template and can tokenize", () => {
  const messages = [{ role: "user", content: "Hi" }];
  const want = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), want);
  const ids = tok.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: true });
  assert.deepEqual(ids, tok.encode(want));
  assert.equal(ids[0], 151644);
});

test("loaders: slow layout with merges as pairs; malformed files name the file and field", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-tok-"));
  const mk = (name: string, files: Record<string, string>) => {
    const d = join(dir, name);
    mkdirSync(d);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  };
  const vocab = { a: 0, b: 1, ab: 2, c: 3, abc: 4, Ġ: 5 };
  const tiny = (merges: unknown) =>
    JSON.stringify({ model: { type: "BPE", vocab, merges }, added_tokens: [{ id: 6, content: "<x>", special: true }] });
  const t1 = await loadTokenizer(
    mk("pairs", {
      "tokenizer.json": tiny([
        ["a", "b"],
        ["ab", "c"],
      ]),
    }),
  );
  const t2 = await loadTokenizer(mk("strings", { "tokenizer.json": tiny(["a b", "ab c"]) }));
  const t3 = await loadTokenizer(
    mk("slow", {
      "vocab.json": JSON.stringify(vocab),
      "merges.txt": "#version: 0.2\na b\nab c\n",
      "tokenizer_config.json": JSON.stringify({ added_tokens_decoder: { "6": { content: "<x>", special: true } }, eos_token: "<x>" }),
    }),
  );
  for (const t of [t1, t2, t3]) assert.deepEqual(t.encode("abc<x>ab ab"), [4, 6, 2, 5, 2]);
  assert.equal(t3.eosTokenId, 6);
  // Files under other names: their texts, given by role.
  const t4 = Tokenizer.fromTexts({
    "tokenizer.json": tiny(["a b", "ab c"]),
    "tokenizer_config.json": JSON.stringify({ eos_token: "<x>", chat_template: "{{ messages[0].content }}!" }),
  });
  assert.deepEqual(t4.encode("abc<x>"), [4, 6]);
  assert.equal(t4.eosTokenId, 6);
  assert.equal(t4.applyChatTemplate([{ role: "user", content: "yo" }]), "yo!");
  // chat_template.jinja serves where tokenizer_config.json has no template.
  const t5 = await loadTokenizer(mk("jinja", { "tokenizer.json": tiny([]), "chat_template.jinja": "{{ messages[0].content }}?" }));
  assert.equal(t5.applyChatTemplate([{ role: "user", content: "yo" }]), "yo?");

  const isFormat = (file: RegExp, detail: RegExp) => (e: unknown) => e instanceof FormatError && file.test(e.file) && detail.test(e.detail);
  const expectFormat = (files: Record<string, string>, file: RegExp, detail: RegExp) =>
    assert.rejects(loadTokenizer(mk(`bad${++bad}`, files)), isFormat(file, detail), `${String(file)} ${String(detail)}`);
  let bad = 0;
  await assert.rejects(loadTokenizer(mk("empty", {})), isFormat(/empty$/, /tokenizer\.json/));
  await expectFormat({ "tokenizer.json": "{ nope" }, /tokenizer\.json$/, /not valid JSON/);
  await expectFormat({ "tokenizer.json": JSON.stringify({ model: { type: "BPE", merges: [] } }) }, /tokenizer\.json$/, /model\.vocab/);
  await expectFormat({ "tokenizer.json": tiny(["a zz"]) }, /tokenizer\.json/, /merge 0/);
  await expectFormat({ "tokenizer.json": tiny([["a"]]) }, /tokenizer\.json/, /merge 0/);
  await expectFormat({ "vocab.json": "{}" }, /merges\.txt$/, /missing/);
  await expectFormat(
    { "tokenizer.json": tiny([]), "tokenizer_config.json": JSON.stringify({ eos_token: 5 }) },
    /tokenizer_config\.json$/,
    /eos_token/,
  );
  await expectFormat(
    { "tokenizer.json": JSON.stringify({ model: { vocab, merges: [] }, added_tokens: [{ id: 9 }] }) },
    /tokenizer\.json$/,
    /added_tokens\[0\]/,
  );
  assert.throws(() => Tokenizer.fromTexts({ "tokenizer_config.json": "{}" }, "my texts"), isFormat(/^my texts$/, /no tokenizer\.json/));
});

test("fromFiles reads any folder that hands out text by name (a URL folder, dropped files)", async () => {
  const vocab = { a: 0, b: 1, ab: 2 };
  const asked: string[] = [];
  const files: TokenizerFiles = {
    location: "https://example.test/tok/",
    async text(name) {
      asked.push(name);
      if (name === "vocab.json") return JSON.stringify(vocab);
      if (name === "merges.txt") return "a b\n";
      return null;
    },
  };
  const t = await Tokenizer.fromFiles(files);
  assert.deepEqual(t.encode("abab"), [2, 2]);
  assert.ok(!asked.includes("merges.bin"), "asks only for Hugging Face file names");
  await assert.rejects(
    Tokenizer.fromFiles({ location: "https://example.test/none/", text: async () => null }),
    (e: unknown) => e instanceof FormatError && e.file === "https://example.test/none/" && /no tokenizer\.json/.test(e.detail),
  );
});

test("embedded: the default is Qwen2.5 (its template renders tools); an unknown name lists the known ones", async () => {
  const def = await Tokenizer.embedded();
  const q25 = await Tokenizer.embedded("qwen2.5");
  assert.equal(def.vocabSize, 151665);
  assert.equal(def.chatTemplate, q25.chatTemplate);
  assert.deepEqual(EMBEDDED_TOKENIZERS, ["qwen2", "qwen2.5"]);
  const tools = [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather for a city",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
    },
  ];
  const messages = [{ role: "user", content: "Weather in Paris?" }];
  const withTools = def.applyChatTemplate(messages, { tools, addGenerationPrompt: true });
  assert.match(withTools, /<tools>\n\{"type": "function", "function": \{"name": "get_weather"/);
  assert.match(withTools, /<tool_call>/);
  // Qwen2's template has no tools section: the tools vanish, which is why it is not the default.
  assert.doesNotMatch((await Tokenizer.embedded("qwen2")).applyChatTemplate(messages, { tools, addGenerationPrompt: true }), /get_weather/);
  await assert.rejects(
    Tokenizer.embedded("foo" as EmbeddedTokenizer),
    (e: unknown) => e instanceof InvalidArgumentError && /"foo"/.test(e.message) && /qwen2, qwen2\.5/.test(e.message),
  );
});
