/**
 * Every case of the conformance file (QWEN2_TOKENIZER_CASES, default
 * ../shared/tokenizers/public_cases.jsonl) against the tokenizer folders beside it: ids for
 * qwen2 (added tokens recognised), qwen2-plain (not recognised), qwen2.5, qwen3, the slow
 * layout, and every decode expectation. Expected values come from Hugging Face tokenizers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { tokenizerCasesFile, tokenizersDir } from "../support/paths.js";
import { caseText, idsField, loadCases, type TokenizerCase } from "./cases.js";

const missing = [tokenizerCasesFile, tokenizersDir].find((p) => !existsSync(p));
const skip = missing === undefined ? false : `needs ${missing} (../shared beside the checkout; set QWEN2_SHARED or QWEN2_TOKENIZER_CASES)`;
const cases = missing === undefined ? loadCases(tokenizerCasesFile) : [];
const load = (name: string) => loadTokenizer(join(tokenizersDir, name));
type Five = [Tokenizer, Tokenizer, Tokenizer, Tokenizer, Tokenizer];
const [qwen2, plain, slow, qwen25, qwen3] = (
  missing === undefined ? await Promise.all(["qwen2", "qwen2-plain", "qwen2-slow", "qwen2.5", "qwen3"].map(load)) : []
) as Five;

function firstDefined(c: TokenizerCase, ...fields: string[]): string | undefined {
  for (const f of fields) if (typeof c[f] === "string") return c[f] as string;
  return undefined;
}

function show(ids: number[] | string): string {
  const s = JSON.stringify(ids);
  return s.length > 300 ? s.slice(0, 300) + "..." : s;
}

const byCategory = new Map<string, TokenizerCase[]>();
for (const c of cases) {
  const list = byCategory.get(c.category) ?? [];
  list.push(c);
  byCategory.set(c.category, list);
}

for (const [category, list] of byCategory) {
  test(`conformance: ${category} (${list.length} cases)`, () => {
    const failures: string[] = [];
    const check = (c: TokenizerCase, what: string, got: number[] | string, want: number[] | string | undefined) => {
      if (want === undefined) return;
      try {
        assert.deepEqual(got, want);
      } catch {
        failures.push(`${c.id} ${what}: got ${show(got)} want ${show(want)}`);
      }
    };
    for (const c of list) {
      const text = caseText(c);
      const withSpecial = idsField(c, "ids_qwen2_with_special");
      if (text !== undefined) {
        const plainIds = idsField(c, "ids_qwen2");
        check(c, "ids_qwen2 (qwen2-plain)", plain.encode(text), plainIds);
        check(c, "ids_qwen2 (qwen2, splitSpecialTokens)", qwen2.encode(text, { splitSpecialTokens: true }), plainIds);
        check(c, "ids_qwen2_with_special", qwen2.encode(text), withSpecial);
        check(c, "ids_qwen2_with_special (slow layout)", slow.encode(text), withSpecial);
        check(c, "ids_qwen2_5_with_special", qwen25.encode(text), idsField(c, "ids_qwen2_5_with_special") ?? withSpecial);
        check(
          c,
          "ids_qwen3_with_special",
          qwen3.encode(text),
          idsField(c, "ids_qwen3_with_special") ?? idsField(c, "ids_qwen2_5_with_special") ?? withSpecial,
        );
        if (withSpecial !== undefined) {
          const decoded = firstDefined(c, "decoded") ?? (c.roundtrip === true ? text : undefined);
          check(c, "decode", qwen2.decode(withSpecial), decoded);
          check(
            c,
            "decode skipSpecialTokens",
            qwen2.decode(withSpecial, { skipSpecialTokens: true }),
            firstDefined(c, "decoded_skip_special") ?? decoded,
          );
          // Each later tokenizer's fields are present only where they differ from the previous one.
          const skip2 = firstDefined(c, "decoded_skip_special") ?? decoded;
          const ids25 = idsField(c, "ids_qwen2_5_with_special") ?? withSpecial;
          const skip25 = firstDefined(c, "decoded_skip_special_qwen2_5") ?? skip2;
          check(c, "decode skipSpecialTokens (qwen2.5)", qwen25.decode(ids25, { skipSpecialTokens: true }), skip25);
          const ids3 = idsField(c, "ids_qwen3_with_special") ?? ids25;
          check(
            c,
            "decode skipSpecialTokens (qwen3)",
            qwen3.decode(ids3, { skipSpecialTokens: true }),
            firstDefined(c, "decoded_skip_special_qwen3") ?? skip25,
          );
        }
        if (plainIds !== undefined) check(c, "decoded_plain", plain.decode(plainIds), firstDefined(c, "decoded_plain"));
      }
      if (c.decode_ids !== undefined) {
        check(c, "decode(decode_ids)", qwen2.decode(c.decode_ids), firstDefined(c, "decoded"));
        check(
          c,
          "decode(decode_ids, skipSpecialTokens)",
          qwen2.decode(c.decode_ids, { skipSpecialTokens: true }),
          firstDefined(c, "decoded_skip_special", "decoded"),
        );
      }
    }
    assert.equal(failures.length, 0, `${failures.length} failures:\n${failures.slice(0, 20).join("\n")}`);
  });
}

test("conformance: the case file is not empty", { skip }, () => {
  assert.ok(cases.length > 0, `no cases in ${tokenizerCasesFile}`);
});

test("conformance: the embedded qwen2 and qwen2.5 tokenizers give the same ids as the shared folders", { skip }, async () => {
  const embedded2 = await Tokenizer.embedded("qwen2");
  const embedded25 = await Tokenizer.embedded("qwen2.5");
  assert.equal(embedded2.vocabSize, qwen2.vocabSize);
  assert.equal(embedded25.vocabSize, qwen25.vocabSize);
  assert.equal(embedded25.chatTemplate, qwen25.chatTemplate);
  let compared = 0;
  for (const c of cases) {
    const text = caseText(c);
    if (text === undefined || text.length > 5000) continue;
    assert.deepEqual(embedded2.encode(text), qwen2.encode(text), c.id);
    assert.deepEqual(embedded25.encode(text), qwen25.encode(text), c.id);
    compared++;
  }
  assert.ok(compared > 100);
});
