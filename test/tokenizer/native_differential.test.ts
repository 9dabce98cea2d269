/**
 * Differential test against the native Hugging Face tokenizers build (the devDependency
 * @anush008/tokenizers, tokenizers 0.22, an opt-in peer from bench/): random strings over the inputs that are easy to
 * get wrong. Skipped where the native package cannot load (no binary for the platform).
 * Run time never uses the native package; only this test and tools/derive-nfc-table.mjs do.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import { peerSkipReason, requirePeer, skipReasonUnlessRequired } from "../../bench/peers.js";
import { tokenizersDir } from "../support/paths.js";

interface NativeEncoding {
  getIds(): number[];
}
interface NativeTokenizer {
  encode(text: string, pair: null, options: { addSpecialTokens: boolean }): Promise<NativeEncoding>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
}
interface NativeModule {
  Tokenizer: { fromFile(path: string): NativeTokenizer; fromString(json: string): NativeTokenizer };
}

function loadNative(): NativeModule | null {
  try {
    return requirePeer<NativeModule>("@anush008/tokenizers");
  } catch {
    return null;
  }
}

const native = loadNative();

const POOL = [
  ..."abcXYZ '\"sStTrReEvVmMlLdD’",
  "'s",
  "'LL",
  "'Re",
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "\u0085",
  "\ufeff",
  "\u00a0",
  "\u3000",
  "\u2028",
  "\u200b",
  ..."0123456789",
  "٣",
  "①",
  "Ⅻ",
  "½",
  "𝟙",
  "é",
  "e\u0301",
  "\u0301",
  "\u0316",
  "\u089f",
  "\u1ac1",
  "\u1dfa",
  "a\u0345",
  "\u0334",
  "ſ",
  ..."中文日本語한국어",
  "\u1100\u1161\u11a8",
  "😀",
  "👍🏽",
  "\ud800",
  "\udfff",
  "<|im_end|>",
  "<|im_start|>",
  "<|endoftext|>",
  "<tool_call>",
  "</tool_call>",
  ..."!?.,;:()[]{}<>|/\\-_=+*&^%$#@~`",
  "\u0000",
  "\u007f",
  "\u00ad",
  "ก",
  "\u0e31",
  "क",
  "\u093c",
  "\u0b47",
  "\u0b3e",
  "\u{16121}",
  "\u{1611e}",
  "\u{113c2}",
  "\u1c89",
  "\u{16ff4}",
  "Ꟑ",
  "\u{1e900}",
];

test("ids and decodes agree with native Hugging Face tokenizers on random text", {
  skip:
    native === null
      ? (peerSkipReason("@anush008/tokenizers") ?? skipReasonUnlessRequired("native @anush008/tokenizers has no binary for this platform"))
      : !existsSync(tokenizersDir)
        ? `needs the shared tokenizer folders (${tokenizersDir}; set QWEN2_SHARED)`
        : false,
}, async () => {
  let x = 2024;
  const r = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % n;
  };
  for (const name of ["qwen2.5"]) {
    const ours = await loadTokenizer(join(tokenizersDir, name));
    const ref = native!.Tokenizer.fromFile(join(tokenizersDir, name, "tokenizer.json"));
    for (let i = 0; i < 2000; i++) {
      let s = "";
      for (let k = 0, n = 1 + r(20); k < n; k++) {
        if (r(4) === 0) {
          let cp = r(3) === 0 ? r(0x30000) : r(0x3400);
          if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20;
          s += String.fromCodePoint(cp);
        } else s += POOL[r(POOL.length)];
      }
      const want = (await ref.encode(s, null, { addSpecialTokens: false })).getIds();
      assert.deepEqual(ours.encode(s), want, `${name} ${JSON.stringify(s)}`);
      assert.equal(ours.decode(want, { skipSpecialTokens: true }), await ref.decode(want, true), `${name} decode ${JSON.stringify(s)}`);
    }
  }
});
