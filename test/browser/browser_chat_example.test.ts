/**
 * examples/browser-chat in real Chromium: the page bundled as `npm run example:browser-chat`
 * bundles it, served cross-origin isolated, loads a tiny random model by URL (range requests
 * to the example's own /models/ mount) or from a folder picked with "Choose folder", streams
 * a reply inside the page, and stops it.
 *
 * While the library's browser path still imports Node built-ins (the bundle lists them), the
 * page cannot start its worker, and this test skips naming them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { repoRoot } from "../support/paths.js";
import { browserSkip, launchChromium } from "./support/index.js";

interface ExampleScript {
  buildBrowserChat(outdir: string): Promise<{ outdir: string; nodeImports: string[] }>;
  serveBrowserChat(options: { dir: string; port: number; models: string }): Promise<{ url: string; close(): Promise<void> }>;
  EXAMPLE_CSP: string;
}
const example = (await import(pathToFileURL(resolve(repoRoot, "scripts/example-browser-chat.mjs")).href)) as ExampleScript;

declare const document: { querySelector(selector: string): { textContent: string | null } | null };
declare const crossOriginIsolated: boolean;

const work = mkdtempSync(join(tmpdir(), "qwen2-browser-chat-"));
const built = browserSkip === false ? await example.buildBrowserChat(join(work, "site")) : null;
const skip =
  browserSkip ||
  (built && built.nodeImports.length > 0
    ? `the library's browser path still imports Node built-ins, so the page cannot start: ${built.nodeImports.slice(0, 3).join(", ")}…`
    : false);
if (skip) rmSync(work, { recursive: true, force: true });

describe("examples/browser-chat in Chromium", { skip, timeout: 300_000 }, () => {
  let site: { url: string; close(): Promise<void> };
  let browser: Browser;

  before(async () => {
    const made = spawnSync(
      process.execPath,
      [resolve(repoRoot, "bin/qwen2.js"), "create-random", "--preset", "tiny", "--out", join(work, "models/tiny-random")],
      { encoding: "utf8" },
    );
    assert.equal(made.status, 0, made.stderr);
    site = await example.serveBrowserChat({ dir: built!.outdir, port: 0, models: join(work, "models") });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await site?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("loads a model by URL with per-file progress, streams a reply in the page, stops it; no console errors", async () => {
    const { context, page, errors } = await desktopPage(browser);
    const response = await page.goto(`${site.url}/?model=/models/tiny-random/`);
    assert.equal(response?.headers()["content-security-policy"], example.EXAMPLE_CSP);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);

    await page.waitForFunction(() => /^(Ready|Could not)/.test(document.querySelector(".load-status")?.textContent ?? ""), null, {
      timeout: 180_000,
    });
    const status = (await page.locator(".load-status").textContent()) ?? "";
    assert.match(status, /^Ready: wasm/, status);
    assert.ok((await page.locator(".progress-list li").count()) >= 1, "progress rows were shown");
    assert.equal(await page.locator(".badge").textContent(), "random weights");

    await page.getByRole("button", { name: "Settings" }).click();
    await page.locator("input[name=maxTokens]").fill("2000");
    await page.getByRole("button", { name: "Done" }).click();
    await page.locator("textarea.input").fill("Hello from inside the page");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => (document.querySelector(".msg.assistant .bubble")?.textContent ?? "").length > 0, null, {
      timeout: 120_000,
    });
    await page.getByRole("button", { name: "Stop" }).click();
    await page.waitForSelector(".msg.assistant:not(.streaming) .meta:not(:empty)", { timeout: 60_000 });
    const meta = (await page.locator(".msg.assistant .meta").textContent()) ?? "";
    assert.match(meta, /stopped/);
    assert.ok(Number(/(\d+) tokens?/.exec(meta)?.[1]) < 2000, meta);

    // The model is still usable after a stop: a second reply starts.
    await sendAndStopWithEsc(page, "And again");

    assert.deepEqual(errors, []);
    await context.close();
  });

  it("loads a model folder picked with Choose folder (files, nothing fetched) and chats", async () => {
    const { context, page, errors } = await desktopPage(browser);
    const fetched: string[] = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname.startsWith("/models/")) fetched.push(r.url());
    });
    await page.goto(`${site.url}/`);
    await page.locator("input[type=file][webkitdirectory]").setInputFiles(join(work, "models/tiny-random"));
    await page.waitForFunction(() => /^(Ready|Could not)/.test(document.querySelector(".load-status")?.textContent ?? ""), null, {
      timeout: 180_000,
    });
    assert.match((await page.locator(".load-status").textContent()) ?? "", /^Ready: wasm/);
    assert.equal(await page.locator(".model-name").textContent(), "tiny-random");
    assert.deepEqual(fetched, []);
    await sendAndStopWithEsc(page, "Hello from a folder");
    assert.deepEqual(errors, []);
    await context.close();
  });
});

/** Sends `text`, waits for the reply's first text, ends the reply with Esc and waits for its meta line. */
async function sendAndStopWithEsc(page: Page, text: string): Promise<void> {
  await page.locator("textarea.input").fill(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => (document.querySelector(".msg.assistant:last-child .bubble")?.textContent ?? "").length > 0, null, {
    timeout: 120_000,
  });
  await page.keyboard.press("Escape");
  await page.waitForSelector(".msg.assistant:last-child:not(.streaming) .meta:not(:empty)", { timeout: 60_000 });
}

/** A desktop-sized page in a context of its own, with its console errors and uncaught exceptions collected. */
async function desktopPage(browser: Browser): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return { context, page, errors };
}
