/**
 * The tokenizer in Chromium gives the ids it gives in Node on every public conformance case
 * (../shared/tokenizers/public_cases.jsonl, or QWEN2_TOKENIZER_CASES): the embedded default
 * tokenizer, and the qwen2 folder read over HTTP. The bundle imports no Node built-in, and the
 * embedded tokenizer's data is a chunk of its own that the page fetches only when it asks for
 * the embedded tokenizer.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { tokenizerCasesFile, tokenizersDir } from "../support/paths.js";
import { sharedMissing } from "../support/shared.js";
import type { TokenizerPageResult } from "./pages/tokenizer_page.js";
import { browserSkip, openPage, pageSuite, runInPage } from "./support/index.js";

interface PageModule {
  encodeCases(job: { casesUrl: string; folderUrl: string }): Promise<TokenizerPageResult>;
}

const skip = browserSkip || (sharedMissing("tokenizers", "tokenizer cases") ?? false);

describe("tokenizer in Chromium", { skip, timeout: 300_000 }, () => {
  const s = pageSuite(
    { tokenizer_page: "test/browser/pages/tokenizer_page.js" },
    { bundle: { splitting: true }, mounts: { "/tokenizers/": tokenizersDir, "/cases/": resolve(tokenizerCasesFile, "..") } },
  );

  /** The output file (name only) that holds the embedded tokenizer's data. */
  function dataChunkFile(): string {
    const holding = Object.entries(s.pages.metafile.outputs).filter(([, o]) =>
      Object.keys(o.inputs).some((i) => i.endsWith("tokenizer/data/embedded_qwen2.js")),
    );
    assert.equal(holding.length, 1, "one output holds the embedded data");
    return holding[0]![0].split("/").pop()!;
  }

  test("the bundle imports no Node built-in; the embedded data is a separate chunk", () => {
    assert.deepEqual(s.pages.nodeImports, []);
    const outputs = Object.entries(s.pages.metafile.outputs);
    assert.notEqual(dataChunkFile(), s.pages.files.tokenizer_page, "the data is not in the page's own file");
    const page = outputs.find(([file]) => file.endsWith(s.pages.files.tokenizer_page!));
    assert.ok(page !== undefined && page[1].bytes < 400_000, `the page's file stays small (${page?.[1].bytes} bytes)`);
  });

  test("every public conformance case: the same ids in the page as in Node (embedded default, and a folder by URL)", async () => {
    const p = await openPage(s.browser, `${s.server.origin}/`);
    try {
      const job = {
        casesUrl: `${s.server.origin}/cases/${tokenizerCasesFile.split("/").pop()}`,
        folderUrl: `${s.server.origin}/tokenizers/qwen2/`,
      };
      const moduleUrl = `${s.server.origin}/bundle/${s.pages.files.tokenizer_page}`;
      const dataChunk = dataChunkFile();
      const fetchedData = () => s.server.requests.some((r) => r.path.endsWith(`/${dataChunk}`));
      await runInPage(p.page, moduleUrl, () => 0, null);
      assert.ok(!fetchedData(), "importing the page's module does not fetch the embedded data");
      const got = await runInPage(p.page, moduleUrl, (m: PageModule, j) => m.encodeCases(j), job);
      assert.ok(fetchedData(), "Tokenizer.embedded() fetches it");
      const lines = readFileSync(tokenizerCasesFile, "utf8")
        .split("\n")
        .filter((l) => l.trim().length > 0);
      assert.ok(got.ids.length > 0 && got.ids.length <= lines.length, `${got.ids.length} cases of ${lines.length}`);
      const embedded = await Tokenizer.embedded();
      const folder = await loadTokenizer(join(tokenizersDir, "qwen2"));
      assert.equal(got.embeddedVocabSize, embedded.vocabSize);
      const byId = new Map(
        lines.map((l) => JSON.parse(l) as { id: string; text?: string; text_repeat?: [string, number][] }).map((c) => [c.id, c]),
      );
      let compared = 0;
      got.ids.forEach((id, i) => {
        const c = byId.get(id)!;
        const text = c.text ?? c.text_repeat!.map(([unit, count]) => unit.repeat(count)).join("");
        assert.deepEqual(got.embedded[i], embedded.encode(text), `${id} (embedded)`);
        assert.deepEqual(got.folder[i], folder.encode(text), `${id} (qwen2 folder by URL)`);
        compared++;
      });
      assert.equal(compared, got.ids.length);
      // The folder reader asks for the optional chat_template.jinja, which this folder lacks:
      // that 404 is the only error the page may log.
      const missing = s.server.requests.filter((r) => r.status === 404).map((r) => r.path.split("/").pop());
      assert.deepEqual(missing, ["chat_template.jinja"]);
      assert.deepEqual(
        p.errors().filter((e) => !/status of 404/.test(e)),
        [],
      );
    } finally {
      await p.close();
    }
  });
});
