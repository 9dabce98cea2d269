/**
 * Serves the web chat's static files (`assets/webui/`: plain HTML, CSS and ES modules, no
 * build step) at `/`. The files are read once, when the server starts, into memory: the
 * folder is small, a request never touches the disk, and only names that were in it can be
 * served (no path ever reaches the file system).
 *
 * Every answer carries a strict Content-Security-Policy (only this origin's scripts, styles
 * and API; no inline code, no frames, no plugins), `nosniff`, and `no-cache` with a strong
 * ETag: the browser keeps the files and revalidates them on each load, so a new version of
 * the package is picked up at once while an unchanged one costs a 304.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's copy: this module runs from dist/src/server/webui/. */
export const WEBUI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../assets/webui");

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

export class StaticSite {
  private readonly files = new Map<string, StaticFile>();

  /** Reads every servable file of `dir` (not recursive); fails naming the folder if it is missing. */
  constructor(readonly dir: string = WEBUI_DIR) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      throw new Error(
        `web chat: cannot read its files in ${dir} (${(err as Error).message}); start with --no-webui to serve the API alone`,
      );
    }
    for (const name of names) {
      const type = CONTENT_TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      this.files.set(`/${name}`, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` });
    }
    if (!this.files.has("/index.html")) throw new Error(`web chat: ${dir} has no index.html`);
  }

  /** The served paths, `/index.html` first. */
  paths(): string[] {
    return [...this.files.keys()].sort((a, b) => Number(b === "/index.html") - Number(a === "/index.html") || a.localeCompare(b));
  }

  /**
   * Answers a GET or HEAD for one of the files (`/` is `/index.html`) and returns true;
   * returns false, writing nothing, for any other request.
   */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const file = this.files.get(path === "/" ? "/index.html" : path);
    if (!file) return false;
    const headers = {
      "content-type": file.type,
      "cache-control": "no-cache",
      etag: file.etag,
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
    };
    if (req.headers["if-none-match"] === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, "content-length": file.body.length });
    res.end(req.method === "HEAD" ? undefined : file.body);
    return true;
  }
}
