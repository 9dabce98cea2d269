/** The web chat's files as `qwen2 serve` sends them: content types, CSP, caching, `--no-webui`. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { CONTENT_SECURITY_POLICY, StaticSite, WEBUI_DIR } from "../../src/server/webui/static_site.js";
import { startServer, type Harness } from "../server/harness.js";
import { repoRoot } from "../support/paths.js";
import { startServe } from "../support/serve_process.js";

describe("web chat static files", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ apiKey: "k1", randomWeights: true });
  });
  after(() => h.close());

  it("serves index.html at / with a strict CSP, nosniff and revalidating cache headers", async () => {
    for (const path of ["/", "/index.html"]) {
      const res = await fetch(h.url + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
      assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
      assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
      assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("cache-control"), "no-cache");
      assert.match(res.headers.get("etag") ?? "", /^"[\w-]+"$/);
      assert.match(await res.text(), /<script type="module" src="main.js"><\/script>/);
    }
  });

  it("serves every file of assets/webui with its content type, and nothing else", async () => {
    const types: Record<string, string> = {
      js: "text/javascript; charset=utf-8",
      css: "text/css; charset=utf-8",
      svg: "image/svg+xml",
      html: "text/html; charset=utf-8",
    };
    const names = readdirSync(WEBUI_DIR);
    assert.ok(names.includes("main.js") && names.includes("style.css"));
    for (const name of names) {
      const res = await fetch(`${h.url}/${name}`);
      assert.equal(res.status, 200, name);
      assert.equal(res.headers.get("content-type"), types[name.split(".").pop()!], name);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(resolve(WEBUI_DIR, name)), name);
    }
    for (const path of ["/missing.js", "/../package.json", "/%2e%2e/package.json", "/assets/webui/main.js"]) {
      const res = await fetch(h.url + path);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { type: string } }).error.type, "not_found_error");
    }
  });

  it("answers a matching If-None-Match with 304 and HEAD without a body", async () => {
    const first = await fetch(`${h.url}/chat_ui.js`);
    const etag = first.headers.get("etag")!;
    await first.arrayBuffer();
    const again = await fetch(`${h.url}/chat_ui.js`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    const head = await fetch(`${h.url}/chat_ui.js`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get("content-length")), readFileSync(resolve(WEBUI_DIR, "chat_ui.js")).length);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it("needs no API key for the page while the API still does, and /v1/models says the weights are random", async () => {
    assert.equal((await fetch(`${h.url}/`)).status, 200);
    assert.equal((await fetch(`${h.url}/v1/models`)).status, 401);
    const models = await h.client.models.list();
    assert.equal((models.data[0] as unknown as { random_weights?: boolean }).random_weights, true);
  });

  it("leaves POST / to the API router (404)", async () => {
    const res = await fetch(`${h.url}/`, { method: "POST", headers: { authorization: "Bearer k1" }, body: "{}" });
    assert.equal(res.status, 404);
  });
});

describe("web chat switched off", () => {
  it("webui: false answers / with 404 and leaves the model card without random_weights", async () => {
    const h = await startServer({ webui: false });
    try {
      const res = await fetch(`${h.url}/`);
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /\//);
      const models = await h.client.models.list();
      assert.equal("random_weights" in models.data[0]!, false);
    } finally {
      await h.close();
    }
  });

  it("qwen2 serve --no-webui: 404 at /, the API still answers", { timeout: 60_000 }, async () => {
    const serve = await startServe(["--model", "toy", "--no-webui"], { loader: "dist/test/server/toy_loader.js" });
    try {
      assert.equal((await fetch(`${serve.url}/`)).status, 404);
      assert.equal((await fetch(`${serve.url}/v1/models`)).status, 200);
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  });
});

describe("web chat files", () => {
  it("every module the page imports and every file index.html names is in assets/webui", () => {
    const names = new Set(readdirSync(WEBUI_DIR));
    const html = readFileSync(resolve(WEBUI_DIR, "index.html"), "utf8");
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(names.has(m[1]!), `index.html names ${m[1]}`);
    for (const name of names) {
      if (!name.endsWith(".js")) continue;
      const text = readFileSync(resolve(WEBUI_DIR, name), "utf8");
      for (const m of text.matchAll(/^import .* from "\.\/([^"]+)";$/gm)) assert.ok(names.has(m[1]!), `${name} imports ${m[1]}`);
      const html = /\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\(/.exec(text);
      assert.equal(html, null, `${name} must build the DOM without HTML strings, found ${html?.[0]}`);
    }
  });

  it("the pages' JavaScript type-checks against the DOM library (JSDoc types, strict)", () => {
    const tsc = resolve(repoRoot, "node_modules/typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", resolve(repoRoot, "test/webui/tsconfig.client.json")], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("a missing folder is refused naming it and the way out", () => {
    assert.throws(() => new StaticSite("/no/such/webui"), /\/no\/such\/webui.*--no-webui/);
  });

  it("the npm package ships the web chat's files", () => {
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    for (const name of readdirSync(WEBUI_DIR)) assert.ok(files.has(`assets/webui/${name}`), `assets/webui/${name} is packed`);
    assert.ok(files.has("dist/src/server/webui/static_site.js"));
  });
});
