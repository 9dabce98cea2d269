/**
 * Who may talk to the server: API keys, the Host-header allow-list and CORS.
 *
 * - Keys: any of several (`--api-key`, `--api-key-file`), compared in constant time over
 *   their SHA-256 digests, so neither a key's length nor its first differing byte leaks.
 * - Host allow-list (DNS-rebinding protection): a web page on evil.example whose name is
 *   made to resolve to 127.0.0.1 reaches a loopback server with `Host: evil.example`; the
 *   server then refuses it. On by default for loopback binds, where the only names a
 *   legitimate client uses are localhost and the loopback addresses.
 * - CORS: off unless origins are configured; then an allowed origin's preflight is answered
 *   and its responses carry Access-Control-Allow-Origin. A disallowed origin gets no CORS
 *   headers, so the browser keeps the response from the page.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map((k) => sha256(k));
  }

  get required(): boolean {
    return this.digests.length > 0;
  }

  /** Whether the request's `Authorization: Bearer KEY` names one of the keys (always true with none). */
  allows(req: IncomingMessage): boolean {
    if (this.digests.length === 0) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!m) return false;
    const given = sha256(m[1]!.trim());
    let ok = false;
    // Every key is compared, so the time does not tell which one matched.
    for (const d of this.digests) ok = timingSafeEqual(given, d) || ok;
    return ok;
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** The keys of an --api-key-file: one per line; blank lines and lines starting with # are skipped. */
export function parseApiKeyFile(text: string, file: string): string[] {
  const keys = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (keys.length === 0) throw new Error(`${file}: no API key in it (one key per line; # starts a comment)`);
  const bad = keys.findIndex((k) => /\s/.test(k));
  if (bad >= 0) throw new Error(`${file}: key ${bad + 1} contains whitespace`);
  return keys;
}

const LOOPBACK_BINDS = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);

export function isLoopbackBind(host: string): boolean {
  return LOOPBACK_BINDS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Host names (without port) a request may name. `null`: every Host is accepted (a public
 * bind without --allowed-host, or `*` among them).
 */
export class HostAllowList {
  private constructor(private readonly names: ReadonlySet<string> | null) {}

  static for(bindHost: string, extra: readonly string[]): HostAllowList {
    if (extra.includes("*")) return new HostAllowList(null);
    if (!isLoopbackBind(bindHost) && extra.length === 0) return new HostAllowList(null);
    const names = new Set(extra.map((h) => h.toLowerCase()));
    for (const n of ["localhost", "127.0.0.1", "[::1]"]) names.add(n);
    if (!isLoopbackBind(bindHost)) names.add(bindHost.toLowerCase());
    return new HostAllowList(names);
  }

  get enabled(): boolean {
    return this.names !== null;
  }

  /** A request without Host (HTTP/1.0) passes: browsers always send one. */
  allows(hostHeader: string | undefined): boolean {
    if (this.names === null || hostHeader === undefined) return true;
    return this.names.has(hostName(hostHeader));
  }
}

/** `Host` without its port: "localhost:8080" → "localhost", "[::1]:80" → "[::1]". */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.lastIndexOf(":");
  return colon >= 0 ? h.slice(0, colon) : h;
}

const ALLOWED_HEADERS = "authorization, content-type, x-request-id";

export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes("*");
    this.origins = new Set(origins.map((o) => o.replace(/\/+$/, "").toLowerCase()));
  }

  get enabled(): boolean {
    return this.any || this.origins.size > 0;
  }

  private allowedOrigin(req: IncomingMessage): string | null {
    const origin = req.headers.origin;
    if (!origin || !this.enabled) return null;
    if (this.any) return "*";
    return this.origins.has(origin.toLowerCase()) ? origin : null;
  }

  /** Adds the CORS headers an allowed origin's response needs. */
  decorate(req: IncomingMessage, res: ServerResponse): void {
    const origin = this.allowedOrigin(req);
    if (origin === null) return;
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("access-control-expose-headers", "x-request-id, retry-after");
    if (origin !== "*") res.setHeader("vary", "Origin");
  }

  /** Answers an OPTIONS request: 204 with the preflight headers for an allowed origin, a bare 204 otherwise. */
  preflight(req: IncomingMessage, res: ServerResponse, methods: string): void {
    const origin = this.allowedOrigin(req);
    const headers: Record<string, string> = { allow: methods, "content-length": "0" };
    if (origin !== null) {
      headers["access-control-allow-origin"] = origin;
      headers["access-control-allow-methods"] = methods;
      // Echoing the asked-for headers lets SDKs that add their own (x-stainless-*) through.
      headers["access-control-allow-headers"] = requestedHeaders(req) ?? ALLOWED_HEADERS;
      headers["access-control-max-age"] = "600";
      if (origin !== "*") headers.vary = "Origin";
    }
    res.writeHead(204, headers);
    res.end();
  }
}

function requestedHeaders(req: IncomingMessage): string | null {
  const h = req.headers["access-control-request-headers"];
  return typeof h === "string" && /^[\w-]+(\s*,\s*[\w-]+)*$/.test(h.trim()) ? h.trim() : null;
}
