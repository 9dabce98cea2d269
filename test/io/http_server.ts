/**
 * A static file server on 127.0.0.1 for loading tests, with switches: range support on or
 * off, a status forced per path, bodies cut short, and CORS headers withheld. It records
 * every request (path, Range header, bytes sent) so tests can check what was fetched.
 */
import { createServer, type Server } from "node:http";
import { readFileSync, statSync } from "node:fs";
import { join, normalize } from "node:path";
import type { AddressInfo } from "node:net";

export interface ServedRequest {
  readonly path: string;
  readonly range: string | null;
  readonly status: number;
  readonly bytes: number;
}

export class TestFileServer {
  ranges = true;
  /** Path (below the root, with leading "/") → status to answer instead. */
  readonly statuses = new Map<string, number>();
  /** Path → bytes after which the body is cut (the connection closes). */
  readonly cutAfter = new Map<string, number>();
  readonly log: ServedRequest[] = [];
  private server: Server | null = null;
  private port = 0;

  constructor(private readonly root: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const range = req.headers.range ?? null;
      const record = (status: number, bytes: number): void => void this.log.push({ path, range, status, bytes });
      const forced = this.statuses.get(path);
      if (forced !== undefined) {
        res.writeHead(forced, { "content-type": "text/plain" }).end("no");
        record(forced, 0);
        return;
      }
      const file = join(this.root, normalize(path));
      let data: Buffer;
      try {
        if (!statSync(file).isFile()) throw new Error("not a file");
        data = readFileSync(file);
      } catch {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found");
        record(404, 0);
        return;
      }
      let status = 200;
      let body = data;
      const headers: Record<string, string> = { "content-type": "application/octet-stream" };
      const m = this.ranges && range !== null ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
      if (m) {
        const start = Number(m[1]);
        const end = Math.min(m[2] === "" ? data.length - 1 : Number(m[2]), data.length - 1);
        if (start >= data.length) {
          res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
          record(416, 0);
          return;
        }
        status = 206;
        body = data.subarray(start, end + 1);
        headers["content-range"] = `bytes ${start}-${end}/${data.length}`;
      }
      if (this.ranges) headers["accept-ranges"] = "bytes";
      headers["content-length"] = String(body.length);
      res.writeHead(status, headers);
      const cut = this.cutAfter.get(path);
      if (cut !== undefined && cut < body.length) {
        res.write(body.subarray(0, cut), () => res.destroy());
        record(status, cut);
        return;
      }
      res.end(body);
      record(status, body.length);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Bytes sent for a path (all requests). */
  bytesSent(path: string): number {
    return this.log.filter((r) => r.path === path).reduce((n, r) => n + r.bytes, 0);
  }

  reset(): void {
    this.ranges = true;
    this.statuses.clear();
    this.cutAfter.clear();
    this.log.length = 0;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = null;
  }
}

/** An in-memory Cache Storage (Node has none) holding real Responses, for cache tests. */
export class MemoryCacheStorage {
  readonly buckets = new Map<string, Map<string, { body: ArrayBuffer; headers: [string, string][] }>>();
  async open(name: string) {
    let bucket = this.buckets.get(name);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(name, bucket);
    }
    const b = bucket;
    return {
      async match(url: string): Promise<Response | undefined> {
        const e = b.get(url);
        return e === undefined ? undefined : new Response(e.body.slice(0), { headers: e.headers });
      },
      async put(url: string, res: Response): Promise<void> {
        b.set(url, { body: await res.arrayBuffer(), headers: [...res.headers] });
      },
      async delete(url: string): Promise<boolean> {
        return b.delete(url);
      },
      async keys(): Promise<{ url: string }[]> {
        return [...b.keys()].map((url) => ({ url }));
      },
    };
  }
}
