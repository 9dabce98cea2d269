#!/usr/bin/env node
/**
 * `npm run example:browser-chat [-- --port N] [--models DIR]`: bundles
 * examples/browser-chat/ with esbuild (the page, the engine's worker, the compute worker)
 * into dist/examples/browser-chat/ and serves it on 127.0.0.1 with the headers that make
 * the page cross-origin isolated (COOP/COEP), so the model runs on several threads.
 * `--models DIR` also serves DIR at /models/ (with range requests), to load a local model
 * by URL: http://127.0.0.1:8090/?model=/models/Qwen2.5-0.5B-Instruct/
 *
 * Exports buildBrowserChat and serveBrowserChat for the page's browser test.
 */
import { copyFileSync, createReadStream, mkdirSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { builtinModules } from "node:module";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const DEFAULT_OUT = join(root, "dist/examples/browser-chat");

/** What the page may do: its own scripts, WebAssembly, workers; models from any http(s) URL. */
export const EXAMPLE_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' https: http:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

/**
 * Bundles the page into `outdir`. Node built-ins left in the library's browser path are kept
 * external rather than failing the build; the static imports among them are listed (the page
 * would fail to start on them).
 * @returns {Promise<{ outdir: string, nodeImports: string[] }>}
 */
export async function buildBrowserChat(outdir = DEFAULT_OUT) {
  mkdirSync(outdir, { recursive: true });
  const builtins = new Set(builtinModules);
  /** @type {string[]} */
  const nodeImports = [];
  await build({
    entryPoints: {
      main: join(root, "examples/browser-chat/main.js"),
      // Found by the library at run time beside the modules that spawn them.
      engine_worker: join(root, "dist/src/runtime/worker_engine/engine_worker.js"),
      worker: join(root, "dist/src/backends/wasm/worker.js"),
    },
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    outdir,
    sourcemap: true,
    logLevel: "error",
    plugins: [
      {
        name: "node-builtins",
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (!args.path.startsWith("node:") && !builtins.has(args.path.split("/")[0])) return undefined;
            // A dynamic import() runs only on the path that asks for it (Node's); a static one
            // stops the module from loading at all.
            if (args.kind !== "dynamic-import") nodeImports.push(`${args.path} (from ${args.importer.slice(root.length + 1)})`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  copyFileSync(join(root, "examples/browser-chat/index.html"), join(outdir, "index.html"));
  copyFileSync(join(root, "examples/browser-chat/example.css"), join(outdir, "example.css"));
  copyFileSync(join(root, "assets/webui/style.css"), join(outdir, "style.css"));
  copyFileSync(join(root, "assets/webui/favicon.svg"), join(outdir, "favicon.svg"));
  return { outdir, nodeImports };
}

/**
 * Serves `dir` at / and `models` (if given) at /models/, on 127.0.0.1.
 * @param {{ dir?: string, port?: number, host?: string, models?: string }} options
 * @returns {Promise<{ url: string, close(): Promise<void> }>}
 */
export async function serveBrowserChat(options = {}) {
  const dir = resolve(options.dir ?? DEFAULT_OUT);
  const models = options.models ? resolve(options.models) : null;
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("X-Content-Type-Options", "nosniff");
    if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "GET or HEAD only");
    if (models && path.startsWith("/models/")) return sendFile(req, res, models, path.slice("/models/".length), "no-cache");
    res.setHeader("Content-Security-Policy", EXAMPLE_CSP);
    sendFile(req, res, dir, path === "/" ? "index.html" : path.slice(1), "no-cache");
  });
  server.keepAliveTimeout = 1000;
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 8090, options.host ?? "127.0.0.1", () => ok(undefined));
  });
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok(undefined));
      }),
  };
}

/** @param {import("node:http").ServerResponse} res @param {number} status @param {string} body */
function text(res, status, body) {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * One file of `dir`, with a single `bytes=` range when asked (what the model loader sends).
 * @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res
 * @param {string} dir @param {string} relative @param {string} cache
 */
function sendFile(req, res, dir, relative, cache) {
  const file = resolve(dir, relative);
  if (file !== dir && !file.startsWith(dir + sep)) return text(res, 403, `outside the served folder: ${relative}`);
  let size;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return text(res, 404, `not a file: ${relative}`);
    size = stat.size;
  } catch {
    return text(res, 404, `not found: ${relative}`);
  }
  res.setHeader("Content-Type", TYPES[extname(file)] ?? "application/octet-stream");
  res.setHeader("Cache-Control", cache);
  res.setHeader("Accept-Ranges", "bytes");
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  let start = 0;
  let end = size - 1;
  if (m && (m[1] !== "" || m[2] !== "")) {
    start = m[1] === "" ? Math.max(0, size - Number(m[2])) : Number(m[1]);
    end = m[1] === "" || m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start >= size || start > end) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` });
      return void res.end();
    }
    res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": end - start + 1 });
  } else res.writeHead(200, { "Content-Length": size });
  if (req.method === "HEAD" || size === 0) return void res.end();
  createReadStream(file, { start, end }).pipe(res);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (/** @type {string} */ name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const port = Number(flag("port") ?? 8090);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`example:browser-chat: --port must be an integer in [0, 65535], got '${flag("port")}'`);
    process.exit(2);
  }
  const { nodeImports } = await buildBrowserChat();
  if (nodeImports.length > 0)
    console.warn(`example:browser-chat: the bundle still imports Node built-ins, the page will not start:\n  ${nodeImports.join("\n  ")}`);
  const models = flag("models");
  const { url } = await serveBrowserChat({ port, ...(models ? { models } : {}) });
  console.log(`qwen2-ts in-page chat: ${url}/  (cross-origin isolated; Ctrl+C stops)`);
  if (models) console.log(`models from ${resolve(models)} at ${url}/models/  (e.g. ${url}/?model=/models/NAME/)`);
}
