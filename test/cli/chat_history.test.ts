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

it("chat takes generate's sampling and stopping flags (--stop, --min-p, --repetition-penalty, --max-new-tokens)", async () => {
  const { main } = await import("../../src/cli/main.js");
  const { captureIO } = await import("../support/cli_io.js");
  const { loadModel } = await import("../server/toy_loader.js");
  process.env.QWEN2_TOY_DELAY_MS = "0";
  const t = captureIO("say hello\n/exit\n");
  const args = [
    "chat",
    "--model",
    "toy",
    "--temperature",
    "0",
    "--stop",
    ", the",
    "--min-p",
    "0.05",
    "--repetition-penalty",
    "1",
    "--max-new-tokens",
    "50",
  ];
  assert.equal(await main(args, { ...t.io, loadModel }), 0, t.err());
  assert.match(t.out(), /Hello there\n\[/, "the answer stops before ', the'");
  assert.match(t.err(), /toy holds RANDOM weights/);
  assert.doesNotMatch(t.err(), /\r/, "stderr is not a terminal: no carriage returns");
  const bad = captureIO();
  assert.equal(await main(["chat", "--model", "toy", "--min-p", "3"], { ...bad.io, loadModel }), 2);
  assert.match(bad.err(), /--min-p must be a number in \[0, 1\], got "3"/);
});
