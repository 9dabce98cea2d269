/**
 * The answer parser (reasoning split, then tool calls) fed the same text in every way a
 * stream may cut it: the segments, joined, must not depend on where the cuts fall, and no
 * tag may ever appear in a piece of content or reasoning.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { AnswerParser, type AnswerParserOptions, type AnswerSegment } from "../../src/server/answer_parser.js";
import { promptOpensThink, ReasoningSplitter } from "../../src/server/reasoning.js";
import { ToolCallParser } from "../../src/server/tool_calls.js";

interface Parsed {
  reasoning: string;
  content: string;
  calls: { name: string; arguments: string }[];
}

function collect(segments: readonly AnswerSegment[]): Parsed {
  const out: Parsed = { reasoning: "", content: "", calls: [] };
  for (const s of segments) {
    if (s.type === "reasoning") out.reasoning += s.text;
    else if (s.type === "content") out.content += s.text;
    else out.calls.push({ name: s.call.name, arguments: s.call.arguments });
  }
  return out;
}

/** Parses `text` cut into pieces at `cuts`; also checks that no piece shows a tag. */
function parse(o: AnswerParserOptions, text: string, cuts: readonly number[], truncated = false): Parsed {
  const p = new AnswerParser(o);
  const segments: AnswerSegment[] = [];
  let at = 0;
  for (const c of [...cuts, text.length]) {
    segments.push(...p.push(text.slice(at, c)));
    at = c;
  }
  segments.push(...p.finish(truncated));
  for (const s of segments) {
    if (s.type === "tool_call") continue;
    if (o.reasoningFormat === "deepseek") assert.ok(!/<\/?think>/.test(s.text), `a think tag leaked: ${JSON.stringify(s.text)}`);
    if (o.tools !== null) assert.ok(!s.text.includes("<tool_call>"), `a call tag leaked: ${JSON.stringify(s.text)}`);
  }
  return collect(segments);
}

/** Every single cut and a few seeded random multi-cuts. */
function* cutsOf(n: number): Generator<number[]> {
  for (let i = 0; i <= n; i++) yield [i];
  let seed = 7;
  for (let k = 0; k < 20; k++) {
    const cuts: number[] = [];
    for (let i = 1; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      if (seed % 4 === 0) cuts.push(i);
    }
    yield cuts;
  }
}

const TOOLS = ["get_weather"];

it("splits <think> reasoning from the answer wherever the stream is cut", () => {
  const text = "<think>\nWhich city? Paris.\n</think>\n\nIt is sunny.";
  const o: AnswerParserOptions = { reasoningFormat: "deepseek", thinkOpened: false, tools: null };
  for (const cuts of cutsOf(text.length)) {
    const r = parse(o, text, cuts);
    assert.equal(r.reasoning, "\nWhich city? Paris.\n", JSON.stringify(cuts));
    assert.equal(r.content, "It is sunny.", JSON.stringify(cuts));
  }
});

it("starts inside the reasoning when the prompt opened <think>, and keeps it inline with format none", () => {
  assert.ok(promptOpensThink("<|im_start|>assistant\n<think>\n"));
  assert.ok(!promptOpensThink("<|im_start|>assistant\n"));
  const text = "Thinking.\n</think>\n\nAnswer.";
  for (const cuts of cutsOf(text.length)) {
    const r = parse({ reasoningFormat: "deepseek", thinkOpened: true, tools: null }, text, cuts);
    assert.deepEqual([r.reasoning, r.content], ["Thinking.\n", "Answer."]);
    const inline = parse({ reasoningFormat: "none", thinkOpened: true, tools: null }, text, cuts);
    assert.deepEqual([inline.reasoning, inline.content], ["", `<think>\n${text}`]);
  }
});

it("leaves an answer that does not open with <think> alone, even one that mentions it later", () => {
  const text = "Use <think> tags </think> like this.";
  for (const cuts of cutsOf(text.length)) {
    const s = new ReasoningSplitter("deepseek", false);
    let content = "";
    let at = 0;
    for (const c of [...cuts, text.length]) {
      for (const seg of s.push(text.slice(at, c))) {
        assert.equal(seg.type, "content");
        content += seg.text;
      }
      at = c;
    }
    for (const seg of s.flush()) content += seg.text;
    assert.equal(content, text);
  }
});

it("reads a tool call after the reasoning, in every Coder form, wherever the stream is cut", () => {
  const call = '{"name": "get_weather", "arguments": {"city": "Oslo"}}';
  const forms = [
    `<tool_call>\n${call}\n</tool_call>`,
    `\`\`\`json\n${call}\n\`\`\``,
    `<tools>\n${call}\n</tools>`,
    `<function_call>${call}</function_call>`,
    `[${call}]`,
    call,
  ];
  for (const form of forms) {
    const text = `<think>I need the weather.</think>\n\n${form}`;
    for (const cuts of cutsOf(text.length)) {
      const r = parse({ reasoningFormat: "deepseek", thinkOpened: false, tools: TOOLS }, text, cuts);
      assert.equal(r.reasoning, "I need the weather.", form);
      assert.equal(r.content, "", `${form} at ${JSON.stringify(cuts)}`);
      assert.deepEqual(r.calls, [{ name: "get_weather", arguments: '{"city":"Oslo"}' }], form);
    }
  }
});

it("a looser form naming an undeclared tool, and plain JSON answers, stay content", () => {
  for (const text of ['```json\n{"name": "other", "arguments": {}}\n```', '{"answer": 42}', "[1, 2, 3]"]) {
    for (const cuts of cutsOf(text.length)) {
      const r = parse({ reasoningFormat: "deepseek", thinkOpened: false, tools: TOOLS }, text, cuts);
      assert.equal(r.content, text);
      assert.equal(r.calls.length, 0);
    }
  }
});

it("a call cut by the token budget leaves nothing behind; one the model ended without a closing tag still counts", () => {
  const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"ci';
  for (const cuts of cutsOf(text.length)) {
    const r = parse({ reasoningFormat: "deepseek", thinkOpened: false, tools: TOOLS }, text, cuts, true);
    assert.deepEqual(r, { reasoning: "", content: "Let me check.", calls: [] });
  }
  const p = new ToolCallParser(TOOLS);
  const segs = [...p.push('<tool_call>\n{"name": "get_weather", "arguments": {}}\n'), ...p.flush(false)];
  assert.deepEqual(segs, [{ type: "tool_call", call: { name: "get_weather", arguments: "{}" } }]);
});
