/**
 * Page code for test/browser/wasm_fixtures.test.ts: runs one fixture in a module Web Worker
 * (fixture_worker.ts), where the wasm backend may start its compute threads, and returns
 * what the worker computed.
 */
import { spawnWorker } from "#platform";
import type { FixtureJob, FixtureResult } from "./fixture_worker.js";

export type { FixtureJob, FixtureResult } from "./fixture_worker.js";

export function runFixture(job: FixtureJob): Promise<FixtureResult> {
  const worker = spawnWorker(new URL("./fixture_worker.js", import.meta.url), { name: "fixture worker" });
  return new Promise<FixtureResult>((resolve, reject) => {
    worker.onMessage((data) => {
      worker.terminate();
      const r = data as FixtureResult | { error: string };
      if ("error" in r) reject(new Error(r.error));
      else resolve(r);
    });
    worker.onError((err) => {
      worker.terminate();
      reject(err);
    });
    worker.postMessage(job);
  });
}
