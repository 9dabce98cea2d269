/** Load progress: redrawn in place on a terminal, plain lines in a log. */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { itemProgress, progressReporter } from "../../src/cli/progress.js";

function sink(tty: boolean): { out: NodeJS.WritableStream; text: () => string } {
  const out = Object.assign(new PassThrough(), tty ? { isTTY: true } : {});
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  return { out, text: () => text };
}

test("a terminal gets a bar redrawn with \\r; a file or pipe gets one plain line per phase", () => {
  for (const tty of [true, false]) {
    const s = sink(tty);
    const report = progressReporter(s.out, "loading");
    for (const phase of ["config", "weights", "weights", "tokenizer", "ready"] as const) report({ phase });
    if (tty) {
      assert.match(s.text(), /\rloading ready {5}\[#{30}\] 100%\n$/);
    } else {
      assert.equal(s.text(), "loading: config\nloading: weights\nloading: tokenizer\nloading: ready\n");
    }
  }
});

test("downloads name their file and warnings get lines of their own, on a terminal or not", () => {
  for (const tty of [true, false]) {
    const s = sink(tty);
    const report = progressReporter(s.out, "loading");
    report({ phase: "download", file: "https://host/m/model.safetensors", loaded: 5, total: 10 });
    report({ phase: "warning", message: "no range requests: reading the file whole" });
    report({ phase: "download", file: "https://host/m/model.safetensors", loaded: 10, total: 10 });
    report({ phase: "ready" });
    assert.match(s.text(), /\nwarning: no range requests: reading the file whole\n|^loading: download .*\nwarning: no range/);
    assert.match(s.text(), tty ? /download model\.safetensors/ : /loading: download https:\/\/host\/m\/model\.safetensors\n/);
    if (!tty) assert.doesNotMatch(s.text(), /\r/);
  }
});

test("item progress (quantize's tensors) prints a line at every tenth when not on a terminal", () => {
  const s = sink(false);
  const report = itemProgress(s.out);
  for (let i = 0; i < 100; i++) report(`t${i}`, i, 100);
  const lines = s.text().trim().split("\n");
  assert.ok(lines.length <= 11, `${lines.length} lines`);
  assert.equal(lines.at(-1), "[100/100] t99");
  assert.doesNotMatch(s.text(), /\r/);
});
