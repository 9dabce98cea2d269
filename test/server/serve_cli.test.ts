/** `qwen2 serve` as a process: binds 127.0.0.1, prints its URL, answers, stops on SIGTERM. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { it } from "node:test";
import OpenAI from "openai";
import { repoRoot } from "../support/paths.js";
import { startServe } from "../support/serve_process.js";
import { SCRIPTS } from "./harness.js";

it("qwen2 serve --port 0 --api-key: serves the OpenAI API until SIGTERM", { timeout: 60_000 }, async () => {
  const serve = await startServe(["--model", "some/dir/toy-model", "--api-key", "k1", "--parallel", "2", "--shared-choice-slots", "2"], {
    loader: "dist/test/server/toy_loader.js",
    env: { QWEN2_TOY_DELAY_MS: "0" },
  });
  try {
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: "k1", maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ["toy-model"],
    );
    const r = await client.chat.completions.create({
      model: "toy-model",
      messages: [{ role: "user", content: "say hello" }],
      temperature: 0,
    });
    assert.equal(r.choices[0]!.message.content, SCRIPTS.hello);
    const stderr = serve.stderr();
    assert.match(stderr, /on http:\/\/127\.0\.0\.1:\d+ \(parallel 2/);
    assert.match(stderr, /some\/dir\/toy-model holds RANDOM weights/, "serve says the weights are random, as generate does");
    assert.doesNotMatch(stderr, /\r/, "stderr is a pipe: progress comes as plain lines");
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

for (const flag of ["--parallel", "--shared-choice-slots", "--ahead-step-interval", "--kv-caches"]) {
  it(`qwen2 serve refuses a bad ${flag} with a usage error`, async () => {
    const child = spawn(process.execPath, [resolve(repoRoot, "bin/qwen2.js"), "serve", "--model", "x", flag, "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`${flag} must be an integer >= 1`));
  });
}

it("qwen2 serve --api-key-file accepts each key of the file; SIGTERM drains and exits 0", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-keys-"));
  const keyFile = join(dir, "keys.txt");
  writeFileSync(keyFile, "# operators\nkey-one\n\nkey-two\n");
  const serve = await startServe(
    ["--model", "some/dir/toy-model", "--api-key-file", keyFile, "--cors-origin", "http://app.example", "--request-timeout", "30"],
    { loader: "dist/test/server/toy_loader.js", env: { QWEN2_TOY_DELAY_MS: "0" } },
  );
  try {
    for (const key of ["key-one", "key-two"])
      assert.equal(
        (await fetch(`${serve.url}/v1/models`, { headers: { authorization: `Bearer ${key}`, origin: "http://app.example" } })).status,
        200,
      );
    const r = await fetch(`${serve.url}/v1/models`, { headers: { authorization: "Bearer nope" } });
    assert.equal(r.status, 401);
  } finally {
    assert.equal(await serve.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(serve.stderr(), /SIGTERM: no new connections; finishing running requests \(up to 30 s\)/);
  assert.match(serve.stderr(), /qwen2 serve: stopped\n/);
});

it("qwen2 serve refuses bad operations flags before loading anything", async () => {
  for (const [args, message] of [
    [["--read-timeout=-1"], /--read-timeout must be a number >= 0/],
    [["--max-connections", "0"], /--max-connections must be an integer >= 1/],
    [["--tls-cert", "c.pem"], /--tls-cert and --tls-key go together/],
    [["--api-key-file", "/nonexistent/keys"], /--api-key-file: cannot read \/nonexistent\/keys/],
    [["--max-schema-states", "0"], /--max-schema-states must be an integer >= 1/],
    [["--max-schema-compile-time", "0"], /--max-schema-compile-time must be a number >= 0.001/],
  ] as const) {
    const child = spawn(process.execPath, [resolve(repoRoot, "bin/qwen2.js"), "serve", "--model", "x", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
  }
});

it("qwen2 serve --max-schema-properties: a schema over it is a 400 naming the flag; SIGTERM lets a running stream finish, exit 0", {
  timeout: 60_000,
}, async () => {
  const serve = await startServe(["--model", "some/dir/toy-model", "--max-schema-properties", "1", "--max-schema-compile-time", "2"], {
    loader: "dist/test/server/toy_loader.js",
    env: { QWEN2_TOY_DELAY_MS: "5" },
  });
  let code: number | null = null;
  try {
    const schema = { type: "object", properties: { a: { type: "string" }, b: { type: "string" } } };
    const r = await fetch(`${serve.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        messages: [{ role: "user", content: "schema please" }],
        response_format: { type: "json_schema", json_schema: { name: "two", schema } },
      }),
    });
    assert.equal(r.status, 400);
    const e = ((await r.json()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, "schema_limit_exceeded");
    assert.match(e.message, /more than 1 properties \(limit maxProperties, set by --max-schema-properties\)$/);
    // A stream of ~100 tokens at 5 ms each is running when SIGTERM arrives; it runs to its end.
    const res = await fetch(`${serve.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "count slowly" }], stream: true, max_tokens: 100, temperature: 0 }),
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done);
    let text = new TextDecoder().decode(first.value);
    const stopped = serve.stop();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    code = await stopped;
    assert.match(text, /"finish_reason":"length"/, "the running stream finished after SIGTERM");
    assert.match(text, /data: \[DONE\]\n\n$/);
  } finally {
    if (code === null) code = await serve.stop();
  }
  assert.equal(code, 0);
  assert.match(serve.stderr(), /SIGTERM: no new connections; finishing running requests/);
  assert.match(serve.stderr(), /qwen2 serve: stopped\n/);
});

it("qwen2 serve --help lists the schema budget flags", async () => {
  const child = spawn(process.execPath, [resolve(repoRoot, "bin/qwen2.js"), "serve", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.on("exit", r));
  for (const flag of [
    "--max-schema-bytes",
    "--max-schema-enum",
    "--max-schema-properties",
    "--max-schema-states",
    "--max-schema-compile-time",
    "--schema-cache-bytes",
    "--mask-cache-bytes",
  ])
    assert.match(out, new RegExp(`^\\s+${flag} `, "m"), flag);
});
