/**
 * The browser-test harness itself: Chromium launches, the server's COOP/COEP and Range
 * switches change what the page sees, esbuild bundles load in the page, console errors are
 * recorded. Other browser tests build on exactly these pieces.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
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

/** The page's globals this file reads (Node's type library has no DOM). */
type PageGlobals = { crossOriginIsolated: boolean };

describe("browser harness (Chromium)", { skip: browserSkip, timeout: 180_000 }, () => {
  let browser: Browser;
  let server: TestServer;
  let files: string;
  let lib: Bundle;

  before(async () => {
    files = mkdtempSync(join(tmpdir(), "qwen2-harness-"));
    writeFileSync(
      join(files, "bytes.bin"),
      Uint8Array.from({ length: 16 }, (_, i) => i),
    );
    writeFileSync(
      join(files, "lib.js"),
      "export const double = (x) => 2 * x;\nexport function fail() { setTimeout(() => { throw new Error('boom from the page'); }); console.error('logged error'); }\n",
    );
    lib = await bundle({ lib: join(files, "lib.js") });
    [browser, server] = await Promise.all([launchChromium(), startTestServer({ mounts: { "/files/": files, "/bundle/": lib.dir } })]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    lib?.dispose();
    rmSync(files, { recursive: true, force: true });
  });

  test("COOP/COEP on: the page is cross-origin isolated and has SharedArrayBuffer", async () => {
    server.isolated = true;
    const p = await openPage(browser, `${server.origin}/`);
    try {
      assert.deepEqual(
        await p.page.evaluate(() => [(globalThis as unknown as PageGlobals).crossOriginIsolated, typeof SharedArrayBuffer]),
        [true, "function"],
      );
    } finally {
      await p.close();
    }
  });

  test("COOP/COEP off: the page is not isolated", async () => {
    server.isolated = false;
    const p = await openPage(browser, `${server.origin}/`);
    try {
      assert.equal(await p.page.evaluate(() => (globalThis as unknown as PageGlobals).crossOriginIsolated), false);
    } finally {
      await p.close();
      server.isolated = true;
    }
  });

  test("Range on: 206 with the asked bytes; off: 200 with the whole file", async () => {
    const p = await openPage(browser, `${server.origin}/`);
    const fetchRange = () =>
      p.page.evaluate(async () => {
        const r = await fetch("/files/bytes.bin", { headers: { Range: "bytes=2-5" } });
        return { status: r.status, bytes: [...new Uint8Array(await r.arrayBuffer())], acceptRanges: r.headers.get("accept-ranges") };
      });
    try {
      server.ranges = true;
      assert.deepEqual(await fetchRange(), { status: 206, bytes: [2, 3, 4, 5], acceptRanges: "bytes" });
      server.ranges = false;
      const whole = await fetchRange();
      assert.equal(whole.status, 200);
      assert.equal(whole.bytes.length, 16);
      assert.equal(whole.acceptRanges, null);
      assert.ok(
        server.requests.some((r) => r.path === "/files/bytes.bin" && r.range === "bytes=2-5" && r.status === 200),
        "the request log records the ignored range",
      );
    } finally {
      await p.close();
      server.ranges = true;
    }
  });

  test("extra routes answer as the test says (here a 403 and a missing file)", async () => {
    server.route("/forbidden.gguf", (_req, res) => {
      res.writeHead(403).end("no");
    });
    const p = await openPage(browser, `${server.origin}/`);
    try {
      const statuses = await p.page.evaluate(async () => [
        (await fetch("/forbidden.gguf")).status,
        (await fetch("/files/missing.bin")).status,
      ]);
      assert.deepEqual(statuses, [403, 404]);
    } finally {
      await p.close();
    }
  });

  test("a bundled module runs in the page and its console errors are recorded", async () => {
    const p = await openPage(browser, `${server.origin}/`);
    try {
      type Lib = { double(x: number): number; fail(): void };
      const url = `${server.origin}/bundle/${lib.files.lib}`;
      assert.equal(await runInPage(p.page, url, (m: Lib, x: number) => m.double(x), 21), 42);
      await runInPage(p.page, url, (m: Lib) => m.fail(), null);
      // The thrown error is reported after a timer tick; give it one.
      await p.page.evaluate(() => new Promise((ok) => setTimeout(ok, 50)));
      const errors = p.errors();
      assert.ok(errors.includes("logged error"), JSON.stringify(errors));
      assert.ok(
        errors.some((e) => e.includes("boom from the page")),
        JSON.stringify(errors),
      );
      assert.deepEqual(lib.nodeImports, []);
    } finally {
      await p.close();
    }
  });
});
