/**
 * `qwen2 serve`'s web chat in real Chromium: a message typed into the page streams back,
 * the stop button ends the generation on the server (its /health counters stop), settings
 * reach the request, conversations survive a reload, the page works on a phone-sized
 * screen, model markup stays text, and the console stays clean.
 *
 * The screenshot for the README comes from the scripted test model (a trained model is not
 * available to tests) and is written to docs/img/webui.png only when UPDATE_SCREENSHOTS=1,
 * so a test run never dirties the tree; otherwise it goes to the temp folder.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { repoRoot } from "../support/paths.js";
import { type ServeProcess, startServe } from "../support/serve_process.js";
import { browserSkip, launchChromium } from "./support/index.js";

const skip = browserSkip;

/** Console errors and uncaught page errors, as text, for one page. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

// Page callbacks run in Chromium (the page's CSP refuses string evaluation); this module
// compiles without the DOM library, so it names the little it touches.
declare const document: {
  querySelector(selector: string): { textContent: string | null; getBoundingClientRect(): { left: number; right: number } } | null;
  documentElement: { scrollWidth: number };
};
declare const window: { innerWidth: number; pwned?: number };

interface Health {
  active: number;
  queued: number;
  steps: number;
}

async function health(url: string): Promise<Health> {
  return (await (await fetch(`${url}/health`)).json()) as Health;
}

/** Polls /health until no sequence is active or queued; fails after `ms`. */
async function waitIdle(url: string, ms = 30_000): Promise<Health> {
  const deadline = Date.now() + ms;
  for (;;) {
    const h = await health(url);
    if (h.active === 0 && h.queued === 0) return h;
    if (Date.now() > deadline) throw new Error(`the server still generates after ${ms} ms: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `text` with the keyboard and waits until the reply has some text. */
async function sendAndWaitForText(page: Page, text: string): Promise<void> {
  await page.locator("textarea.input").fill(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => (document.querySelector(".msg.assistant:last-child .bubble")?.textContent ?? "").length > 0, null, {
    timeout: 60_000,
  });
}

/** Waits until the last reply has finished streaming. */
async function waitReplyDone(page: Page): Promise<void> {
  await page.waitForSelector(".msg.assistant:last-child:not(.streaming) .meta:not(:empty)", { timeout: 60_000 });
  await page.waitForSelector("button.send[aria-label=Send]");
}

describe("web chat in Chromium: a tiny random model", { skip, timeout: 300_000 }, () => {
  let dir: string;
  let serve: ServeProcess;
  let browser: Browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "qwen2-webui-"));
    const modelDir = join(dir, "tiny-random");
    const made = spawnSync(process.execPath, [resolve(repoRoot, "bin/qwen2.js"), "create-random", "--preset", "tiny", "--out", modelDir], {
      encoding: "utf8",
    });
    assert.equal(made.status, 0, made.stderr);
    serve = await startServe(["--model", modelDir]);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (serve) assert.equal(await serve.stop(), 0, serve.stderr());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("streams a reply; stop ends the generation on the server; settings, history and delete work; no console errors", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = collectErrors(page);
    const bodies: string[] = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/v1/chat/completions")) bodies.push(r.postData() ?? "");
    });
    await page.goto(`${serve.url}/`);

    // /v1/models names the model and says its weights are random; the page says so too.
    await page.waitForFunction(() => document.querySelector(".model-name")?.textContent === "tiny-random");
    assert.equal(await page.locator(".badge").textContent(), "random weights");
    assert.match((await page.locator(".notice").textContent()) ?? "", /random weights.*noise/);

    // Settings go into the request.
    await page.getByRole("button", { name: "Settings" }).click();
    await page.locator("textarea[name=systemPrompt]").fill("You are terse.");
    await page.locator("input[name=maxTokens]").fill("4000");
    await page.locator("input[name=seed]").fill("7");
    await page.locator("input[name=temperature]").fill("1");
    await page.getByRole("button", { name: "Done" }).click();
    assert.equal(await page.locator("dialog.settings").isVisible(), false);

    // Shift+Enter is a new line; Enter sends.
    const input = page.locator("textarea.input");
    await input.fill("line one");
    await input.press("Shift+Enter");
    await input.pressSequentially("line two");
    assert.equal(await input.inputValue(), "line one\nline two");
    await input.press("Enter");
    await page.waitForFunction(() => (document.querySelector(".msg.assistant .bubble")?.textContent ?? "").length > 0, null, {
      timeout: 60_000,
    });
    assert.equal(await input.inputValue(), "");
    const during = await health(serve.url);
    assert.equal(during.active, 1, "the server generates while the page streams");

    const body = JSON.parse(bodies[0]!) as Record<string, unknown>;
    assert.equal(body.stream, true);
    assert.equal(body.model, "tiny-random");
    assert.equal(body.max_tokens, 4000);
    assert.equal(body.seed, 7);
    assert.equal(body.temperature, 1);
    assert.deepEqual(body.messages, [
      { role: "system", content: "You are terse." },
      { role: "user", content: "line one\nline two" },
    ]);

    // Stop: the fetch is aborted, the server sees the connection close and ends the sequence.
    await page.getByRole("button", { name: "Stop" }).click();
    const idle = await waitIdle(serve.url);
    await sleep(300);
    assert.equal((await health(serve.url)).steps, idle.steps, "no decoding steps after the stop");
    await waitReplyDone(page);
    const meta = (await page.locator(".msg.assistant .meta").textContent()) ?? "";
    assert.match(meta, /stopped/);
    const tokens = Number(/(\d+) tokens?/.exec(meta)?.[1]);
    assert.ok(tokens >= 1 && tokens < 4000, `stopped after ${tokens} of 4000 tokens: ${meta}`);

    // The conversation is kept in localStorage: a reload shows it; delete removes it.
    await page.reload();
    await page.waitForSelector(".conversation-list .open");
    assert.deepEqual(await page.locator(".conversation-list .open").allTextContents(), ["line one"]);
    assert.equal(await page.locator(".msg").count(), 2);
    assert.match((await page.locator(".msg.assistant .meta").textContent()) ?? "", /stopped/);
    await page.getByRole("button", { name: "Delete “line one”" }).click();
    assert.deepEqual(await page.locator(".conversation-list li").allTextContents(), ["No conversations yet"]);
    assert.equal(await page.locator(".msg").count(), 0);

    assert.deepEqual(errors, []);
    await page.close();
  });

  it("works on a phone-sized screen: the sidebar is a drawer, nothing scrolls sideways, Escape stops", async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${serve.url}/`);
    await page.waitForFunction(() => document.querySelector(".model-name")?.textContent === "tiny-random");
    const sidebar = page.locator(".sidebar");
    await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().right <= 0);
    await page.getByRole("button", { name: "Conversations" }).click();
    await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().left === 0);
    assert.equal(await sidebar.isVisible(), true);
    await page.locator(".scrim").click({ position: { x: 370, y: 400 } });
    await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().right <= 0);

    await sendAndWaitForText(page, "hello from a phone");
    await page.keyboard.press("Escape");
    await waitIdle(serve.url);
    await waitReplyDone(page);
    assert.match((await page.locator(".msg.assistant .meta").textContent()) ?? "", /stopped/);
    const box = await page.locator("form.composer").boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844, `composer on screen: ${JSON.stringify(box)}`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "no horizontal scrolling");
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe("web chat in Chromium: markdown replies (scripted test model) and the README screenshot", { skip, timeout: 300_000 }, () => {
  let serve: ServeProcess;
  let browser: Browser;

  before(async () => {
    serve = await startServe(["--model", "scripted", "--name", "scripted-test-model"], { loader: "dist/test/webui/scripted_loader.js" });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (serve) assert.equal(await serve.stop(), 0, serve.stderr());
  });

  it("shows markup in a reply as text and runs none of it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${serve.url}/`);
    await sendAndWaitForText(page, "some html please");
    await waitReplyDone(page);
    const bubble = page.locator(".msg.assistant .bubble");
    assert.match((await bubble.textContent()) ?? "", /<script>window\.pwned = 1<\/script> <img src=x onerror=.*<b>bold\?<\/b>/);
    assert.equal(await page.locator(".messages script, .messages img, .messages b, .messages a").count(), 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("renders a streamed markdown reply (code block, list, emphasis) with tokens/s, and takes the screenshot", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${serve.url}/`);
    await page.waitForFunction(() => document.querySelector(".model-name")?.textContent === "scripted-test-model");
    assert.equal(await page.locator(".badge").isVisible(), false);
    await sendAndWaitForText(page, "Say hello in three languages");
    await waitReplyDone(page);
    await page.getByRole("button", { name: "New chat" }).click();
    await sendAndWaitForText(page, "How do I reverse the words of a sentence in TypeScript?");
    await waitReplyDone(page);

    const reply = page.locator(".msg.assistant .bubble");
    assert.equal(
      await reply.locator(".code-block code.language-ts").textContent(),
      'export function reverseWords(text: string): string {\n  return text.split(/\\s+/).reverse().join(" ");\n}',
    );
    assert.equal(await reply.locator("ol > li").count(), 3);
    assert.equal(await reply.locator("strong").textContent(), "in place");
    assert.equal(await reply.locator("em").textContent(), '"world new brave hello"');
    const meta = (await page.locator(".msg.assistant .meta").textContent()) ?? "";
    assert.match(meta, /^\d+ tokens · [\d.]+ tok\/s · first token [\d.]+ m?s$/, "usage reported by the server: exact count, no ~");
    assert.deepEqual(await page.locator(".conversation-list .open").allTextContents(), [
      "How do I reverse the words of a sentence in Typ…",
      "Say hello in three languages",
    ]);

    const target = process.env.UPDATE_SCREENSHOTS === "1" ? resolve(repoRoot, "docs/img/webui.png") : join(tmpdir(), "qwen2-webui.png");
    mkdirSync(resolve(target, ".."), { recursive: true });
    await page.locator("textarea.input").blur();
    await page.mouse.move(800, 600);
    await page.screenshot({ path: target });
    console.log(
      `# screenshot: ${target}${target.endsWith(basename("docs/img/webui.png")) && process.env.UPDATE_SCREENSHOTS === "1" ? "" : " (UPDATE_SCREENSHOTS=1 writes docs/img/webui.png)"}`,
    );
    assert.deepEqual(errors, []);
    await context.close();
  });
});
