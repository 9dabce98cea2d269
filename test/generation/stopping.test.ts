import { test } from "node:test";
import assert from "node:assert/strict";
import { StopStringMatcher, collectEosIds } from "../../src/generation/stopping.js";
import { ToyTokenizer, EOT, IM_END } from "./toy.js";

test("EOS ids are the union of generation_config, config and tokenizer ids", () => {
  const ids = collectEosIds({ generationConfig: { eos_token_id: [7] }, config: { eos_token_id: [7, 9] }, tokenizer: new ToyTokenizer() });
  assert.deepEqual(ids, [7, 9, EOT, IM_END]);
  assert.deepEqual(collectEosIds({}), []);
});

test("a stop string split across pieces is found and trimmed", () => {
  const m = new StopStringMatcher(["STOP"]);
  const out: string[] = [];
  for (const piece of ["abc S", "T", "O", "Pxyz"]) {
    const r = m.push(piece);
    out.push(r.text);
    if (r.stopped) {
      assert.equal(r.stop, "STOP");
      break;
    }
  }
  assert.equal(out.join(""), "abc ");
  assert.deepEqual(out, ["abc ", "", "", ""], "held-back prefixes are never shown");
});

test("held-back text is released once it can no longer be a stop string", () => {
  const m = new StopStringMatcher(["</end>"]);
  assert.equal(m.push("a</e").text, "a");
  assert.equal(m.push("x").text, "</ex");
  assert.equal(m.push("</").text, "");
  assert.equal(m.flush(), "</");
});

test("the earliest of several stop strings wins", () => {
  const m = new StopStringMatcher(["world", "lo w"]);
  const r = m.push("hello world");
  assert.deepEqual({ text: r.text, stopped: r.stopped, stop: r.stop }, { text: "hel", stopped: true, stop: "lo w" });
});

test("without stop strings text passes through untouched", () => {
  const m = new StopStringMatcher([""]);
  assert.equal(m.hasStops, false);
  assert.equal(m.push("abc").text, "abc");
});
