/**
 * The server's gate and operators' features, on 127.0.0.1 with small limits so every case
 * runs in well under a second: timeouts, body and connection limits, content types, request
 * ids, malformed URLs and JSON, quiet client aborts, API keys, CORS, the Host allow-list,
 * ignored fields, /metrics, /tokenize's cap and graceful shutdown.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { SCRIPTS, errorOf, postRaw, slowDown, startServer, type Harness } from "./harness.js";
import type { ServerOptions } from "../../src/server/server.js";

const chat = (content: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: "toy", messages: [{ role: "user", content }], temperature: 0, ...extra });

/** Resolves once the server is generating (a request is active). */
async function generating(h: Harness): Promise<void> {
  for (let i = 0; i < 400 && h.server.stats().active === 0; i++) await new Promise((r) => setTimeout(r, 10));
}

/** A raw socket to the server, with everything it receives collected and a promise of its end. */
function rawSocket(url: string): { socket: Socket; received: () => string; ended: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let data = "";
  socket.on("data", (d: Buffer) => (data += d.toString()));
  socket.on("error", () => {});
  const ended = new Promise<void>((r) => socket.once("close", () => r()));
  return { socket, received: () => data, ended };
}

/** A plain http.request with full control over headers (Host included). */
function get(
  url: string,
  path: string,
  headers: Record<string, string>,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port: Number(port), path, method, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("limits: bodies, timeouts, connections", () => {
  let h: Harness;
  const logs: string[] = [];
  before(async () => {
    h = await startServer({
      apiKey: "k1",
      log: (m) => logs.push(m),
      limits: { readTimeoutMs: 300, idleTimeoutMs: 200, maxConnections: 6, bodyLimit: 64 * 1024, maxTokenizeTokens: 5 },
    });
  });
  after(() => h.close());
  const auth = { authorization: "Bearer k1" };

  it("a 401 stops reading an endless body and closes the connection", { timeout: 10_000 }, async () => {
    const { socket, received, ended } = rawSocket(h.url);
    socket.write(
      "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    const chunk = `10000\r\n${"x".repeat(0x10000)}\r\n`;
    let sent = 0;
    let stop = false;
    const pump = (): void => {
      while (!stop && !socket.destroyed && socket.write(chunk)) sent += 0x10000;
      if (!stop && !socket.destroyed) socket.once("drain", pump);
    };
    pump();
    await ended;
    stop = true;
    assert.match(received(), /^HTTP\/1\.1 401 /);
    assert.match(received(), /connection: close/i);
    assert.match(received(), /invalid_api_key/);
    assert.ok(sent < 64 * 1024 * 1024, `the server closed after at most a few MB, not ${sent} bytes`);
  });

  it("413 for a declared or a chunked body over --body-limit, naming it, and the connection closes", async () => {
    const big = chat("x".repeat(70 * 1024));
    const r = await postRaw(h.url, "/v1/chat/completions", big, auth);
    assert.equal(r.status, 413);
    assert.equal(errorOf(r.json).code, "request_too_large");
    assert.match(errorOf(r.json).message, /65536 bytes \(--body-limit\)/);
    const { socket, received, ended } = rawSocket(h.url);
    socket.write(
      "POST /tokenize HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer k1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    for (let i = 0; i < 3; i++) socket.write(`8000\r\n${" ".repeat(0x8000)}\r\n`);
    await ended;
    assert.match(received(), /^HTTP\/1\.1 413 /);
    assert.match(received(), /connection: close/i);
  });

  it("415 for a text/plain or missing content type (cross-site simple requests)", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", undefined]) {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth, ...(type ? { "content-type": type } : {}) },
        body: type ? chat("say hello") : new Blob([chat("say hello")]),
      });
      assert.equal(res.status, 415, String(type));
      const e = errorOf(await res.json());
      assert.equal(e.code, "unsupported_media_type");
      assert.match(e.message, /application\/json/);
    }
    const ok = await postRaw(h.url, "/v1/chat/completions", chat("say hello"), {
      ...auth,
      "content-type": "application/json; charset=utf-8",
    });
    assert.equal(ok.status, 200);
  });

  it("408 naming --read-timeout when a body stalls, then the connection closes", { timeout: 10_000 }, async () => {
    const { socket, received, ended } = rawSocket(h.url);
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer k1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"mod',
    );
    await ended;
    assert.match(received(), /^HTTP\/1\.1 408 /);
    assert.match(received(), /request_timeout/);
    assert.match(received(), /--read-timeout/);
  });

  it("closes a keep-alive connection idle past --idle-timeout", { timeout: 10_000 }, async () => {
    const { socket, received, ended } = rawSocket(h.url);
    socket.write("GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    const t0 = Date.now();
    await ended;
    assert.match(received(), /^HTTP\/1\.1 200 /);
    assert.equal(h.server.http.keepAliveTimeout, 200, "--idle-timeout reaches the HTTP server");
    assert.ok(Date.now() - t0 < 5000, "closed by the idle timeout, not left open");
  });

  it("503 naming --max-connections for one connection over the cap", { timeout: 10_000 }, async () => {
    const held = Array.from({ length: 6 }, () => rawSocket(h.url));
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawSocket(h.url);
    await extra.ended;
    assert.match(extra.received(), /^HTTP\/1\.1 503 /);
    assert.match(extra.received(), /too_many_connections/);
    assert.match(extra.received(), /--max-connections/);
    for (const s of held) s.socket.destroy();
    await Promise.all(held.map((s) => s.ended));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await fetch(`${h.url}/health`)).status, 200, "served again once connections closed");
  });

  it("400 (not 500) for malformed percent-escapes and for JSON nested past the depth limit", async () => {
    for (const path of ["/v1/models/%", "/v1/models/%E0%A4%A", "/v1/%zz"]) {
      const r = await fetch(h.url + path, { headers: auth });
      assert.equal(r.status, 400, path);
      assert.equal(errorOf(await r.json()).code, "invalid_url");
    }
    const deep = await postRaw(h.url, "/v1/chat/completions", `${"[".repeat(5000)}${"]".repeat(5000)}`, auth);
    assert.equal(deep.status, 400);
    assert.equal(errorOf(deep.json).code, "json_too_deep");
    // A schema `const` nested to just under the limit is an ordinary request, not a 500.
    let schema: unknown = "x";
    for (let i = 0; i < 28; i++) schema = { const: [schema] };
    const nested = await postRaw(
      h.url,
      "/v1/chat/completions",
      chat("schema please", { max_tokens: 4, response_format: { type: "json_schema", json_schema: { name: "n", schema } } }),
      auth,
    );
    assert.notEqual(nested.status, 500, JSON.stringify(nested.json));
  });

  it("logs a client that leaves mid-upload as one quiet line, without a stack", { timeout: 20_000 }, async () => {
    // A server of its own with a long read timeout, so a loaded machine cannot turn the abort into a 408.
    const lines: string[] = [];
    const quiet = await startServer({ log: (m) => lines.push(m), limits: { readTimeoutMs: 15_000 } });
    try {
      const { socket, ended } = rawSocket(quiet.url);
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model"',
      );
      // Leave only once the server is reading the body (the /metrics request itself is the other one in flight).
      const inFlight = async (): Promise<number> =>
        Number(/^qwen2_requests_in_flight (\d+)$/m.exec(await (await fetch(`${quiet.url}/metrics`)).text())?.[1]);
      for (let i = 0; i < 200 && (await inFlight()) < 2; i++) await new Promise((r) => setTimeout(r, 10));
      socket.destroy();
      await ended;
      for (let i = 0; i < 200 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(
        lines[0]!,
        /^\[req-[\w-]+\] POST \/v1\/chat\/completions: the client closed the connection during the upload \(8 bytes read\)$/,
      );
    } finally {
      await quiet.close();
    }
  });

  it("/tokenize refuses a text of more tokens than --max-tokenize-tokens", async () => {
    const r = await postRaw(h.url, "/tokenize", JSON.stringify({ content: "abcdefgh", with_pieces: true }), auth);
    assert.equal(r.status, 400);
    assert.equal(errorOf(r.json).code, "too_many_tokens");
    assert.match(errorOf(r.json).message, /--max-tokenize-tokens/);
    assert.equal((await postRaw(h.url, "/tokenize", JSON.stringify({ content: "abc" }), auth)).status, 200);
  });
});

describe("request ids, keys, CORS, Host, ignored fields, /metrics", () => {
  let h: Harness;
  const logs: string[] = [];
  before(async () => {
    h = await startServer({ apiKeys: ["k1", "k2-longer"], corsOrigins: ["http://app.example"], log: (m) => logs.push(m) });
  });
  after(() => h.close());

  it("every answer carries x-request-id: the client's when it is sane, a new one otherwise", async () => {
    const mine = await fetch(`${h.url}/health`, { headers: { "x-request-id": "abc-123" } });
    assert.equal(mine.headers.get("x-request-id"), "abc-123");
    const odd = await fetch(`${h.url}/health`, { headers: { "x-request-id": "a b<script>" } });
    assert.match(odd.headers.get("x-request-id") ?? "", /^req-[\w-]{12}$/);
    const err = await fetch(`${h.url}/v1/models`);
    assert.equal(err.status, 401);
    assert.match(err.headers.get("x-request-id") ?? "", /^req-/);
  });

  it("accepts any of several API keys and no other", async () => {
    for (const key of ["k1", "k2-longer"])
      assert.equal((await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
    for (const key of ["k2", "k1x", ""])
      assert.equal((await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 401);
  });

  it("answers an allowed origin's preflight and tags its responses; other origins get no CORS headers", async () => {
    const pre = await fetch(`${h.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: "http://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-os",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "http://app.example");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /x-stainless-os/);
    const r = await fetch(`${h.url}/v1/models`, { headers: { origin: "http://app.example", authorization: "Bearer k1" } });
    assert.equal(r.headers.get("access-control-allow-origin"), "http://app.example");
    assert.match(r.headers.get("access-control-expose-headers") ?? "", /x-request-id/);
    const other = await fetch(`${h.url}/v1/models`, { headers: { origin: "http://evil.example", authorization: "Bearer k1" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const otherPre = await fetch(`${h.url}/v1/models`, { method: "OPTIONS", headers: { origin: "http://evil.example" } });
    assert.equal(otherPre.status, 204);
    assert.equal(otherPre.headers.get("access-control-allow-origin"), null);
    assert.equal((await fetch(`${h.url}/nowhere`, { method: "OPTIONS" })).status, 404);
  });

  it("refuses a Host that is not this loopback server's (DNS rebinding), with 403", async () => {
    const port = new URL(h.url).port;
    const evil = await get(h.url, "/health", { host: `evil.example:${port}` });
    assert.equal(evil.status, 403);
    assert.equal(errorOf(JSON.parse(evil.body)).code, "host_not_allowed");
    assert.match(errorOf(JSON.parse(evil.body)).message, /--allowed-host/);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "localhost"])
      assert.equal((await get(h.url, "/health", { host })).status, 200, host);
  });

  it("ignores unknown top-level fields (as vLLM does) and logs them once with the request id", async () => {
    logs.length = 0;
    const r = await postRaw(h.url, "/v1/chat/completions", chat("say hello", { frobnicate: 1, user: "u1" }), {
      authorization: "Bearer k1",
      "x-request-id": "fields-1",
    });
    assert.equal(r.status, 200);
    assert.deepEqual(logs, ['[fields-1] POST /v1/chat/completions: ignored fields "frobnicate", "user"']);
  });

  it("/metrics: Prometheus text with requests, tokens, latencies, slots and errors", async () => {
    const client = h.client.withOptions({ apiKey: "k1" });
    const s = await client.chat.completions.create({
      model: "toy",
      messages: [{ role: "user", content: "say hello" }],
      temperature: 0,
      stream: true,
    });
    for await (const _ of s);
    await fetch(`${h.url}/v1/models`);
    // The tokens/s gauge counts whole seconds that have ended: wait for the next one to begin.
    const second = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === second) await new Promise((r) => setTimeout(r, 20));
    const res = await fetch(`${h.url}/metrics`, { headers: { authorization: "Bearer k1" } });
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const value = (line: string): number => {
      const m = new RegExp(`^${line.replace(/[{}"+.]/g, "\\$&")} (\\S+)$`, "m").exec(text);
      assert.ok(m, `${line} in\n${text}`);
      return Number(m[1]);
    };
    assert.ok(value('qwen2_http_requests_total{route="/v1/chat/completions",status="200"}') >= 1);
    assert.ok(value('qwen2_http_requests_total{route="/v1/models",status="401"}') >= 1);
    assert.ok(value('qwen2_errors_total{code="invalid_api_key"}') >= 1);
    const generated = h.tokenizer.encode(SCRIPTS.hello).length + 1;
    assert.ok(value("qwen2_generation_tokens_total") >= generated);
    assert.ok(value("qwen2_prompt_tokens_total") > 0);
    assert.ok(value("qwen2_time_to_first_token_seconds_count") >= 1);
    assert.ok(value("qwen2_inter_token_latency_seconds_count") >= generated - 1);
    assert.equal(value('qwen2_inter_token_latency_seconds_bucket{le="+Inf"}'), value("qwen2_inter_token_latency_seconds_count"));
    assert.ok(value("qwen2_generation_tokens_per_second") > 0);
    assert.equal(value("qwen2_slots_total"), 4);
    assert.equal(value("qwen2_slots_active"), 0);
    assert.equal(value("qwen2_slots_paused"), 0);
    assert.equal(value("qwen2_queue_depth"), 0);
    assert.equal(value("qwen2_kv_caches_max"), 5, "--parallel + 1");
    assert.ok(value("qwen2_kv_caches") >= 1 && value("qwen2_kv_caches") <= 5);
    assert.equal(value("qwen2_preempted_total"), 0);
    assert.equal(value("qwen2_demoted_steps_total"), 0);
    assert.ok(value('qwen2_process_memory_bytes{kind="rss"}') > value('qwen2_process_memory_bytes{kind="heapUsed"}'));
    assert.match(text, /^# TYPE qwen2_time_to_first_token_seconds histogram$/m);
    assert.equal((await fetch(`${h.url}/metrics`)).status, 401, "/metrics needs the key when one is set");
  });
});

describe("deadlines and graceful shutdown", () => {
  const start = async (o: Partial<ServerOptions>): Promise<Harness> => {
    const h = await startServer(o);
    slowDown(h, 2);
    return h;
  };

  it("ends a request past --request-timeout: 408 before any byte, an error event in a stream", { timeout: 20_000 }, async () => {
    const h = await start({ limits: { requestDeadlineMs: 250 } });
    try {
      const r = await postRaw(h.url, "/v1/chat/completions", chat("count slowly"));
      assert.equal(r.status, 408);
      assert.equal(errorOf(r.json).code, "deadline_exceeded");
      assert.match(errorOf(r.json).message, /--request-timeout/);
      const s = await postRaw(h.url, "/v1/chat/completions", chat("count slowly", { stream: true }));
      assert.equal(s.status, 200);
      const text = String(s.json);
      assert.match(text, /deadline_exceeded/);
      assert.match(text, /data: \[DONE\]\n\n$/);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(h.model.live.size <= h.server.stats().cachedPrefixes, true, "the cut sequences freed their caches");
      assert.equal(h.server.stats().active, 0);
    } finally {
      await h.close();
    }
  });

  it("shutdown: refuses new connections, lets a running stream finish within the grace time", { timeout: 20_000 }, async () => {
    const h = await start({});
    const running = postRaw(h.url, "/v1/chat/completions", chat("count slowly", { stream: true, max_tokens: 60 }));
    await generating(h);
    const cut = h.server.shutdown(10_000);
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(fetch(`${h.url}/health`));
    const r = await running;
    assert.match(String(r.json), /"finish_reason":"length"/);
    assert.equal(await cut, 0);
  });

  it("shutdown: cuts what is still running when the grace time is over, with an error event", { timeout: 20_000 }, async () => {
    const h = await start({});
    const running = postRaw(h.url, "/v1/chat/completions", chat("count slowly", { stream: true }));
    await generating(h);
    assert.equal(await h.server.shutdown(50), 1);
    const text = String((await running).json);
    assert.match(text, /The server is shutting down/);
    assert.doesNotMatch(text, /"finish_reason":"stop"/);
  });
});

describe("slow readers, embeddings and large inputs", () => {
  it("a stream whose client stops reading is paused (not stepped, its slot given to others) and resumes on drain", {
    timeout: 60_000,
  }, async () => {
    // Eight choices of ~1 KB per token each outgrow the kernel's socket buffers (a few MB on loopback) quickly.
    // A budget of 8 caches: the other request must take a paused choice's.
    const h = await startServer({ parallel: 8, kvCaches: 8 });
    try {
      const { socket, received, ended } = rawSocket(h.url);
      const body = JSON.stringify({
        model: "toy",
        messages: [{ role: "user", content: "babble on" }],
        temperature: 1,
        max_tokens: 1500,
        n: 8,
        logprobs: true,
        top_logprobs: 20,
        stream: true,
      });
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await new Promise((r) => setTimeout(r, 30));
      socket.pause();
      const until = async (what: string, cond: () => boolean): Promise<void> => {
        const t0 = Date.now();
        for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
        assert.ok(cond(), what);
        if (process.env.QWEN2_DEBUG_TIMES) console.log(what, Date.now() - t0);
      };
      await until("the stream is paused once its socket is full", () => h.server.stats().paused === 8);
      const calls = h.model.forwardCalls;
      // Their slots are free: another request runs to completion meanwhile.
      const other = await postRaw(h.url, "/v1/chat/completions", chat("say hello"));
      assert.equal(other.status, 200);
      const afterOther = h.model.forwardCalls;
      assert.ok(afterOther > calls);
      assert.equal(h.server.stats().preempted, 1, "it ran on a paused choice's cache");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(h.model.forwardCalls, afterOther, "a paused sequence is not stepped");
      assert.equal(h.server.stats().paused, 8);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^qwen2_slots_paused 8$/m);
      socket.resume();
      await until("generation resumes once the client reads", () => h.model.forwardCalls > afterOther + 20);
      socket.destroy();
      await ended;
      await until("the cut stream frees its cache", () => h.server.stats().active === 0 && h.server.stats().paused === 0);
      assert.ok(received().length > 0);
    } finally {
      await h.close();
    }
  });

  it("embeddings: more inputs than --max-embedding-inputs is a 400 naming it; batches go through the scheduler", async () => {
    const h = await startServer({ limits: { maxEmbeddingInputs: 3 } });
    try {
      const many = await postRaw(h.url, "/v1/embeddings", JSON.stringify({ model: "toy", input: ["a", "b", "c", "d"] }));
      assert.equal(many.status, 400);
      assert.equal(errorOf(many.json).code, "too_many_inputs");
      assert.equal(errorOf(many.json).param, "input");
      assert.match(errorOf(many.json).message, /--max-embedding-inputs/);
      const ids = await postRaw(h.url, "/v1/embeddings", JSON.stringify({ model: "toy", input: [1, 2, 3, 4, 5] }));
      assert.equal(ids.status, 200, "a flat list of ids is one input");
      let turns = 0;
      const exclusive = h.server.scheduler.exclusive.bind(h.server.scheduler);
      h.server.scheduler.exclusive = ((task: () => unknown) => {
        turns++;
        return exclusive(task);
      }) as typeof exclusive;
      const long = "word ".repeat(60);
      const r = await postRaw(
        h.url,
        "/v1/embeddings",
        JSON.stringify({ model: "toy", input: [long, long, "short"], encoding_format: "float" }),
      );
      assert.equal(r.status, 200);
      assert.equal((r.json as { data: unknown[] }).data.length, 3);
      assert.equal(turns, 2, "two batches of at most 512 tokens, each a scheduler turn");
      assert.equal(h.model.live.size, 0, "the batches' caches are freed");
    } finally {
      await h.close();
    }
  });

  it("a prompt far past the context is refused before it is tokenized; a long one is tokenized in pieces and cut at the context", async () => {
    const h = await startServer({ contextLength: 100_000 }, 200_000);
    try {
      let calls = 0;
      const encode = h.tokenizer.encode.bind(h.tokenizer);
      h.tokenizer.encode = ((...a: Parameters<typeof encode>) => {
        calls++;
        return encode(...a);
      }) as typeof encode;
      const huge = await postRaw(h.url, "/v1/completions", JSON.stringify({ model: "toy", prompt: "word ".repeat(800_000) }));
      assert.equal(huge.status, 400);
      assert.equal(errorOf(huge.json).code, "context_length_exceeded");
      assert.match(errorOf(huge.json).message, /at least \d+ tokens/);
      assert.equal(calls, 0, "the 4 MB prompt was refused from its length");
      const long = await postRaw(h.url, "/v1/chat/completions", chat("ab ".repeat(200_000)));
      assert.equal(long.status, 400);
      assert.equal(errorOf(long.json).param, "messages");
      assert.ok(calls >= 2 && calls < 15, `tokenized ${calls} pieces of 32K characters, not all 19`);
    } finally {
      await h.close();
    }
  });
});

describe("fair share of slots", () => {
  it("a request for n=8 choices yields a slot to a one-choice request instead of making it wait for its choices", {
    timeout: 30_000,
  }, async () => {
    const h = await startServer({ parallel: 4 });
    slowDown(h, 2);
    try {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chat("count slowly", { stream: true, n: 8, max_tokens: 150 }),
      });
      let many = "";
      const reading = (async () => {
        for await (const chunk of res.body!) many += Buffer.from(chunk as Uint8Array).toString();
      })();
      await generating(h);
      for (let i = 0; i < 400 && h.server.stats().active < 4; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.server.stats().active, 4, "the n=8 request holds every slot");
      const one = await postRaw(h.url, "/v1/chat/completions", chat("say hello"));
      assert.equal(one.status, 200);
      assert.equal((one.json as { choices: { message: { content: string } }[] }).choices[0]!.message.content, SCRIPTS.hello);
      assert.doesNotMatch(many, /"finish_reason":"length"/, "answered before any of the 8 choices finished");
      assert.ok(h.server.stats().yielded >= 1);
      await reading;
      assert.equal(many.match(/"finish_reason":"length"/g)?.length, 8, "all 8 choices still finish");
      assert.equal(h.server.stats().active, 0);
    } finally {
      await h.close();
    }
  });

  it("beside another request, a request for n=8 decodes one choice at a time and resumes its started choices before starting new ones", {
    timeout: 30_000,
  }, async () => {
    // No prefix pool: every live cache belongs to a sequence that has started and not finished.
    const h = await startServer({ parallel: 4, prefixCacheEntries: 0 });
    slowDown(h, 2);
    // The batch of every forward pass that steps the one-choice request (known by its cache, the first made once it is sent).
    const batches: number[] = [];
    let recording = false;
    let oneCache: unknown = null;
    const forward = h.model.forward.bind(h.model);
    h.model.forward = ((...args: Parameters<typeof forward>) => {
      if (args[0].some((item) => item.cache === oneCache)) batches.push(args[0].length);
      return forward(...args);
    }) as typeof h.model.forward;
    let peakCaches = 0;
    const createCache = h.model.createCache.bind(h.model);
    h.model.createCache = ((capacity: number) => {
      const cache = createCache(capacity);
      if (recording && oneCache === null) oneCache = cache;
      peakCaches = Math.max(peakCaches, h.model.live.size);
      return cache;
    }) as typeof h.model.createCache;
    try {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chat("count slowly", { stream: true, n: 8, max_tokens: 60 }),
      });
      let many = "";
      const reading = (async () => {
        for await (const chunk of res.body!) many += Buffer.from(chunk as Uint8Array).toString();
      })();
      for (let i = 0; i < 400 && h.server.stats().active < 4; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.server.stats().active, 4, "alone, the n=8 request holds every slot");
      recording = true;
      const one = await postRaw(h.url, "/v1/chat/completions", chat("say hello"));
      recording = false;
      assert.equal(one.status, 200);
      assert.equal((one.json as { choices: { message: { content: string } }[] }).choices[0]!.message.content, SCRIPTS.hello);
      assert.ok(batches.length >= 3, `the one-choice request took ${batches.length} steps`);
      assert.ok(
        batches.every((b) => b <= 2),
        `beside it, one of the 8 choices decodes (batches of ${batches.join(", ")})`,
      );
      await reading;
      assert.equal(many.match(/"finish_reason":"length"/g)?.length, 8, "all 8 choices still finish");
      assert.ok(peakCaches <= 5, `at most 4 choices and the one-choice request hold a cache at once, saw ${peakCaches}`);
      assert.equal(h.model.live.size, 0);
    } finally {
      await h.close();
    }
  });
});

describe("TLS", () => {
  it("serves HTTPS with --tls-cert/--tls-key (a self-signed certificate made with openssl)", { timeout: 30_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "qwen2-tls-"));
    try {
      const made = spawnSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      if (made.error || made.status !== 0) return t.skip("openssl is not available to make a test certificate");
      const cert = readFileSync(join(dir, "cert.pem"));
      const h = await startServer({ tls: { cert, key: readFileSync(join(dir, "key.pem")) } });
      try {
        assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const { port } = new URL(h.url);
        const body = await new Promise<string>((resolve, reject) => {
          const req = httpsRequest(
            {
              host: "127.0.0.1",
              port: Number(port),
              path: "/v1/models",
              ca: cert,
              servername: "localhost",
              headers: { host: `localhost:${port}` },
            },
            (res) => {
              let text = "";
              res.on("data", (d: Buffer) => (text += d.toString()));
              res.on("end", () => resolve(text));
            },
          );
          req.on("error", reject);
          req.end();
        });
        assert.equal((JSON.parse(body) as { data: { id: string }[] }).data[0]!.id, "toy");
        // Plain HTTP on the TLS port gets no answer.
        await assert.rejects(fetch(h.url.replace("https:", "http:") + "/health"));
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
