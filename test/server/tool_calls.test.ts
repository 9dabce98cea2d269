import assert from "node:assert/strict";
import { it } from "node:test";
import { ToolCallParser, parseToolCallBody, type Segment } from "../../src/server/tool_calls.js";

function feed(pieces: string[]): Segment[] {
  const p = new ToolCallParser();
  const out: Segment[] = [];
  for (const x of pieces) out.push(...p.push(x));
  out.push(...p.flush());
  return out;
}

function chars(s: string): string[] {
  return [...s];
}

it("finds calls split anywhere across pieces and never leaks tags into content", () => {
  const text =
    'Let me check.\n<tool_call>\n{"name": "f", "arguments": {"a": [1, 2]}}\n</tool_call>\n<tool_call>{"name":"g","arguments":"{}"}</tool_call>';
  for (const pieces of [[text], chars(text)]) {
    const segs = feed(pieces);
    const content = segs
      .filter((s) => s.type === "content")
      .map((s) => (s as { text: string }).text)
      .join("");
    assert.equal(content, "Let me check.");
    const calls = segs.filter((s) => s.type === "tool_call").map((s) => (s as { call: { name: string; arguments: string } }).call);
    assert.deepEqual(calls, [
      { name: "f", arguments: '{"a":[1,2]}' },
      { name: "g", arguments: "{}" },
    ]);
  }
});

it("holds back a possible tag start, and releases it when it is not one", () => {
  const p = new ToolCallParser();
  assert.deepEqual(p.push("a <tool"), [{ type: "content", text: "a" }]);
  assert.deepEqual(p.push("box> b"), [{ type: "content", text: " <toolbox> b" }]);
  assert.deepEqual(p.flush(), []);
});

it("degrades malformed calls to content, and accepts a complete call missing its closing tag", () => {
  const bad = '<tool_call>{"name": }</tool_call>';
  assert.deepEqual(feed([bad]), [{ type: "content", text: bad }]);
  assert.deepEqual(feed(['<tool_call>{"arguments": {}}</tool_call>']), [
    { type: "content", text: '<tool_call>{"arguments": {}}</tool_call>' },
  ]);
  assert.deepEqual(feed(['<tool_call>\n{"name": "f", "arguments": {}}\n']), [{ type: "tool_call", call: { name: "f", arguments: "{}" } }]);
  assert.deepEqual(feed(['<tool_call>\n{"name": "f"']), [{ type: "content", text: '<tool_call>\n{"name": "f"' }]);
  assert.equal(parseToolCallBody('{"name": "f", "arguments": "not json"}'), null);
  assert.equal(parseToolCallBody("[1]"), null);
});

it("keeps ordinary text untouched, whitespace included", () => {
  assert.deepEqual(
    feed(["  hello\n", "world  "])
      .map((s) => (s as { text: string }).text)
      .join(""),
    "  hello\nworld  ",
  );
});
