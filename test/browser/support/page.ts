/**
 * Pages for browser tests: each in its own context (fresh storage), with every console
 * message and uncaught error recorded, and a way to run a function against an ES module
 * imported in the page.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";

export interface ConsoleRecord {
  /** "log", "warning", "error", ... or "pageerror" for an uncaught exception. */
  type: string;
  text: string;
}

export interface TestPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every console message and uncaught error, in order. */
  readonly console: readonly ConsoleRecord[];
  /** Console errors and uncaught exceptions only, as text. */
  errors(): string[];
  close(): Promise<void>;
}

/** Opens `url` in a fresh context and starts recording the console. */
export async function openPage(browser: Browser, url: string): Promise<TestPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const messages: ConsoleRecord[] = [];
  page.on("console", (m) => messages.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => messages.push({ type: "pageerror", text: e.stack ?? e.message }));
  await page.goto(url);
  return {
    page,
    context,
    console: messages,
    errors: () => messages.filter((m) => m.type === "error" || m.type === "pageerror").map((m) => m.text),
    close: () => context.close(),
  };
}

/**
 * Imports `moduleUrl` in the page and runs `fn(module, arg)` there, returning its
 * (structured-cloneable) result. `fn` travels as source text: it must not close over
 * anything but its arguments. Rejects after `timeoutMs` so a hung page cannot hold a test.
 */
export async function runInPage<M, A, R>(
  page: Page,
  moduleUrl: string,
  fn: (module: M, arg: A) => R | Promise<R>,
  arg: A,
  timeoutMs = 120_000,
): Promise<R> {
  const run = page.evaluate(
    async ({ url, source, arg }) => {
      const module = await import(url);
      // biome-ignore lint/security/noGlobalEval: the test's own function, sent as text by design
      const f = globalThis.eval(`(${source})`) as (m: unknown, a: unknown) => unknown;
      return await f(module, arg);
    },
    { url: moduleUrl, source: fn.toString(), arg },
  ) as Promise<R>;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`runInPage: ${moduleUrl} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
