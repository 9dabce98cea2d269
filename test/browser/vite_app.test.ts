/**
 * An app built with Vite against the package as npm installs it: examples/vite (WorkerEngine
 * from `qwen2-ts`, the config docs/browser.md gives) is built with Vite's production build
 * into a temporary folder whose node_modules/qwen2-ts holds the files package.json publishes,
 * served cross-origin isolated, and run in Chromium on 2 threads: the engine's worker and the
 * wasm compute worker must both come out of Vite's worker bundling, and the greedy tokens must
 * be Hugging Face's recorded ones.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { build, createServer } from "vite";
import { type CaseInput, type Expected, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir, repoRoot } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { browserSkip, launchChromium, openPage, startTestServer, type TestServer } from "./support/index.js";

const FIXTURE = "a_tiny_f32";
const CASE = "short5";

/**
 * `app` as an npm user has it: the example's files, node_modules/qwen2-ts with what `npm pack`
 * would publish (package.json "files"), and the package's dependency and Vite linked in.
 */
function stageApp(app: string): void {
  cpSync(join(repoRoot, "examples/vite"), app, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { files: string[]; dependencies: Record<string, string> };
  const installed = join(app, "node_modules/qwen2-ts");
  for (const entry of ["package.json", ...pkg.files]) cpSync(join(repoRoot, entry), join(installed, entry), { recursive: true });
  // Models served by the app itself, as `vite` (dev) serves public/.
  mkdirSync(join(app, "public"));
  symlinkSync(fixturesDir, join(app, "public/fixtures"), "dir");
  for (const name of [...Object.keys(pkg.dependencies), "vite"]) {
    mkdirSync(dirname(join(app, "node_modules", name)), { recursive: true });
    symlinkSync(join(repoRoot, "node_modules", name), join(app, "node_modules", name), "dir");
  }
}

describe("a Vite-built app in Chromium", { skip: browserSkip || needsShared("fixtures"), timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "qwen2-vite-"));
  const app = join(work, "app");
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    stageApp(app);
    // The app's own config file, as `vite build` would read it; only the base path is ours.
    await build({ root: app, base: "/app/", logLevel: "error", configFile: join(app, "vite.config.js") });
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestServer({ mounts: { "/app/": join(app, "dist"), "/fixtures/": fixturesDir } }),
    ]);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test("the build emits the engine worker and the wasm compute worker as bundles of their own; the page's own bundle is WorkerEngine alone", () => {
    const assets = readdirSync(join(app, "dist/assets"));
    // package.json "sideEffects": false lets the bundler drop every module the page does not use.
    const page = assets.find((f) => /^index-.*\.js$/.test(f))!;
    const size = statSync(join(app, "dist/assets", page)).size;
    assert.ok(size < 64 * 1024, `the page's bundle ${page} has ${size} bytes`);
    assert.ok(
      assets.some((f) => /^engine_worker-.*\.js$/.test(f)),
      `no engine worker among ${assets.join(", ")}`,
    );
    assert.ok(
      assets.some((f) => /^worker-.*\.js$/.test(f)),
      `no compute worker among ${assets.join(", ")}`,
    );
  });

  test(`vite build, wasm, 2 threads, isolated page: fixture ${FIXTURE} case ${CASE} gives the recorded greedy tokens`, async () => {
    const { ids, errors } = await runApp(`${server.origin}/app/index.html`);
    assert.deepEqual(ids, expectedTokens(), `${CASE}: greedy tokens`);
    // Two threads: the engine's worker started the wasm backend's two workers (pool.ts: one per
    // thread, a driver and a helper), both from Vite's bundle of worker.js.
    const computeWorker = server.requests.filter((r) => /^\/app\/assets\/worker-.*\.js$/.test(r.path));
    assert.equal(computeWorker.length, 2, server.requests.map((r) => r.path).join("\n"));
    for (const r of computeWorker) assert.equal(r.status, 200);
    assert.deepEqual(errors, []);
  });

  test(`vite (dev server, the example's config), wasm, 2 threads: fixture ${FIXTURE} case ${CASE} gives the recorded greedy tokens`, async () => {
    const dev = await createServer({
      root: app,
      logLevel: "error",
      configFile: join(app, "vite.config.js"),
      server: { host: "127.0.0.1", port: 0 },
    });
    await dev.listen();
    try {
      const { ids, errors } = await runApp(`${dev.resolvedUrls!.local[0]!}index.html`);
      assert.deepEqual(ids, expectedTokens(), `${CASE}: greedy tokens`);
      assert.deepEqual(errors, []);
    } finally {
      await dev.close();
    }
  });

  /** The example page at `url`, asked for the case's greedy tokens on 2 threads. */
  async function runApp(url: string): Promise<{ ids: number[]; errors: string[] }> {
    const c = readFixtureJson<CaseInput[]>(`cases/${FIXTURE}.json`).find((x) => x.name === CASE)!;
    const query = new URLSearchParams({
      model: `/fixtures/models/${FIXTURE}/`,
      ids: (c.input_ids as number[]).join(","),
      max: String(c.max_new_tokens),
      threads: "2",
    });
    const page = await openPage(browser, `${url}?${query}`);
    try {
      const out = page.page.locator("#out[data-state]");
      await out.waitFor({ timeout: 60_000 });
      const text = (await out.textContent()) ?? "";
      assert.equal(await out.getAttribute("data-state"), "done", text);
      const result = JSON.parse(text) as { backend: string; crossOriginIsolated: boolean; ids: number[] };
      assert.equal(result.crossOriginIsolated, true);
      assert.match(result.backend, /^wasm-(simd|relaxed)$/);
      // The loader probes for optional files (an index, tokenizer files) the fixture lacks.
      return { ids: result.ids, errors: page.errors().filter((e) => !e.includes("404")) };
    } finally {
      await page.close();
    }
  }
});

function expectedTokens(): number[] {
  const exp = readFixtureJson<Expected>(`expected/${FIXTURE}.json`).cases.find((e) => e.name === CASE)!;
  return exp.rows[0]!.greedy!.f64;
}
