/**
 * Runs a compiled test file again in a child Node (another kernel build, a V8 flag), and
 * proves the child really ran tests. `node --test` inside a test inherits NODE_TEST_CONTEXT and
 * then skips every file ("run() is being called recursively") yet exits 0, so the child runs
 * the file directly, without that variable, and its TAP summary must report passes and no
 * failure.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

export interface ChildTestRun {
  readonly passed: number;
  readonly stdout: string;
}

export function runTestFileInChild(file: string, nodeFlags: readonly string[], env: Readonly<Record<string, string>>): ChildTestRun {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, [...nodeFlags, "--test-reporter=tap", file], { env: childEnv, encoding: "utf8" });
  const output = `${child.stdout}\n${child.stderr}`;
  assert.equal(child.status, 0, `the child run of ${file} failed:\n${output}`);
  const passed = Number(/^# pass (\d+)$/m.exec(child.stdout)?.[1] ?? "0");
  const failed = Number(/^# fail (\d+)$/m.exec(child.stdout)?.[1] ?? "NaN");
  assert.ok(passed > 0 && failed === 0, `the child run of ${file} ran no test or failed some (pass ${passed}, fail ${failed}):\n${output}`);
  return { passed, stdout: child.stdout };
}
