import { test } from "node:test";
import assert from "node:assert/strict";
import { isNfcUnassigned, nfc, nfcAligned } from "../../src/tokenizer/normalize.js";

test("NFC: code points newer than the reference's tables block composition and reordering", () => {
  // U+1DFA and U+089F are combining marks in Node's Unicode, unassigned for the reference.
  assert.ok(isNfcUnassigned(0x1dfa) && isNfcUnassigned(0x089f));
  assert.ok(!isNfcUnassigned(0x0301) && !isNfcUnassigned(0x41));
  assert.equal(nfc("e\u1dfa\u0301"), "e\u1dfa\u0301");
  assert.notEqual("e\u1dfa\u0301".normalize("NFC"), "e\u1dfa\u0301", "Node itself would change it");
  assert.equal(nfc("a\u0316\u089f"), "a\u0316\u089f");
  assert.equal(nfc("e\u0301\u1dfae\u0301"), "\u00e9\u1dfa\u00e9");
  // Newer compositions (Unicode 16 scripts) are not applied.
  assert.equal(nfc("\u{1611e}\u{1611e}"), "\u{1611e}\u{1611e}");
});

test("NFC agrees with Node on text made of older characters", () => {
  const samples = ["", "plain ascii", "Cafe\u0301", "\u1100\u1161\u11a8", "A\u030a\u0323", "\u0b47\u0b3e", "ﬁ ① Å", "e\u0301\u0327\u0323"];
  for (const s of samples) assert.equal(nfc(s), s.normalize("NFC"), JSON.stringify(s));
});

test("nfcAligned: the parts join to nfc(s) and map every output unit into the input", () => {
  let x = 3;
  const r = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % n;
  };
  const pool = [
    "a",
    "e",
    "\u0301",
    "\u0327",
    " ",
    "中",
    "\u1100",
    "\u1161",
    "\u11a8",
    "\u0b47",
    "\u0b3e",
    "\u1dfa",
    "Å",
    "ﬁ",
    "😀",
    "\u0345",
  ];
  for (let i = 0; i < 2000; i++) {
    let s = "";
    for (let k = 0, n = 1 + r(12); k < n; k++) s += pool[r(pool.length)];
    const al = nfcAligned(s);
    assert.equal(al.text, nfc(s));
    for (let j = 0; j < al.text.length; j++) {
      assert.ok(al.partStart[j]! < al.partEnd[j]! && al.partEnd[j]! <= s.length);
      assert.equal(nfc(s.slice(al.partStart[j], al.partEnd[j])).length > 0, true);
    }
  }
});

test("nfc equals the plain definition (cut at table code points, Node NFC between) on random text", () => {
  const plain = (s: string): string => {
    let out = "";
    let seg = "";
    for (const ch of s) {
      if (isNfcUnassigned(ch.codePointAt(0)!)) {
        out += seg.normalize("NFC") + ch;
        seg = "";
      } else seg += ch;
    }
    return out + seg.normalize("NFC");
  };
  let x = 11;
  const r = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % n;
  };
  const pool = [
    "a",
    "e",
    "A",
    " ",
    "\n",
    "ß",
    "\u02ff",
    "\u0301",
    "\u0327",
    "\u0345",
    "\u0316",
    "\u1dfa",
    "\u089f",
    "\u1100",
    "\u1161",
    "\u11a8",
    "\uac00",
    "\u0b47",
    "\u0b3e",
    "中",
    "😀",
    "\u{1611e}",
    "\u{16121}",
    "Å",
    "\u212b",
    "\u0344",
  ];
  for (let i = 0; i < 5000; i++) {
    let s = "";
    for (let k = 0, n = 1 + r(16); k < n; k++) s += pool[r(pool.length)];
    assert.equal(nfc(s), plain(s), JSON.stringify(s));
  }
});
