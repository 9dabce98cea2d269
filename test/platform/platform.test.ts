/**
 * `#platform`: both implementations satisfy the shared interface (checked by the compiler
 * here), the Node one resolves under the `node` condition, and its workers start from a
 * message, answer, and report a failing script as an Error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as resolved from "#platform";
import type * as Interface from "../../src/platform/types.js";
import * as browser from "../../src/platform/browser.js";
import * as node from "../../src/platform/node.js";

type PlatformModule = Omit<typeof Interface, never>;
// Compile-time checks: each implementation exports every function of the interface.
const implementations: PlatformModule[] = [node, browser, resolved];

test("#platform resolves to the Node implementation under Node", () => {
  assert.equal(implementations.length, 3);
  assert.equal(resolved.spawnWorker, node.spawnWorker);
  assert.ok(resolved.hardwareConcurrency() >= 1);
  assert.equal(resolved.canBlock(), true);
  assert.equal(resolved.sharedMemoryAvailable(), true);
  assert.equal(resolved.environmentVariable("PATH"), process.env.PATH);
});

test("the browser implementation outside a browser: no shared memory without isolation, no worker API", () => {
  assert.equal(browser.sharedMemoryAvailable(), false); // Node has no crossOriginIsolated
  assert.equal(browser.environmentVariable("PATH"), undefined);
  assert.ok(browser.hardwareConcurrency() >= 1);
  assert.throws(() => browser.parentPort(), /not a worker/);
});

test("a spawned worker gets its first message, answers through parentPort, and a throwing one reports an Error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-platform-"));
  const platformUrl = new URL("../../src/platform/node.js", import.meta.url).href;
  const echo = join(dir, "echo.mjs");
  writeFileSync(
    echo,
    `import { parentPort } from ${JSON.stringify(platformUrl)};\nconst port = parentPort();\nport.onMessage((m) => port.postMessage({ got: m }));\n`,
  );
  const worker = node.spawnWorker(pathToFileURL(echo), { name: "echo" });
  const reply = await new Promise<unknown>((ok) => {
    worker.onMessage(ok);
    worker.postMessage(41);
  });
  assert.deepEqual(reply, { got: 41 });
  worker.terminate();

  const bad = join(dir, "bad.mjs");
  writeFileSync(bad, `throw new TypeError("broken worker");\n`);
  const failing = node.spawnWorker(pathToFileURL(bad), { name: "bad" });
  const error = await new Promise<Error>((ok) => failing.onError(ok));
  assert.ok(error instanceof Error);
  assert.match(error.message, /broken worker/);
  failing.terminate();
});
