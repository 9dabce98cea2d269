import assert from "node:assert/strict";
import { it } from "node:test";
import { fitHistory } from "../../src/cli/commands/chat.js";
import type { ChatMessage } from "../../src/tokenizer/types.js";

// One "token" per character of content: easy to reason about.
const count = (ms: ChatMessage[]): number => ms.reduce((s, m) => s + String(m.content ?? "").length, 0);

it("fitHistory drops the oldest turns first and keeps the system prompt and the new message", () => {
  const turns = [
    { user: "aaaa", assistant: "bbbb" },
    { user: "cccc", assistant: "dddd" },
    { user: "eeee", assistant: "ffff" },
  ];
  const all = fitHistory("sys", turns, "new", count, 100);
  assert.equal(all.dropped, 0);
  assert.equal(all.messages.length, 8);
  const fit = fitHistory("sys", turns, "new", count, 3 + 8 + 3);
  assert.equal(fit.dropped, 2);
  assert.deepEqual(
    fit.messages.map((m) => m.content),
    ["sys", "eeee", "ffff", "new"],
  );
  assert.equal(fitHistory("sys", turns, "x".repeat(50), count, 20).tokens, -1, "a message that cannot fit alone");
});
