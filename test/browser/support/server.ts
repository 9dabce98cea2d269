/**
 * A static server for browser tests, bound to 127.0.0.1 on a free port. Two switches, each
 * changeable between requests: `isolated` sends COOP/COEP (a page is then cross-origin
 * isolated and may share WebAssembly memory with workers); `ranges` answers `Range:` requests
 * with 206 (off: the whole file with 200, as some static hosts do). Folders are mounted under
 * URL prefixes (the repo's dist/ at /dist/ by default); `route` adds any other answer (a 404,
 * a 403, a truncated body). Every request is logged so tests can check what the page asked.
 */
import { createReadStream, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, resolve, sep } from "node:path";
import { repoRoot } from "../../support/paths.js";

export interface TestServerOptions {
  /** Send Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy (default true). */
  isolated?: boolean;
  /** Honour Range requests (default true). */
  ranges?: boolean;
  /** URL prefix ("/fixtures/") → folder. `/dist/` → the repo's dist/ is always there. */
  mounts?: Record<string, string>;
}

export interface RequestRecord {
  method: string;
  path: string;
  range: string | undefined;
  /** 0 until the headers are sent. */
  readonly status: number;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  /** "http://127.0.0.1:PORT" */
  readonly origin: string;
  isolated: boolean;
  ranges: boolean;
  readonly requests: RequestRecord[];
  /** Serves `path` (exact match, no query) with a handler of its own. */
  route(path: string, handler: RouteHandler): void;
  /** Serves an HTML page (with the current COOP/COEP switch) at `path`. */
  page(path: string, html: string): void;
  mount(prefix: string, dir: string): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
};

/** A blank page at `/`, so a test can give a page this origin before evaluating anything. */
export const BLANK_PAGE = "<!doctype html><meta charset=utf-8><title>qwen2-ts test</title>";

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const mounts = new Map<string, string>([["/dist/", resolve(repoRoot, "dist")]]);
  for (const [prefix, dir] of Object.entries(options.mounts ?? {})) mounts.set(normalizePrefix(prefix), resolve(dir));
  const routes = new Map<string, RouteHandler>();
  const requests: RequestRecord[] = [];

  const state = {
    isolated: options.isolated ?? true,
    ranges: options.ranges ?? true,
  };

  function commonHeaders(res: ServerResponse): void {
    res.setHeader("Cache-Control", "no-store");
    if (state.isolated) {
      res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
      res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    }
  }

  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    // The status as sent: read from the response when asked, since a page may see the answer
    // before the server's "finish" event.
    requests.push({
      method: req.method ?? "GET",
      path,
      range: req.headers.range,
      get status() {
        return res.headersSent ? res.statusCode : 0;
      },
    });
    commonHeaders(res);
    const handler = routes.get(path);
    if (handler) return handler(req, res);
    if (path === "/") return sendText(res, 200, "text/html; charset=utf-8", BLANK_PAGE);
    // Chromium asks every page for one; a 404 would be a console error in every test.
    if (path === "/favicon.ico") return void res.writeHead(204).end();
    for (const [prefix, dir] of mounts) {
      if (path.startsWith(prefix)) return serveFile(req, res, dir, path.slice(prefix.length), state.ranges);
    }
    sendText(res, 404, "text/plain", `not found: ${path}`);
  });
  // Keep-alive sockets would hold close() open until Chromium lets go of them.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    get isolated() {
      return state.isolated;
    },
    set isolated(on: boolean) {
      state.isolated = on;
    },
    get ranges() {
      return state.ranges;
    },
    set ranges(on: boolean) {
      state.ranges = on;
    },
    requests,
    route(path, handler) {
      routes.set(path, handler);
    },
    page(path, html) {
      routes.set(path, (_req, res) => sendText(res, 200, "text/html; charset=utf-8", html));
    },
    mount(prefix, dir) {
      mounts.set(normalizePrefix(prefix), resolve(dir));
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

function normalizePrefix(prefix: string): string {
  return `/${prefix.replace(/^\/+|\/+$/g, "")}/`;
}

function sendText(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function serveFile(req: IncomingMessage, res: ServerResponse, dir: string, relative: string, ranges: boolean): void {
  const file = resolve(dir, relative);
  if (file !== dir && !file.startsWith(dir + sep)) return sendText(res, 403, "text/plain", `outside the mount: ${relative}`);
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return sendText(res, 404, "text/plain", `not a file: ${relative}`);
    size = stat.size;
  } catch {
    return sendText(res, 404, "text/plain", `not found: ${relative}`);
  }
  res.setHeader("Content-Type", TYPES[extname(file)] ?? "application/octet-stream");
  if (ranges) res.setHeader("Accept-Ranges", "bytes");
  const range = ranges ? parseRange(req.headers.range, size) : undefined;
  if (range === "unsatisfiable") {
    res.writeHead(416, { "Content-Range": `bytes */${size}` });
    return void res.end();
  }
  if (range) {
    res.writeHead(206, { "Content-Range": `bytes ${range.start}-${range.end}/${size}`, "Content-Length": range.end - range.start + 1 });
  } else {
    res.writeHead(200, { "Content-Length": size });
  }
  if (req.method === "HEAD") return void res.end();
  // createReadStream's `end` is inclusive; an empty file has no byte to end at.
  if (size === 0) return void res.end();
  createReadStream(file, range ?? {}).pipe(res);
}

/** One `bytes=` range (the only kind fetch() sends); a multi-range request gets the whole file. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}
