/**
 * Through the Tokenizer: applyChatTemplate on the shared tokenizer folders renders each
 * Jinja2 vector of that folder's template, and a folder without a template says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import type { ChatMessage } from "../../src/tokenizer/types.js";
import { repoRoot, tokenizersDir } from "../support/paths.js";

interface ChatVector {
  readonly name: string;
  readonly template: string;
  readonly messages?: ChatMessage[];
  readonly tools?: unknown[];
  readonly add_generation_prompt?: boolean;
  readonly extra?: Record<string, unknown>;
  readonly expected?: string;
  readonly error?: string;
}

const sharedSkip = existsSync(tokenizersDir) ? false : `needs the shared tokenizer folders (${tokenizersDir}; set QWEN2_SHARED)`;

const data = JSON.parse(readFileSync(resolve(repoRoot, "test/tokenizer/data/chat_vectors.json"), "utf8")) as {
  templates: Record<string, string>;
  vectors: ChatVector[];
};

for (const folder of ["qwen2", "qwen2.5", "qwen3"]) {
  test(`Tokenizer.applyChatTemplate (${folder}) reproduces the Jinja2 vectors of its template`, { skip: sharedSkip }, async () => {
    const tokenizer = await loadTokenizer(resolve(tokenizersDir, folder));
    assert.equal(
      tokenizer.chatTemplate,
      data.templates[folder],
      "the vector file was made from another template; rerun tools/make-chat-vectors.py",
    );
    const vectors = data.vectors.filter((v) => v.template === folder && v.expected !== undefined);
    assert.ok(vectors.length > 50);
    for (const v of vectors) {
      const got = tokenizer.applyChatTemplate(v.messages ?? [], {
        addGenerationPrompt: v.add_generation_prompt,
        tools: v.tools,
        extra: v.extra,
      });
      assert.equal(got, v.expected, v.name);
    }
    // tokenize: the rendered text's ids, with the chat markers as their special ids.
    const ids = tokenizer.applyChatTemplate([{ role: "user", content: "Hi" }], { addGenerationPrompt: true, tokenize: true });
    assert.equal(ids[0], tokenizer.tokenToId("<|im_start|>"));
  });
}

test("a tokenizer folder without chat_template gives an error naming tokenizer_config.json and chat_template", {
  skip: sharedSkip,
}, async () => {
  const tokenizer = await loadTokenizer(resolve(tokenizersDir, "qwen2-plain"));
  assert.equal(tokenizer.chatTemplate, null);
  assert.throws(
    () => tokenizer.applyChatTemplate([{ role: "user", content: "Hi" }]),
    (e: unknown) => e instanceof Error && /tokenizer_config\.json/.test(e.message) && /chat_template/.test(e.message),
  );
});
