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
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { loadTokenizer } from "../../src/node/tokenizer.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { repoRoot, tokenizerCasesFile, tokenizersDir } from "../support/paths.js";
import { sharedMissing } from "../support/shared.js";
import type { TokenizerPageResult } from "./pages/tokenizer_page.js";
import {
  browserSkip,
  type Bundle,
  bundle,
  launchChromium,
  openPage,
  runInPage,
  startTestServer,
  type TestServer,
} from "./support/index.js";

interface PageModule {
  encodeCases(job: { casesUrl: string; folderUrl: string }): Promise<TokenizerPageResult>;
}

const skip = browserSkip || (sharedMissing("tokenizers", "tokenizer cases") ?? false);

describe("tokenizer in Chromium", { skip, timeout: 300_000 }, () => {
  let browser: Browser;
  let server: TestServer;
  let pages: Bundle;

  before(async () => {
    pages = await bundle({ tokenizer_page: resolve(repoRoot, "dist/test/browser/pages/tokenizer_page.js") }, { splitting: true });
    const cases = resolve(tokenizerCasesFile, "..");
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestServer({ mounts: { "/bundle/": pages.dir, "/tokenizers/": tokenizersDir, "/cases/": cases } }),
    ]);
    server.route("/favicon.ico", (_req, res) => void res.writeHead(204).end());
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    pages?.dispose();
  });

  /** The output file (name only) that holds the embedded tokenizer's data. */
  function dataChunkFile(): string {
    const holding = Object.entries(pages.metafile.outputs).filter(([, o]) =>
      Object.keys(o.inputs).some((i) => i.endsWith("tokenizer/data/embedded_qwen2.js")),
    );
    assert.equal(holding.length, 1, "one output holds the embedded data");
    return holding[0]![0].split("/").pop()!;
  }

  test("the bundle imports no Node built-in; the embedded data is a separate chunk", () => {
    assert.deepEqual(pages.nodeImports, []);
    const outputs = Object.entries(pages.metafile.outputs);
    assert.notEqual(dataChunkFile(), pages.files.tokenizer_page, "the data is not in the page's own file");
    const page = outputs.find(([file]) => file.endsWith(pages.files.tokenizer_page!));
    assert.ok(page !== undefined && page[1].bytes < 400_000, `the page's file stays small (${page?.[1].bytes} bytes)`);
  });

  test("every public conformance case: the same ids in the page as in Node (embedded default, and a folder by URL)", async () => {
    const p = await openPage(browser, `${server.origin}/`);
    try {
      const job = {
        casesUrl: `${server.origin}/cases/${tokenizerCasesFile.split("/").pop()}`,
        folderUrl: `${server.origin}/tokenizers/qwen2/`,
      };
      const moduleUrl = `${server.origin}/bundle/${pages.files.tokenizer_page}`;
      const dataChunk = dataChunkFile();
      const fetchedData = () => server.requests.some((r) => r.path.endsWith(`/${dataChunk}`));
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
      const missing = server.requests.filter((r) => r.status === 404).map((r) => r.path.split("/").pop());
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
