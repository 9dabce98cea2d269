/**
 * Tokenizing in pieces (src/server/prompt_tokens.ts) against the real Qwen2.5 tokenizer
 * (the package's embedded copy): the pieces' ids are exactly the whole text's, a text past
 * the limit is refused early, and the event loop runs between pieces.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { ApiError } from "../../src/server/errors.js";
import { encodeChecked, maxTokenBytes, nextCut, pieces } from "../../src/server/prompt_tokens.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import type { TextTokenizer } from "../../src/tokenizer/types.js";

/** Text that exercises the pre-tokenizer: contractions, digits, punctuation runs, newlines, CJK, emoji, specials. */
const SAMPLE = [
  "The quick brown fox can't jump over 12345 lazy dogs; they'll say: \"It's fine!\" ...",
  "  indented   spaces\tand tabs\n\n\nnew paragraphs, URLs like https://example.com/a?b=c&d=e",
  "数学 and français naïve café — e\u0301 combining, 😀 emoji, <|im_start|>user\nhi<|im_end|>",
  "x = f(y) + g(z); if (a && b) { return c; } // code-ish text with CamelCaseWords and snake_case",
].join(" ");

describe("tokenizing in pieces", () => {
  let tok: Tokenizer;
  before(async () => {
    tok = await Tokenizer.embedded("qwen2.5");
  });

  it("cuts only before ' word' after a letter, and the pieces join back to the text", () => {
    assert.equal(nextCut("ab cd", 0), 2);
    assert.equal(nextCut("a, cd", 0), -1);
    assert.equal(nextCut("é cd", 0), -1, "only ASCII letters on both sides");
    const text = SAMPLE.repeat(20);
    const parts = [...pieces(text, 50)];
    assert.ok(parts.length > 50, `${parts.length} pieces`);
    assert.equal(parts.join(""), text);
  });

  it("gives exactly the ids of tokenizing the whole text (qwen2.5, pieces of 40..200 chars)", async () => {
    const text = SAMPLE.repeat(12);
    const whole = tok.encode(text);
    for (const size of [40, 97, 200]) {
      assert.deepEqual(await encodeChecked(tok, text, {}, 1e9, "prompt", undefined, size), whole, `pieces of ${size}`);
    }
  });

  it("refuses a text past the limit from its length alone, before tokenizing anything", async () => {
    let calls = 0;
    const spy: TextTokenizer = Object.create(tok, {
      encode: {
        value: (...a: Parameters<Tokenizer["encode"]>) => {
          calls++;
          return tok.encode(...a);
        },
      },
    });
    const big = "word ".repeat(800_000); // 4 MB
    await assert.rejects(encodeChecked(spy, big, {}, 4096, "messages"), (err: ApiError) => {
      assert.equal(err.status, 400);
      assert.equal(err.code, "context_length_exceeded");
      assert.equal(err.param, "messages");
      assert.match(err.message, /at least \d+ tokens/);
      return true;
    });
    assert.equal(calls, 0);
    assert.ok(maxTokenBytes(tok) >= 16 && maxTokenBytes(tok) < 1024);
  });

  it("stops at the piece that passes the limit, and lets the event loop run between pieces", async () => {
    let calls = 0;
    const spy: TextTokenizer = Object.create(tok, {
      encode: {
        value: (...a: Parameters<Tokenizer["encode"]>) => {
          calls++;
          return tok.encode(...a);
        },
      },
    });
    const text = SAMPLE.repeat(100);
    const total = [...pieces(text, 500)].length;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      await assert.rejects(encodeChecked(spy, text, {}, 2000, "prompt", undefined, 500), /at least 2\d{3} tokens/);
    } finally {
      clearInterval(ticker);
    }
    assert.ok(calls < total / 2, `${calls} of ${total} pieces tokenized`);
    assert.ok(ticks > 0, "other callbacks ran meanwhile");
  });
});
