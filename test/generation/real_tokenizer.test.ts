/**
 * Generation through the real Qwen2 tokenizer (embedded), its chat template and its
 * streaming decoder, with a scripted model standing in for the weights.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { generate, stream, encodePrompt } from "../../src/generation/generate.js";
import { collectEosIds } from "../../src/generation/stopping.js";
import { idScriptModel } from "./toy.js";

const tok = await Tokenizer.embedded("qwen2");
const imEnd = tok.tokenToId("<|im_end|>")!;
const endOfText = tok.tokenToId("<|endoftext|>")!;

test("the tokenizer's EOS ids include <|im_end|> and <|endoftext|>", () => {
  const ids = collectEosIds({ tokenizer: tok });
  assert.ok(ids.includes(imEnd) && ids.includes(endOfText));
});

test("chat generation with the Qwen2 template: text streams whole characters and stops at <|im_end|>", async () => {
  const answer = "Bonjour ! 你好 😀 — fin.";
  const model = idScriptModel(tok.vocabSize, [...tok.encode(answer), imEnd]);
  const messages = [{ role: "user", content: "Say hello in French." }];
  const pieces: string[] = [];
  const it = stream(model, tok, messages, { eosIds: collectEosIds({ tokenizer: tok }) });
  let result;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      result = r.value;
      break;
    }
    pieces.push(r.value);
  }
  assert.equal(pieces.join(""), answer);
  assert.equal(result.text, answer);
  assert.equal(result.finishReason, "stop");
  for (const p of pieces) assert.ok(!p.includes("\uFFFD"), `piece ${JSON.stringify(p)}`);
  const prompt = tok.decode(model.calls[0]![0]!);
  assert.equal(
    prompt,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nSay hello in French.<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.deepEqual(model.calls[0]![0], encodePrompt(tok, messages));
});

test("a stop string inside one multi-character token is still found", async () => {
  const answer = "alpha beta gamma";
  const model = idScriptModel(tok.vocabSize, [...tok.encode(answer), imEnd]);
  const r = await generate(model, tok, "x", { stop: ["et"] });
  assert.equal(r.text, "alpha b");
  assert.equal(r.finishReason, "stop");
});
