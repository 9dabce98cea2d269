/**
 * Loading in Chromium: a model folder by URL with range requests, the same folder from files
 * picked in an <input type=file>, a reload that reads everything from Cache Storage, and each
 * loading error with its message (404, 403, a server without ranges, a cut download, a
 * cross-origin refusal, a model too big for WebAssembly memory, abort). Logits must equal
 * those of the same folder loaded from disk in Node.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { fromPretrained } from "../../src/runtime/load.js";
import { fixturesDir, repoRoot } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import type { LoadJob, LoadResult } from "./pages/loading_page.js";
import {
  browserSkip,
  type Bundle,
  bundle,
  launchChromium,
  openPage,
  runInPage,
  startTestServer,
  type TestPage,
  type TestServer,
} from "./support/index.js";

const MODEL = "f_sharded";
const IDS = [1, 5, 9, 200, 17, 3];
const FILE_PAGE = "<!doctype html><meta charset=utf-8><title>load</title><input type=file multiple>";

type PageModule = {
  load(j: LoadJob): Promise<LoadResult>;
  cached(): Promise<{ model: string; files: number; bytes: number }[]>;
  forget(model: string): Promise<number>;
};

describe("loading models in Chromium", { skip: browserSkip || needsShared("fixtures"), timeout: 300_000 }, () => {
  let browser: Browser;
  let server: TestServer;
  let other: TestServer;
  let pages: Bundle;
  let page: TestPage;
  let want: number[];
  const folderUrl = (): string => `${server.origin}/fixtures/models/${MODEL}/`;

  before(async () => {
    pages = await bundle({ loading_page: resolve(repoRoot, "dist/test/browser/pages/loading_page.js") });
    [browser, server, other] = await Promise.all([
      launchChromium(),
      startTestServer({ isolated: false, mounts: { "/bundle/": pages.dir, "/fixtures/": fixturesDir } }),
      startTestServer({ isolated: false, mounts: { "/fixtures/": fixturesDir } }),
    ]);
    server.page("/load.html", FILE_PAGE);
    const m = await fromPretrained(join(fixturesDir, "models", MODEL), { backend: "reference" });
    const cache = m.model.createCache(IDS.length);
    want = Array.from((await m.model.forward([{ ids: Int32Array.from(IDS), cache }]))[0]!);
    m.close();
    page = await openPage(browser, `${server.origin}/load.html`);
  });
  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.close();
    await other?.close();
    pages?.dispose();
  });

  const run = (job: LoadJob): Promise<LoadResult> =>
    runInPage(page.page, `${server.origin}/bundle/${pages.files.loading_page}`, (m: PageModule, j) => m.load(j), job);
  const weightRequests = (): typeof server.requests => server.requests.filter((r) => r.path.startsWith(`/fixtures/models/${MODEL}/model-`));

  test("the page bundle imports no Node built-in", () => {
    assert.deepEqual(pages.nodeImports, []);
  });

  test("by URL with range requests: the logits of the folder on disk, progress per file up to its size", async () => {
    server.requests.length = 0;
    const r = await run({ url: folderUrl(), ids: IDS });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.deepEqual(r.logits, want);
    const reqs = weightRequests();
    assert.ok(reqs.length >= 2 && reqs.every((q) => q.status === 206 && q.range !== undefined), JSON.stringify(reqs));
    for (const shard of readdirSync(join(fixturesDir, "models", MODEL)).filter((f) => f.endsWith(".safetensors"))) {
      const events = r.events.filter((e) => e.phase === "download" && e.file === `${folderUrl()}${shard}`);
      assert.ok(events.length > 0, shard);
      assert.ok(
        events.every((e, i) => i === 0 || e.loaded! >= events[i - 1]!.loaded!),
        `${shard}: monotone`,
      );
      assert.equal(events.at(-1)!.total, statSync(join(fixturesDir, "models", MODEL, shard)).size);
    }
    // Only the 404s of optional files the folder lacks (tokenizer files), which Chromium logs.
    assert.deepEqual(
      page.errors().filter((e) => !/status of 404/.test(e)),
      [],
    );
  });

  test("from files picked in an <input type=file>: the same logits", async () => {
    const dir = join(fixturesDir, "models", MODEL);
    await page.page.setInputFiles(
      "input[type=file]",
      readdirSync(dir).map((f) => join(dir, f)),
    );
    const r = await run({ ids: IDS });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.deepEqual(r.logits, want);
  });

  test("from the cache after a reload: no request for the weights, then listed and deleted", async () => {
    const first = await run({ url: folderUrl(), ids: IDS, cache: true });
    assert.deepEqual(first.logits, want, JSON.stringify(first.error));
    await page.page.reload();
    server.requests.length = 0;
    const again = await run({ url: folderUrl(), ids: IDS, cache: true });
    assert.deepEqual(again.logits, want, JSON.stringify(again.error));
    assert.deepEqual(weightRequests(), [], "the weights came from Cache Storage");
    const listed = await runInPage(page.page, `${server.origin}/bundle/${pages.files.loading_page}`, (m: PageModule) => m.cached(), null);
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.model, folderUrl());
    const removed = await runInPage(
      page.page,
      `${server.origin}/bundle/${pages.files.loading_page}`,
      (m: PageModule, url: string) => m.forget(url),
      folderUrl(),
    );
    assert.equal(removed, listed[0]!.files);
  });

  test("a server without range support: a warning naming the URL, then the same logits", async () => {
    server.ranges = false;
    try {
      const r = await run({ url: folderUrl(), ids: IDS });
      assert.deepEqual(r.logits, want, JSON.stringify(r.error));
      const warnings = r.events.filter((e) => e.phase === "warning").map((e) => e.message!);
      for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
        assert.ok(
          warnings.some((w) => w.startsWith(`${folderUrl()}${shard}: the server ignores HTTP range requests`)),
          JSON.stringify(warnings),
        );
      }
    } finally {
      server.ranges = true;
    }
  });

  test("errors name the URL: 404, 403, a cut download, a cross-origin refusal, too big, abort", async () => {
    const missing = await run({ url: `${server.origin}/fixtures/models/nope/`, ids: IDS });
    assert.equal(missing.error?.message, `${server.origin}/fixtures/models/nope/config.json: file not found`);

    // Each broken file in a folder of its own, so the others stay intact.
    const forbiddenFile = "/fixtures/models/a_tiny_f32/model.safetensors";
    server.route(forbiddenFile, (_req, res) => void res.writeHead(403, { "Content-Type": "text/plain" }).end("no"));
    const forbidden = await run({ url: `${server.origin}/fixtures/models/a_tiny_f32/`, ids: IDS });
    assert.match(
      forbidden.error?.message ?? "",
      new RegExp(`^${server.origin}${forbiddenFile}: HTTP 403 Forbidden: the server refuses access`),
    );

    const cutFile = "/fixtures/models/b_tiny_bf16_tied_gqa4/model.safetensors";
    server.route(cutFile, (_req, res) => {
      res.writeHead(200, { "Content-Length": "100000", "Content-Type": "application/octet-stream" });
      res.write(Buffer.alloc(1000), () => res.destroy());
    });
    const cut = await run({ url: `${server.origin}/fixtures/models/b_tiny_bf16_tied_gqa4/`, ids: IDS });
    assert.match(cut.error?.message ?? "", new RegExp(`^${server.origin}${cutFile}: truncated download`));

    const cross = await run({ url: `${other.origin}/fixtures/models/${MODEL}/`, ids: IDS });
    assert.match(cross.error?.message ?? "", /request failed \(Failed to fetch\).*Access-Control-Allow-Origin/);
    assert.ok(cross.error?.message.startsWith(`${other.origin}/fixtures/models/${MODEL}/`), cross.error?.message);

    const big = await run({ url: folderUrl(), ids: IDS, backend: "wasm", maxWeightBytes: 1000 });
    assert.match(
      big.error?.message ?? "",
      new RegExp(`^${folderUrl()}: the weight files take .* but WebAssembly memory here holds at most .* \\(1000 bytes\\)`),
    );

    const aborted = await run({ url: folderUrl(), ids: IDS, abortAfterDownloads: 2 });
    assert.equal(aborted.error?.message, "aborted by the page");
  });
});
