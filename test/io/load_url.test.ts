/**
 * Loading over HTTP, from Blobs/Files and from Cache Storage, against a 127.0.0.1 server
 * that can switch range support off, force statuses and cut bodies short. A model loaded
 * any of these ways must give the same logits as the same files loaded from disk.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../src/errors.js";
import { writeQwen2GGUF } from "../../src/node/gguf_writer.js";
import { deleteCachedModel, listCachedModels } from "../../src/io/cache.js";
import type { LoadProgress } from "../../src/io/progress.js";
import { urlFiles } from "../../src/io/url_files.js";
import { fromPretrained, type LoadOptions } from "../../src/runtime/load.js";
import { openFolder } from "../support/files.js";
import { fixturesDir } from "../support/paths.js";
import { needsShared } from "../support/shared.js";
import { MemoryCacheStorage, TestFileServer } from "./http_server.js";

const skip = needsShared("fixtures");
const modelsDir = join(fixturesDir, "models");
const ggufDir = mkdtempSync(join(tmpdir(), "qwen2-url-"));
const server = new TestFileServer(modelsDir);
const ggufServer = new TestFileServer(ggufDir);
/** Small probes and windows, so the tiny fixtures need several range requests. */
const SMALL = { probeBytes: 4096, windowBytes: 16384 };
const IDS = Int32Array.from([1, 5, 9, 200, 17, 3]);

before(async () => {
  if (skip) return;
  await server.start();
  await ggufServer.start();
  const folder = await openFolder(join(modelsDir, "a_tiny_f32"));
  await writeQwen2GGUF(join(ggufDir, "tiny.gguf"), { config: folder.config, weights: folder.weights, tokenizer: null, type: "f32" });
  folder.weights.close();
});
after(async () => {
  await server.close();
  await ggufServer.close();
  rmSync(ggufDir, { recursive: true, force: true });
});
beforeEach(() => {
  server.reset();
  ggufServer.reset();
});

async function logits(source: Parameters<typeof fromPretrained>[0], options: LoadOptions = {}): Promise<Float32Array> {
  const m = await fromPretrained(source, { backend: "reference", ...options });
  try {
    const cache = m.model.createCache(IDS.length);
    const [out] = await m.model.forward([{ ids: IDS, cache }]);
    cache.dispose();
    return out!;
  } finally {
    m.close();
  }
}

const fromDisk = new Map<string, Float32Array>();
async function diskLogits(name: string): Promise<Float32Array> {
  let l = fromDisk.get(name);
  if (l === undefined) {
    l = await logits(join(modelsDir, name));
    fromDisk.set(name, l);
  }
  return l;
}

/** Download events per file: loaded never goes down, never passes total, and total is the file's size. */
function checkDownloads(events: readonly LoadProgress[], sizes: ReadonlyMap<string, number>): void {
  const last = new Map<string, number>();
  for (const e of events) {
    if (e.phase !== "download") continue;
    assert.ok(e.file !== undefined && e.loaded !== undefined && e.total !== undefined, "download events name the file and count bytes");
    const size = sizes.get(e.file);
    assert.equal(e.total, size, `${e.file}: total is the file's size`);
    assert.ok(e.loaded >= (last.get(e.file) ?? 0), `${e.file}: loaded never goes down`);
    assert.ok(e.loaded <= e.total, `${e.file}: loaded ${e.loaded} within ${e.total}`);
    last.set(e.file, e.loaded);
  }
  for (const [file, size] of sizes) if (file.endsWith(".safetensors")) assert.equal(last.get(file), size, `${file}: every byte arrived`);
}

function sizesOf(name: string, base: string): Map<string, number> {
  const dir = join(modelsDir, name);
  return new Map(readdirSync(dir).map((f) => [`${base}${f}`, statSync(join(dir, f)).size]));
}

for (const name of ["a_tiny_f32", "f_sharded"]) {
  test(`${name} by URL with range requests gives the logits of the same folder on disk, reading by ranges`, { skip }, async () => {
    const events: LoadProgress[] = [];
    const url = `${server.url}/${name}/`;
    const got = await logits(urlFiles(url, { ...SMALL, onProgress: (e) => events.push(e) }));
    assert.deepEqual(got, await diskLogits(name));
    const weights = server.log.filter((r) => r.path.endsWith(".safetensors"));
    assert.ok(weights.length > 2, "several range requests per weight file");
    assert.ok(
      weights.every((r) => r.status === 206 && r.range !== null),
      "every weight request is a range request",
    );
    checkDownloads(events, sizesOf(name, url));
  });
}

test("a_tiny_f32 by URL string through fromPretrained's own options gives the same logits", { skip }, async () => {
  const events: LoadProgress[] = [];
  assert.deepEqual(await logits(`${server.url}/a_tiny_f32`, { onProgress: (e) => events.push(e) }), await diskLogits("a_tiny_f32"));
  const phases = [...new Set(events.map((e) => e.phase))];
  assert.deepEqual(phases, ["config", "download", "weights", "tokenizer", "ready"]);
  const weights = events.filter((e) => e.phase === "weights");
  assert.equal(weights.at(-1)!.loaded, weights.at(-1)!.total, "weights reach their total");
});

test("a server without range support: one whole download, a warning naming the URL, same logits", { skip }, async () => {
  server.ranges = false;
  const events: LoadProgress[] = [];
  const url = `${server.url}/f_sharded/`;
  assert.deepEqual(await logits(urlFiles(url, { ...SMALL, onProgress: (e) => events.push(e) })), await diskLogits("f_sharded"));
  const warnings = events.filter((e) => e.phase === "warning");
  assert.equal(warnings.length, 2, "one warning per weight file");
  assert.match(warnings[0]!.message!, /ignores HTTP range requests/);
  assert.ok(warnings[0]!.message!.includes(url), "the warning names the URL");
  for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
    const path = `/f_sharded/${shard}`;
    assert.equal(server.log.filter((r) => r.path === path).length, 1, `${shard}: one request`);
    assert.equal(server.bytesSent(path), statSync(join(modelsDir, "f_sharded", shard)).size);
  }
  checkDownloads(events, sizesOf("f_sharded", url));
});

test("a .gguf by URL, with and without ranges, gives the logits of the folder it was written from", { skip }, async () => {
  const want = await diskLogits("a_tiny_f32");
  const url = `${ggufServer.url}/tiny.gguf`;
  assert.deepEqual(await logits(url), want);
  ggufServer.ranges = false;
  assert.deepEqual(await logits(url), want);
});

test("HTTP 404 and 403 name the URL and the status", { skip }, async () => {
  await assert.rejects(
    logits(`${server.url}/no_such_model/`),
    (e: unknown) => e instanceof FormatError && e.file === `${server.url}/no_such_model/config.json` && /not found/.test(e.detail),
  );
  await assert.rejects(
    logits(`${ggufServer.url}/missing.gguf`),
    (e: unknown) => e instanceof FormatError && e.file === `${ggufServer.url}/missing.gguf` && /HTTP 404/.test(e.detail),
  );
  server.statuses.set("/a_tiny_f32/model.safetensors", 403);
  await assert.rejects(
    logits(`${server.url}/a_tiny_f32/`),
    (e: unknown) =>
      e instanceof FormatError && e.file === `${server.url}/a_tiny_f32/model.safetensors` && /HTTP 403.*refuses access/.test(e.detail),
  );
  server.statuses.set("/a_tiny_f32/config.json", 403);
  await assert.rejects(
    logits(`${server.url}/a_tiny_f32/`),
    (e: unknown) => e instanceof FormatError && e.file.endsWith("/a_tiny_f32/config.json") && /HTTP 403/.test(e.detail),
  );
});

test("a body cut short is a truncated download naming the URL, with and without ranges", { skip }, async () => {
  const path = "/a_tiny_f32/model.safetensors";
  server.cutAfter.set(path, 1000);
  const url = `${server.url}/a_tiny_f32/`;
  await assert.rejects(
    logits(urlFiles(url, SMALL)),
    (e: unknown) => e instanceof FormatError && e.file === `${url}model.safetensors` && /truncated/.test(e.detail),
  );
  server.ranges = false;
  await assert.rejects(
    logits(urlFiles(url, SMALL)),
    (e: unknown) =>
      e instanceof FormatError && e.file === `${url}model.safetensors` && /truncated download.* 1000 of \d+ bytes/.test(e.detail),
  );
});

test("a fetch that fails as browsers do on a CORS refusal says which headers the server must send", { skip }, async () => {
  const refuse = async (): Promise<Response> => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(
    logits(`${server.url}/a_tiny_f32/`, { fetch: refuse }),
    (e: unknown) =>
      e instanceof FormatError &&
      e.file.startsWith(`${server.url}/a_tiny_f32/`) &&
      /Failed to fetch/.test(e.detail) &&
      /Access-Control-Allow-Origin/.test(e.detail),
  );
  // A range answer whose Content-Range the page may not read (not exposed by CORS).
  const hidden = async (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<Response> => {
    const res = await fetch(url, init);
    const headers = new Headers(res.headers);
    headers.delete("content-range");
    return new Response(res.body, { status: res.status, headers });
  };
  await assert.rejects(
    logits(urlFiles(`${server.url}/a_tiny_f32/`, { ...SMALL, fetch: hidden })),
    (e: unknown) => e instanceof FormatError && /Access-Control-Expose-Headers: Content-Range/.test(e.detail),
  );
});

test("abort: the signal stops a load in the middle of the weights, with its reason", { skip }, async () => {
  const controller = new AbortController();
  const reason = new Error("stopped by the test");
  let seen = 0;
  const files = urlFiles(`${server.url}/a_tiny_f32/`, {
    ...SMALL,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.phase === "download" && ++seen === 3) controller.abort(reason);
    },
  });
  await assert.rejects(logits(files, { signal: controller.signal }), (e: unknown) => e === reason);
  const before = server.log.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.log.length, before, "no request after the abort");
  const aborted = AbortSignal.abort(reason);
  await assert.rejects(logits(`${server.url}/a_tiny_f32/`, { signal: aborted }), (e: unknown) => e === reason);
});

test("a model too big for the memory is refused with its size and the limit, before its weights are downloaded", { skip }, async () => {
  const url = `${server.url}/a_tiny_f32/`;
  const file = `${url}model.safetensors`;
  const size = statSync(join(modelsDir, "a_tiny_f32/model.safetensors")).size;
  const tooBig = (limit: number, what: string, bytes: number) => (e: unknown) =>
    e instanceof UnsupportedError &&
    e.message.startsWith(url) &&
    e.message.includes(`the ${what} take 0.00 GiB (${bytes} bytes) but WebAssembly memory here holds at most 0.00 GiB (${limit} bytes)`);
  // By the file's size, known from the first range answer: nothing but that answer is read.
  await assert.rejects(
    fromPretrained(urlFiles(url, SMALL), { backend: "wasm", maxWeightBytes: 100_000 }),
    tooBig(100_000, "weight files", size),
  );
  assert.equal(server.bytesSent("/a_tiny_f32/model.safetensors"), SMALL.probeBytes);
  // Within the files' slack but over the limit by the header's tensor list.
  const folder = await openFolder(join(modelsDir, "a_tiny_f32"));
  const weights =
    folder.report.missing.length === 0 ? folder.weights.names().reduce((n, t) => n + folder.weights.info(t).byteLength, 0) : 0;
  folder.weights.close();
  server.log.length = 0;
  await assert.rejects(
    fromPretrained(urlFiles(url, SMALL), { backend: "wasm", maxWeightBytes: weights - 1 }),
    tooBig(weights - 1, "weights", weights),
  );
  assert.ok(server.bytesSent("/a_tiny_f32/model.safetensors") < size / 10, "only the header was read");
  // A server without ranges: refused by Content-Length before the body is read.
  server.ranges = false;
  const events: LoadProgress[] = [];
  await assert.rejects(
    fromPretrained(urlFiles(url, { ...SMALL, onProgress: (e) => events.push(e) }), { backend: "wasm", maxWeightBytes: 100_000 }),
    tooBig(100_000, "weight files", size),
  );
  assert.deepEqual(
    events.filter((e) => e.phase === "download" && e.file === file),
    [],
  );
});

test("Blob and File sources: a dropped folder (by name or webkitRelativePath) and a .gguf give the same logits", { skip }, async () => {
  const dir = join(modelsDir, "f_sharded");
  const files = readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
  assert.deepEqual(await logits(files), await diskLogits("f_sharded"));
  const picked = readdirSync(dir).map((f) =>
    Object.defineProperty(new File([readFileSync(join(dir, f))], f), "webkitRelativePath", { value: `f_sharded/${f}` }),
  );
  assert.deepEqual(await logits(picked), await diskLogits("f_sharded"));
  const gguf = new File([readFileSync(join(ggufDir, "tiny.gguf"))], "tiny.gguf");
  assert.deepEqual(await logits(gguf), await diskLogits("a_tiny_f32"));
  assert.deepEqual(await logits([gguf]), await diskLogits("a_tiny_f32"));
  await assert.rejects(
    logits(new Blob([new Uint8Array(64)])),
    (e: unknown) => e instanceof FormatError && /not a GGUF file/.test(e.detail),
  );
  await assert.rejects(
    logits([new File(["{}"], "notes.txt")]),
    (e: unknown) => e instanceof FormatError && /no config\.json among notes\.txt/.test(e.detail),
  );
});

test("cache: the first load downloads each file once, a reload reads nothing from the server; list and delete", { skip }, async () => {
  const caches = new MemoryCacheStorage();
  const url = `${server.url}/f_sharded/`;
  const events: LoadProgress[] = [];
  const first = await logits(url, { cache: { caches }, onProgress: (e) => events.push(e) });
  assert.deepEqual(first, await diskLogits("f_sharded"));
  checkDownloads(events, sizesOf("f_sharded", url));
  for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
    const path = `/f_sharded/${shard}`;
    assert.equal(
      server.bytesSent(path) - server.log.filter((r) => r.path === path && r.range !== null).reduce((n, r) => n + r.bytes, 0),
      statSync(join(modelsDir, "f_sharded", shard)).size,
      `${shard}: one whole download`,
    );
  }
  server.log.length = 0;
  assert.deepEqual(await logits(url, { cache: { caches } }), first);
  assert.deepEqual(
    server.log.filter((r) => r.status !== 404),
    [],
    "nothing but 404s for files the folder lacks",
  );
  const listed = await listCachedModels({ caches });
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.model, url);
  assert.ok(listed[0]!.files.some((f) => f.url === `${url}model-00002-of-00002.safetensors`));
  assert.equal(
    listed[0]!.bytes,
    [...sizesOf("f_sharded", url).values()].reduce((a, b) => a + b, 0),
  );
  assert.equal(await deleteCachedModel(url, { caches }), listed[0]!.files.length);
  assert.deepEqual(await listCachedModels({ caches }), []);
  await assert.rejects(fromPretrained(url, { cache: true }), /Cache Storage is not available here/);
});
