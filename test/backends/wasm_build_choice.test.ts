/**
 * Which kernel build and how many threads the wasm backend picks: QWEN2_RELAXED_SIMD must
 * select the baseline build even where relaxed SIMD is on by default (Node >= 22; here a Node 20
 * child with the V8 flag stands in for it), and thread counts fall back to one, with one
 * warning naming what is missing, where threads cannot share memory or block; then the kernels
 * run on an ordinary memory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { relaxedSimdAvailable, RELAXED_SIMD_ENV, RELAXED_SIMD_NODE_FLAG } from "../../src/backends/wasm/index.js";
import { chooseThreads, NOT_ISOLATED_WARNING } from "../../src/backends/wasm/threads.js";
import { Heap } from "../../src/backends/wasm/heap.js";
import { instantiateKernels, readKernelBytes, type KernelBuild } from "../../src/backends/wasm/kernels.js";
import { selfTest } from "../../src/backends/wasm/selftest.js";
import { wasm } from "../../src/backends/wasm/wasm_api.js";

/** Runs a script in a child Node with relaxed SIMD on, under `env`; returns the backend's name or the error. */
function buildInChild(env: Record<string, string | undefined>): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-build-choice-"));
  const script = join(dir, "probe.mjs");
  const backend = new URL("../../src/backends/wasm/index.js", import.meta.url).href;
  writeFileSync(
    script,
    `import { WasmBackend } from ${JSON.stringify(backend)};\n` +
      `try { const b = await WasmBackend.create({ threads: 1 }); console.log(b.name); b.dispose(); } catch (e) { console.log(e.message); process.exitCode = 3; }\n`,
  );
  const flags = relaxedSimdAvailable() ? [] : [RELAXED_SIMD_NODE_FLAG];
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  const child = spawnSync(process.execPath, [...flags, script], { env: childEnv, encoding: "utf8" });
  return { status: child.status, out: `${child.stdout.trim()}${child.stderr.trim()}` };
}

test(`${RELAXED_SIMD_ENV}=0 selects the baseline build on an engine with relaxed SIMD on`, () => {
  assert.deepEqual(buildInChild({ [RELAXED_SIMD_ENV]: "0" }), { status: 0, out: "wasm-simd" });
});

test(`without ${RELAXED_SIMD_ENV} the self-tested relaxed build is chosen; =1 requires it`, () => {
  assert.deepEqual(buildInChild({ [RELAXED_SIMD_ENV]: undefined }), { status: 0, out: "wasm-relaxed" });
  assert.deepEqual(buildInChild({ [RELAXED_SIMD_ENV]: "1" }), { status: 0, out: "wasm-relaxed" });
});

test(`a ${RELAXED_SIMD_ENV} value other than 0 or 1 is an error naming the variable`, () => {
  const r = buildInChild({ [RELAXED_SIMD_ENV]: "yes" });
  assert.equal(r.status, 3);
  assert.match(r.out, /QWEN2_RELAXED_SIMD must be 0 \(baseline SIMD build\) or 1 \(relaxed SIMD build\), got "yes"/);
});

test("threads: every core by default, one with a single warning where memory cannot be shared", () => {
  const node = { cores: 4, sharedMemory: true };
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  assert.equal(chooseThreads(undefined, node, warn), 4);
  assert.equal(chooseThreads(3, node, warn), 3);
  assert.deepEqual(warnings, []);

  const notIsolated = { cores: 8, sharedMemory: false };
  assert.equal(chooseThreads(undefined, notIsolated, warn), 1);
  assert.equal(chooseThreads(4, notIsolated, warn), 1);
  assert.equal(chooseThreads(1, notIsolated, warn), 1);
  assert.deepEqual(warnings, [NOT_ISOLATED_WARNING]);
  assert.match(warnings[0]!, /Cross-Origin-Opener-Policy: same-origin/);
  assert.match(warnings[0]!, /Cross-Origin-Embedder-Policy: require-corp/);

  // A page's main thread may not block, but it only awaits the compute workers: every core, no warning.
  const pageMainThread = { cores: 8, sharedMemory: true };
  assert.equal(chooseThreads(undefined, pageMainThread, warn), 8);
  assert.deepEqual(warnings, [NOT_ISOLATED_WARNING]);
});

test("threads: a bad count is refused with the value and the limit", () => {
  const facts = { cores: 4, sharedMemory: true };
  assert.throws(() => chooseThreads(0, facts), /threads must be a positive integer, got 0/);
  assert.throws(() => chooseThreads(2.5, facts), /threads must be a positive integer, got 2.5/);
  assert.throws(() => chooseThreads(5, facts), /threads 5 exceeds the 4 cores/);
  assert.equal(chooseThreads(undefined, { ...facts, cores: 200 }), 59);
});

test("without shared memory the kernels run on an ordinary memory (the import's shared flag rewritten)", () => {
  const builds: KernelBuild[] = relaxedSimdAvailable() ? ["simd", "relaxed"] : ["simd"];
  for (const build of builds) {
    const memory = new wasm.Memory({ initial: 256, maximum: 1024 });
    assert.throws(() => instantiateKernels(new wasm.Module(readKernelBytes(build)), memory), "the shared build refuses an ordinary memory");
    const kernels = instantiateKernels(new wasm.Module(readKernelBytes(build, false)), memory);
    const heap = new Heap(memory, 1024 * 65536);
    assert.equal(selfTest(kernels, heap), null, `${build} self-test on an ordinary memory`);
    // Growing replaces an ordinary memory's buffer: the heap's views follow it.
    const big = heap.alloc(32 << 20, "growth");
    heap.f32[big / 4] = 3;
    assert.equal(heap.f32[big / 4], 3);
    assert.equal(selfTest(kernels, heap), null, `${build} self-test after growth`);
  }
});
