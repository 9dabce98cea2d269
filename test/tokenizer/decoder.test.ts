import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { completeUtf8Prefix, decodeUtf8 } from "../../src/tokenizer/decoder.js";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte_level.js";

const tok = await Tokenizer.embedded("qwen2");
/** The id of the single-byte token for byte b. */
const byteId = (b: number): number => tok.tokenToId(BYTE_TO_CHAR[b]!)!;
const bytesToIds = (bytes: number[]): number[] => bytes.map(byteId);
/** The ids of the three bytes of a 3-byte character. */
const threeIds = (bytes: [number, number, number]): [number, number, number] => [byteId(bytes[0]), byteId(bytes[1]), byteId(bytes[2])];

test("errors=replace: one U+FFFD per maximal invalid subpart, as Python's bytes.decode", () => {
  const cases: [number[], string][] = [
    [[0xe2, 0x82], "\ufffd"], // truncated 3-byte sequence
    [[0xf0, 0x80, 0x80], "\ufffd\ufffd\ufffd"], // F0 80: 80 is out of range after F0
    [[0xed, 0xa0, 0x80], "\ufffd\ufffd\ufffd"], // an encoded surrogate
    [[0xc0, 0xaf], "\ufffd\ufffd"], // overlong
    [[0x61, 0xff, 0x62], "a\ufffdb"],
    [[0xf0, 0x9f, 0x98, 0x80], "😀"],
    [[0xf0, 0x9f, 0x98], "\ufffd"],
    [[0xf4, 0x90, 0x80, 0x80], "\ufffd\ufffd\ufffd\ufffd"], // above U+10FFFF
  ];
  for (const [bytes, want] of cases) assert.equal(tok.decode(bytesToIds(bytes)), want, JSON.stringify(bytes));
});

test("decode: [] gives '', unknown ids are dropped, skipSpecialTokens drops only special tokens", async () => {
  assert.equal(tok.decode([]), "");
  const hello = tok.encode("Hello");
  assert.equal(tok.decode([...hello, 999_999, -1, 1.5, 151_700]), "Hello");
  const withEnd = tok.encode("Hi<|im_end|>");
  assert.equal(tok.decode(withEnd), "Hi<|im_end|>");
  assert.equal(tok.decode(withEnd, { skipSpecialTokens: true }), "Hi");
  const q25 = await Tokenizer.embedded("qwen2.5");
  const ids = q25.encode("<tool_call>x</tool_call><|im_end|>");
  assert.equal(ids[0], 151657);
  assert.equal(q25.decode(ids, { skipSpecialTokens: true }), "<tool_call>x</tool_call>");
  assert.equal(q25.isSpecialId(151657), false);
  assert.equal(q25.isSpecialId(151645), true);
});

test("a special token between partial UTF-8 bytes breaks the character", () => {
  const [a, b, c] = threeIds([0xe4, 0xb8, 0xad]); // 中
  assert.equal(tok.decode([a, b, c]), "中");
  assert.equal(tok.decode([a, 151645, b, c]), "\ufffd<|im_end|>\ufffd\ufffd");
  assert.equal(tok.decode([a, 151645, b, c], { skipSpecialTokens: true }), "中");
});

test("completeUtf8Prefix holds back only a valid incomplete tail", () => {
  const b = (xs: number[]) => Uint8Array.from(xs);
  assert.equal(completeUtf8Prefix(b([0x61, 0xe4, 0xb8]), 3), 1);
  assert.equal(completeUtf8Prefix(b([0x61, 0xe4, 0xb8, 0xad]), 4), 4);
  assert.equal(completeUtf8Prefix(b([0xf0, 0x9f, 0x98]), 3), 0);
  assert.equal(completeUtf8Prefix(b([0xe0, 0x80]), 2), 2); // E0 80 can never complete
  assert.equal(completeUtf8Prefix(b([0xff]), 1), 1);
  assert.equal(completeUtf8Prefix(b([0x80, 0x80]), 2), 2);
});

test("stream decoder: concatenated output equals decode, and no chunk holds half a character", () => {
  let x = 7;
  const r = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % n;
  };
  const texts = ["Hello, 世界! 😀👍🏽 Ελληνικά", "<|im_start|>user\n中文<|im_end|>", "naïve café ß"];
  for (let iter = 0; iter < 300; iter++) {
    // Real token sequences, byte-level tokens of random bytes, and special tokens, mixed.
    const ids: number[] = [];
    const parts = 1 + r(6);
    for (let p = 0; p < parts; p++) {
      const k = r(4);
      if (k === 0) ids.push(...tok.encode(texts[r(texts.length)]!));
      else if (k === 1) ids.push(...bytesToIds(Array.from({ length: 1 + r(4) }, () => 0x80 + r(0x78))));
      else if (k === 2) ids.push(151643 + r(3));
      else ids.push(...bytesToIds([...Buffer.from("é中😀")].slice(r(4))));
    }
    for (const skipSpecialTokens of [false, true]) {
      const dec = tok.createStreamDecoder({ skipSpecialTokens });
      let out = "";
      for (const id of ids) {
        const chunk = dec.push(id);
        assert.equal(chunk, decodeUtf8(Buffer.from(chunk, "utf8")), "chunks are whole characters");
        out += chunk;
      }
      out += dec.flush();
      assert.equal(out, tok.decode(ids, { skipSpecialTokens }), JSON.stringify(ids));
    }
  }
});

test("stream decoder emits a multi-byte character only once complete", () => {
  const dec = tok.createStreamDecoder();
  const [a, b, c] = threeIds([0xe4, 0xb8, 0xad]);
  assert.equal(dec.push(a), "");
  assert.equal(dec.push(b), "");
  assert.equal(dec.push(c), "中");
  assert.equal(dec.push(a), "");
  assert.equal(dec.flush(), "\ufffd");
  assert.equal(dec.flush(), "");
});

test("idToBytes: byte-level bytes of vocabulary tokens, UTF-8 of added tokens", () => {
  assert.deepEqual([...tok.idToBytes(tok.tokenToId("Ġworld")!)!], [...Buffer.from(" world")]);
  assert.deepEqual([...tok.idToBytes(151645)!], [...Buffer.from("<|im_end|>")]);
  assert.equal(tok.idToBytes(10_000_000), undefined);
  assert.equal(tok.idToBytes(-3), undefined);
});
