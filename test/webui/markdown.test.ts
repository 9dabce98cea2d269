/** The web chat's markdown parser (assets/webui/markdown.js): structure, and markup staying text. */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";

type Inline = { type: string; text?: string; href?: string; children?: Inline[] };
type Block = {
  type: string;
  inlines?: Inline[];
  lang?: string;
  text?: string;
  open?: boolean;
  level?: number;
  ordered?: boolean;
  start?: number;
  items?: Block[][];
  blocks?: Block[];
  head?: Inline[][];
  rows?: Inline[][][];
  align?: (string | null)[];
};
const md = (await import(pathToFileURL(resolve(repoRoot, "assets/webui/markdown.js")).href)) as {
  parseMarkdown(s: string): Block[];
  parseInline(s: string): Inline[];
};

/** Every text the tree would show, in order, to check nothing is dropped. */
function plain(nodes: Inline[]): string {
  return nodes.map((n) => (n.type === "br" ? "\n" : n.children ? plain(n.children) : (n.text ?? ""))).join("");
}
function links(nodes: Inline[]): string[] {
  return nodes.flatMap((n) => [...(n.type === "link" ? [n.href!] : []), ...(n.children ? links(n.children) : [])]);
}

describe("markdown: blocks", () => {
  it("headings, paragraphs with line breaks, rules and quotes", () => {
    const b = md.parseMarkdown("# Title\nfirst line\nsecond line\n\n---\n> quoted\n> more");
    assert.deepEqual(
      b.map((x) => x.type),
      ["heading", "paragraph", "hr", "quote"],
    );
    assert.equal(b[0]!.level, 1);
    assert.equal(plain(b[1]!.inlines!), "first line\nsecond line");
    assert.equal(plain(b[3]!.blocks![0]!.inlines!), "quoted\nmore");
  });

  it("fenced code keeps its text verbatim, and an unclosed fence runs to the end (streaming)", () => {
    const closed = md.parseMarkdown("```python\ndef f(x):\n    return x * 2  # **not bold**\n```\nafter");
    assert.deepEqual(closed[0], { type: "code", lang: "python", text: "def f(x):\n    return x * 2  # **not bold**", open: false });
    assert.equal(closed[1]!.type, "paragraph");
    const open = md.parseMarkdown("text\n~~~\npartial <b>");
    assert.deepEqual(open[1], { type: "code", lang: "", text: "partial <b>", open: true });
  });

  it("nested and ordered lists, with their start number", () => {
    const [list, second] = md.parseMarkdown("- a\n- b\n  - b1\n  - b2\n- c\n\n3. three\n4. four");
    assert.equal(list!.type, "list");
    assert.equal(list!.ordered, false);
    assert.equal(list!.items!.length, 3);
    assert.equal(list!.items![1]![1]!.type, "list");
    assert.equal(list!.items![1]![1]!.items!.length, 2);
    assert.equal(second!.ordered, true);
    assert.equal(second!.start, 3);
  });

  it("GFM tables with alignment", () => {
    const [t] = md.parseMarkdown("| name | n |\n|:-----|--:|\n| a \\| b | 1 |\n| c |");
    assert.equal(t!.type, "table");
    assert.deepEqual(t!.align, ["left", "right"]);
    assert.deepEqual(t!.head!.map(plain), ["name", "n"]);
    assert.deepEqual(
      t!.rows!.map((r) => r.map(plain)),
      [
        ["a | b", "1"],
        ["c", ""],
      ],
    );
  });
});

describe("markdown: inline", () => {
  it("code, strong, emphasis, strike, and snake_case left alone", () => {
    const n = md.parseInline("`a*b*` **bold** *em* _em_ ~~gone~~ snake_case_name 2 * 3 * 4");
    assert.deepEqual(
      n.filter((x) => x.type !== "text").map((x) => [x.type, plain(x.children ?? [x])]),
      [
        ["code", "a*b*"],
        ["strong", "bold"],
        ["em", "em"],
        ["em", "em"],
        ["del", "gone"],
      ],
    );
    assert.equal(plain(n), "a*b* bold em em gone snake_case_name 2 * 3 * 4");
  });

  it("links keep http(s) and mailto targets only; bare URLs link without their trailing punctuation", () => {
    const n = md.parseInline(
      "[docs](https://example.com/a_(b)) [x](javascript:alert(1)) [y](data:text/html,hi) [m](mailto:a@b.c) see https://qwen.ai/x.",
    );
    assert.deepEqual(links(n), ["https://example.com/a_(b)", "mailto:a@b.c", "https://qwen.ai/x"]);
    assert.match(plain(n), /docs x y m see https:\/\/qwen\.ai\/x\.$/);
  });

  it("HTML in a reply is plain text", () => {
    const src = '<script>alert(1)</script><img src=x onerror="alert(2)"> <a href="javascript:x">a</a>';
    const b = md.parseMarkdown(src);
    assert.equal(b.length, 1);
    assert.equal(plain(b[0]!.inlines!), src);
    assert.deepEqual(links(b[0]!.inlines!), []);
  });
});
