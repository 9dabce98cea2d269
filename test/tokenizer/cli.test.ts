import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { tokenizersDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { runCli as run } from "../support/cli_io.js";

const tok = await Tokenizer.embedded("qwen2");

test("qwen2 tokenize: arguments, stdin, --count, --split-special", async () => {
  const r = await run(["tokenize", "Hello,", "world<|im_end|>"]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), tok.encode("Hello, world<|im_end|>"));
  const s = await run(["tokenize"], "line one\nline two\n");
  assert.deepEqual(JSON.parse(s.out), tok.encode("line one\nline two\n"));
  const c = await run(["tokenize", "--count", "Hello world"]);
  assert.equal(c.out, `${tok.encode("Hello world").length}\n`);
  const sp = await run(["tokenize", "--split-special", "<|im_end|>"]);
  assert.deepEqual(JSON.parse(sp.out), tok.encode("<|im_end|>", { splitSpecialTokens: true }));
});

test("qwen2 tokenize --jsonl: one JSON string in, one JSON array out, per line", async () => {
  const lines = ["a b", "<|im_start|>x", "line\nbreak", ""];
  const r = await run(["tokenize", "--jsonl"], lines.map((l) => JSON.stringify(l)).join("\n") + "\n\n");
  assert.equal(r.code, 0);
  assert.deepEqual(
    r.out
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as number[]),
    lines.map((l) => tok.encode(l)),
  );
  const counts = await run(["tokenize", "--jsonl", "--count"], JSON.stringify("a b c") + "\n");
  assert.equal(counts.out, `${tok.encode("a b c").length}\n`);
  const bad = await run(["tokenize", "--jsonl"], "not json\n");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /line 1/);
});

test("qwen2 tokenize --tokenizer DIR uses that folder", { skip: needsShared("tokenizers") }, async () => {
  const r = await run(["tokenize", "--tokenizer", join(tokenizersDir, "qwen2-plain"), "<|im_end|>"]);
  assert.deepEqual(JSON.parse(r.out), tok.encode("<|im_end|>", { splitSpecialTokens: true }));
});

test("qwen2 detokenize: JSON array or whitespace-separated ids, args or stdin, --skip-special", async () => {
  const ids = tok.encode("Hi 中文<|im_end|>");
  assert.equal((await run(["detokenize", JSON.stringify(ids)])).out, "Hi 中文<|im_end|>");
  assert.equal((await run(["detokenize", ...ids.map(String)])).out, "Hi 中文<|im_end|>");
  assert.equal((await run(["detokenize", "--skip-special"], ids.join(" ") + "\n")).out, "Hi 中文");
  assert.equal((await run(["detokenize"], JSON.stringify(ids))).out, "Hi 中文<|im_end|>");
  const jl = await run(["detokenize", "--jsonl"], JSON.stringify(ids) + "\n" + JSON.stringify([]) + "\n");
  assert.deepEqual(
    jl.out
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as string),
    ["Hi 中文<|im_end|>", ""],
  );
  const bad = await run(["detokenize", "1", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /item 2/);
});

test("qwen2 tokenize --help prints usage", async () => {
  const r = await run(["tokenize", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /--jsonl/);
});
