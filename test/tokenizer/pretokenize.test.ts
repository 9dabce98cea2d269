import { test } from "node:test";
import assert from "node:assert/strict";
import { preTokenize, splitQwen2 } from "../../src/tokenizer/pretokenize.js";
import { charClassTable, LETTER, NUMBER, SPACE } from "../../src/tokenizer/char_class.js";
import { referenceSplit } from "./reference.js";

/** Code points on which Node's \p{L}/\p{N} agree with the reference's (older) tables. */
function agrees(cp: number): boolean {
  const c = String.fromCodePoint(cp);
  const k = charClassTable()[cp];
  if ((k === LETTER) !== /\p{L}/u.test(c)) return false;
  if ((k === NUMBER) !== /\p{N}/u.test(c)) return false;
  return true;
}

function rng(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % n;
  };
}

const FIXED = [
  ..."aZ'sStTrReEvVmMlLdD",
  "'ll",
  "'RE",
  " ",
  "  ",
  "\t",
  "\n",
  "\r",
  "\r\n",
  "\u0085",
  "\ufeff",
  "\u00a0",
  "\u3000",
  "\u2028",
  "\u200b",
  ..."09٣①½",
  "é",
  "\u0301",
  "中",
  "😀",
  "𝟙",
  "𝐀",
  ..."!?.,()<>|_-",
  "\u0000",
  "ſ",
];

test("scanner matches the reference regex on random text", () => {
  const r = rng(42);
  for (let iter = 0; iter < 3000; iter++) {
    let s = "";
    const len = 1 + r(30);
    for (let k = 0; k < len; k++) {
      if (r(3) === 0) {
        let cp: number;
        do cp = r(4) === 0 ? r(0x20000) : r(0x3000);
        while ((cp >= 0xd800 && cp <= 0xdfff) || !agrees(cp));
        s += String.fromCodePoint(cp);
      } else s += FIXED[r(FIXED.length)];
    }
    assert.deepEqual(preTokenize(s), referenceSplit(s), JSON.stringify(s));
  }
});

test("Oniguruma's classes: U+0085 is a space, U+FEFF is not, digits split one by one", () => {
  const t = charClassTable();
  assert.equal(t[0x85], SPACE);
  assert.notEqual(t[0xfeff], SPACE);
  assert.deepEqual(preTokenize("a\u0085\u0085b"), ["a", "\u0085", "\u0085b"]);
  assert.deepEqual(preTokenize("a \ufeffb"), ["a", " \ufeff", "b"]);
  assert.deepEqual(preTokenize("2024"), ["2", "0", "2", "4"]);
  assert.deepEqual(preTokenize("It'S we'LL 'ſ"), ["It", "'S", " we", "'LL", " '", "ſ"]);
});

test("pathological inputs split like the reference and in one pass", () => {
  for (const n of [1, 2, 3, 1000, 20000]) {
    for (const s of [
      " ".repeat(n),
      "a" + " ".repeat(n) + "b",
      "1".repeat(n),
      "\n ".repeat(n) + "x",
      "!".repeat(n) + "a",
      " \t".repeat(n) + "\n",
    ]) {
      assert.deepEqual(preTokenize(s), referenceSplit(s), `${JSON.stringify(s.slice(0, 8))}... (${s.length})`);
    }
  }
  // 100k spaces before a letter: one run, then " b".
  const big = "a" + " ".repeat(100_000) + "b";
  assert.deepEqual(splitQwen2(big), [1, 100_000, big.length]);
});
