// @ts-check
/**
 * A small markdown renderer for model replies, safe by construction: the parser turns text
 * into a tree of plain objects, and the renderer builds DOM nodes from it with
 * `createElement` and `textContent` only. No model text ever reaches `innerHTML`, so
 * `<script>`, `onerror=` and friends stay visible text; links keep only http(s) and mailto
 * targets, and images are shown as links (the page fetches nothing a reply names).
 *
 * Covered: paragraphs (single newlines are line breaks, as chat replies mean them),
 * ATX headings, fenced code (an unclosed fence runs to the end, so a streaming block shows
 * at once), indented lists (ordered and not, nested), block quotes, rules, GFM tables,
 * and inline code, **strong**, *emphasis*, ~~strike~~, [links](https://…) and bare URLs.
 *
 * @typedef {{ type: "text", text: string } | { type: "code", text: string } | { type: "br" }
 *   | { type: "strong" | "em" | "del", children: Inline[] }
 *   | { type: "link", href: string, children: Inline[] }} Inline
 * @typedef {{ type: "paragraph", inlines: Inline[] } | { type: "heading", level: number, inlines: Inline[] }
 *   | { type: "code", lang: string, text: string, open: boolean } | { type: "hr" }
 *   | { type: "quote", blocks: Block[] }
 *   | { type: "list", ordered: boolean, start: number, items: Block[][] }
 *   | { type: "table", align: ("left" | "right" | "center" | null)[], head: Inline[][], rows: Inline[][][] }} Block
 */

const FENCE = /^( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const LIST_ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])([ \t]+|$)(.*)$/;
const TABLE_DELIMITER = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const SAFE_HREF = /^(https?:\/\/|mailto:)/i;

/** @param {string} source @returns {Block[]} */
export function parseMarkdown(source) {
  return parseBlocks(source.replace(/\r\n?/g, "\n").split("\n"));
}

/** @param {string} line */
function isBlank(line) {
  return line.trim() === "";
}

/** A line that ends a paragraph by starting another block. @param {string} line */
function startsBlock(line) {
  if (FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line)) return true;
  const m = LIST_ITEM.exec(line);
  // "1986. was a year" mid-paragraph is text; only a list starting at 1 interrupts one.
  return m !== null && m[4] !== "" && (/^[-*+]$/.test(m[2]) || /^1[.)]$/.test(m[2]));
}

/** @param {string} line @returns {string[]} */
function tableCells(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cell = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (s[i] === "|") {
      cells.push(cell.trim());
      cell = "";
    } else cell += s[i];
  }
  cells.push(cell.trim());
  return cells;
}

/** @param {string[]} lines @returns {Block[]} */
function parseBlocks(lines) {
  /** @type {Block[]} */
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const [, indent, marker, lang] = fence;
      const body = [];
      let open = true;
      for (i++; i < lines.length; i++) {
        const close = lines[i].trim();
        if (close.length >= marker.length && close === marker[0].repeat(close.length) && /^ {0,3}\S/.test(lines[i])) {
          open = false;
          i++;
          break;
        }
        body.push(lines[i].replace(new RegExp(`^ {0,${indent.length}}`), ""));
      }
      blocks.push({ type: "code", lang, text: body.join("\n"), open });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ type: "heading", level: heading[1].length, inlines: parseInline(heading[2] ?? "") });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ type: "hr" });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
      blocks.push({ type: "quote", blocks: parseBlocks(inner) });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item && !(item[4] === "" && isBlank(lines[i + 1] ?? ""))) {
      i = parseList(lines, i, blocks);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_DELIMITER.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      const head = tableCells(line);
      const align = tableCells(lines[i + 1]).map((c) =>
        c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : null,
      );
      const rows = [];
      for (i += 2; i < lines.length && !isBlank(lines[i]) && lines[i].includes("|"); i++) {
        const cells = tableCells(lines[i]);
        rows.push(head.map((_, k) => parseInline(cells[k] ?? "")));
      }
      blocks.push({
        type: "table",
        align: head.map((_, k) => /** @type {"left" | "right" | "center" | null} */ (align[k] ?? null)),
        head: head.map((c) => parseInline(c)),
        rows,
      });
      continue;
    }
    const para = [line.trim()];
    for (i++; i < lines.length && !isBlank(lines[i]) && !startsBlock(lines[i]); i++) para.push(lines[i].trim());
    blocks.push({ type: "paragraph", inlines: parseInline(para.join("\n")) });
  }
  return blocks;
}

/**
 * One list: items share the first item's kind (bullet or number); an item owns the lines
 * indented at least as far as its text, and lazy continuation lines of its paragraph.
 * @param {string[]} lines @param {number} start @param {Block[]} out @returns {number} the next line
 */
function parseList(lines, start, out) {
  const first = /** @type {RegExpExecArray} */ (LIST_ITEM.exec(lines[start]));
  const ordered = /\d/.test(first[2]);
  const delimiter = first[2].slice(-1);
  /** @type {Block[][]} */
  const items = [];
  let i = start;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i]);
    if (!m || /\d/.test(m[2]) !== ordered || m[2].slice(-1) !== delimiter) break;
    const contentIndent = m[1].length + m[2].length + Math.min(Math.max(m[3].length, 1), 4);
    const body = [m[4]];
    let lastBlank = false;
    for (i++; i < lines.length; i++) {
      const l = lines[i];
      if (isBlank(l)) {
        body.push("");
        lastBlank = true;
        continue;
      }
      const indent = /** @type {RegExpExecArray} */ (/^[ \t]*/.exec(l))[0].replace(/\t/g, "    ").length;
      if (indent >= contentIndent) body.push(l.replace(/^[ \t]*/, " ".repeat(indent - contentIndent)));
      else if (!lastBlank && !startsBlock(l) && !LIST_ITEM.test(l)) body.push(l);
      else break;
      lastBlank = false;
    }
    while (body.length > 0 && body[body.length - 1] === "") body.pop();
    items.push(parseBlocks(body));
    // A blank line followed by something that is not the next item ends the list.
    if (lastBlank && !(i < lines.length && LIST_ITEM.test(lines[i]))) break;
  }
  out.push({ type: "list", ordered, start: ordered ? Number.parseInt(first[2], 10) : 1, items });
  return i;
}

/** @param {string} ch */
function isSpace(ch) {
  return ch === undefined || /\s/.test(ch);
}

/** @param {string} ch */
function isWordChar(ch) {
  return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
}

/**
 * Finds the closing `delim` for an opening one at `from`: not after a space, and for `_`
 * not inside a word (snake_case stays text).
 * @param {string} text @param {string} delim @param {number} from
 */
function findCloser(text, delim, from) {
  for (let j = text.indexOf(delim, from); j !== -1; j = text.indexOf(delim, j + 1)) {
    if (j === from || isSpace(text[j - 1])) continue;
    if (delim[0] === "_" && isWordChar(text[j + delim.length])) continue;
    if (delim === "*" && text[j + 1] === "*") {
      j++;
      continue;
    }
    return j;
  }
  return -1;
}

/** Trailing punctuation that ends a sentence rather than a bare URL. @param {string} url */
function trimUrl(url) {
  let end = url.length;
  while (end > 0 && /[.,;:!?'")\]]/.test(url[end - 1])) {
    if (url[end - 1] === ")" && url.slice(0, end).split("(").length > url.slice(0, end).split(")").length - 1) break;
    end--;
  }
  return url.slice(0, end);
}

/** @param {string} text @returns {Inline[]} */
export function parseInline(text) {
  /** @type {Inline[]} */
  const out = [];
  let buf = "";
  const flush = () => {
    if (buf) out.push({ type: "text", text: buf });
    buf = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === "\n") {
      flush();
      out.push({ type: "br" });
      i++;
      continue;
    }
    if (ch === "`") {
      const run = /** @type {RegExpExecArray} */ (/^`+/.exec(text.slice(i)))[0];
      const close = text.indexOf(run, i + run.length);
      let end = close;
      // A longer run is not a closer: `` a ``` b `` keeps the ``` inside.
      while (end !== -1 && text[end + run.length] === "`") end = text.indexOf(run, end + run.length + 1);
      if (end !== -1) {
        flush();
        let code = text.slice(i + run.length, end).replace(/\n/g, " ");
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ") && code.trim() !== "") code = code.slice(1, -1);
        out.push({ type: "code", text: code });
        i = end + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    const delim = text.startsWith("**", i)
      ? "**"
      : text.startsWith("__", i)
        ? "__"
        : text.startsWith("~~", i)
          ? "~~"
          : ch === "*" || ch === "_"
            ? ch
            : "";
    if (delim && !isSpace(text[i + delim.length]) && !(delim[0] === "_" && isWordChar(text[i - 1]))) {
      const close = findCloser(text, delim, i + delim.length);
      if (close !== -1) {
        flush();
        const type = delim === "~~" ? "del" : delim.length === 2 ? "strong" : "em";
        out.push({ type, children: parseInline(text.slice(i + delim.length, close)) });
        i = close + delim.length;
        continue;
      }
    }
    if (ch === "[" || (ch === "!" && text[i + 1] === "[")) {
      const open = ch === "!" ? i + 1 : i;
      const link = matchLink(text, open);
      if (link) {
        flush();
        const label = parseInline(link.label || link.href);
        if (SAFE_HREF.test(link.href)) out.push({ type: "link", href: link.href, children: label });
        else out.push(...label);
        i = link.end;
        continue;
      }
    }
    if ((ch === "h" || ch === "H") && /^https?:\/\//i.test(text.slice(i, i + 8)) && !isWordChar(text[i - 1])) {
      const url = trimUrl(/** @type {RegExpExecArray} */ (/^[^\s<>"`]+/.exec(text.slice(i)))[0]);
      flush();
      out.push({ type: "link", href: url, children: [{ type: "text", text: url }] });
      i += url.length;
      continue;
    }
    buf += ch;
    i++;
  }
  flush();
  return out;
}

/**
 * `[label](href "title")` starting at `open` (the `[`), with balanced brackets in the label.
 * @param {string} text @param {number} open @returns {{ label: string, href: string, end: number } | null}
 */
function matchLink(text, open) {
  let depth = 0;
  let j = open;
  for (; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) break;
  }
  if (j >= text.length || text[j + 1] !== "(") return null;
  const m = /^\(\s*<?([^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+"[^"]*")?\s*\)/.exec(text.slice(j + 1));
  if (!m) return null;
  return { label: text.slice(open + 1, j), href: m[1], end: j + 1 + m[0].length };
}

/**
 * Builds DOM nodes for `source` in `doc`. Code blocks get a header with their language and
 * a "Copy" button (class `copy`; the page handles its clicks).
 * @param {string} source @param {Document} [doc] @returns {DocumentFragment}
 */
export function renderMarkdown(source, doc = document) {
  const frag = doc.createDocumentFragment();
  for (const block of parseMarkdown(source)) frag.append(renderBlock(block, doc));
  return frag;
}

/** @param {Block} block @param {Document} doc @returns {Node} */
function renderBlock(block, doc) {
  const el = (/** @type {string} */ tag) => doc.createElement(tag);
  switch (block.type) {
    case "paragraph": {
      const p = el("p");
      p.append(...renderInlines(block.inlines, doc));
      return p;
    }
    case "heading": {
      const h = el(`h${block.level}`);
      h.append(...renderInlines(block.inlines, doc));
      return h;
    }
    case "hr":
      return el("hr");
    case "quote": {
      const q = el("blockquote");
      for (const b of block.blocks) q.append(renderBlock(b, doc));
      return q;
    }
    case "list": {
      const list = el(block.ordered ? "ol" : "ul");
      if (block.ordered && block.start !== 1) list.setAttribute("start", String(block.start));
      for (const item of block.items) {
        const li = el("li");
        for (const b of item) li.append(renderBlock(b, doc));
        list.append(li);
      }
      return list;
    }
    case "table": {
      const wrap = el("div");
      wrap.className = "table-wrap";
      const table = el("table");
      const row = (/** @type {Inline[][]} */ cells, /** @type {string} */ tag) => {
        const tr = el("tr");
        cells.forEach((c, k) => {
          const cell = el(tag);
          const a = block.align[k];
          if (a) cell.className = `align-${a}`;
          cell.append(...renderInlines(c, doc));
          tr.append(cell);
        });
        return tr;
      };
      const thead = el("thead");
      thead.append(row(block.head, "th"));
      const tbody = el("tbody");
      for (const r of block.rows) tbody.append(row(r, "td"));
      table.append(thead, tbody);
      wrap.append(table);
      return wrap;
    }
    case "code": {
      const box = el("div");
      box.className = "code-block";
      const head = el("div");
      head.className = "code-head";
      const lang = el("span");
      lang.textContent = block.lang || "text";
      const copy = doc.createElement("button");
      copy.type = "button";
      copy.className = "copy";
      copy.textContent = "Copy";
      copy.setAttribute("aria-label", `Copy ${block.lang || "code"}`);
      head.append(lang, copy);
      const pre = el("pre");
      const code = el("code");
      if (/^[\w+#.-]{1,24}$/.test(block.lang)) code.className = `language-${block.lang}`;
      code.textContent = block.text;
      pre.append(code);
      box.append(head, pre);
      return box;
    }
  }
}

/** @param {Inline[]} inlines @param {Document} doc @returns {Node[]} */
function renderInlines(inlines, doc) {
  return inlines.map((n) => {
    switch (n.type) {
      case "text":
        return doc.createTextNode(n.text);
      case "br":
        return doc.createElement("br");
      case "code": {
        const c = doc.createElement("code");
        c.textContent = n.text;
        return c;
      }
      case "link": {
        const a = doc.createElement("a");
        a.href = n.href;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        a.append(...renderInlines(n.children, doc));
        return a;
      }
      default: {
        const e = doc.createElement(n.type);
        e.append(...renderInlines(n.children, doc));
        return e;
      }
    }
  });
}
