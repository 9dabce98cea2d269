/** The request body's JSON depth scan, whole and in pieces (as chunks arrive). */
import assert from "node:assert/strict";
import { it } from "node:test";
import { JsonDepthScanner, jsonDepth } from "../../src/server/http_util.js";

const SAMPLES = [
  '{"a": [1, {"b": "[[[{"}], "c": "x\\\\"}',
  '["\\"[[[", [[["\\\\\\"]"]]]]',
  '{"k": "é ✓ \\u005b [", "n": [[[]]], "m": {"p": {}}}',
  "[[[[[[[[[[1]]]]]]]]]]",
  '"[[[[" [ "]]]]"',
];

it("a depth scan split at every position agrees with the whole text's (strings and escapes spanning pieces)", () => {
  const want = [3, 4, 4, 10, 1];
  SAMPLES.forEach((text, n) => {
    assert.equal(jsonDepth(text), want[n], text);
    for (let cut = 0; cut <= text.length; cut++) {
      for (const second of [cut, Math.min(text.length, cut + 3)]) {
        const scanner = new JsonDepthScanner();
        scanner.push(text.slice(0, cut));
        scanner.push(text.slice(cut, second));
        scanner.push(text.slice(second));
        assert.equal(scanner.deepest, want[n], `${text} cut at ${cut}, ${second}`);
      }
    }
  });
});
