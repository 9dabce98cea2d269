import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { preTokenize } from "../../src/tokenizer/pretokenize.js";
import { referenceBpe } from "./reference.js";
import { needsShared } from "../support/shared.js";

const tok = await Tokenizer.embedded("qwen2");

function referenceEncode(text: string): number[] {
  return preTokenize(text.normalize("NFC")).flatMap((w) => referenceBpe(w));
}

test("BPE matches textbook BPE on words short and long (heap path above 128 bytes)", { skip: needsShared("tokenizers") }, () => {
  const words = [
    "hello",
    " world",
    "ĠĠ",
    "Straße",
    " 中文分词测试",
    "😀👍🏽",
    "a".repeat(300),
    "ab".repeat(200),
    "的".repeat(150),
    "xyz".repeat(90),
    "antidisestablishmentarianism",
  ];
  for (const w of words) assert.deepEqual(tok.encode(w), referenceEncode(w), w.slice(0, 20));
  for (const n of [1, 2, 3, 7, 64, 129, 500, 2000]) {
    const s = " ".repeat(n);
    assert.deepEqual(tok.encode(s), referenceEncode(s), `${n} spaces`);
  }
});

test("the word cache gives the same ids on repeat and after many distinct words", { skip: needsShared("tokenizers") }, () => {
  const text = "The cache must not change results: 'tis the season, isn't it? ".repeat(3);
  const first = tok.encode(text);
  for (let i = 0; i < 140_000; i++) tok.encode(` w${i.toString(36)}q`);
  assert.deepEqual(tok.encode(text), first);
  assert.deepEqual(first, referenceEncode(text));
});

test("long inputs: 100k spaces, 100k digits and a 10 MB line tokenise correctly", () => {
  const spaces = " ".repeat(100_000);
  const ids = tok.encode(spaces);
  assert.equal(tok.decode(ids), spaces);
  assert.ok(ids.length < 100_000 / 8, "long space runs merge into multi-space tokens");

  const digits = "1234567890".repeat(10_000);
  const digitIds = tok.encode(digits);
  assert.equal(digitIds.length, 100_000);
  assert.deepEqual(
    digitIds.slice(0, 10),
    [..."1234567890"].map((d) => tok.tokenToId(d)),
  );

  const unit = " the quick brown fox jumps over the lazy dog,";
  const count = Math.ceil(10_000_000 / unit.length);
  const line = "Start" + unit.repeat(count);
  const lineIds = tok.encode(line);
  const head = tok.encode("Start");
  const body = tok.encode(unit);
  assert.equal(lineIds.length, head.length + body.length * count);
  assert.deepEqual(lineIds.slice(head.length, head.length + body.length), body);
  assert.deepEqual(lineIds.slice(lineIds.length - body.length), body);
});
