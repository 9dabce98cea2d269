/**
 * Every model fixture (QWEN2_FIXTURES, default ../shared/fixtures/qwen2) on the WebGPU
 * backend in Chromium on SwiftShader: last-position logits within 1e-4 of Hugging Face's
 * float64 ones, full logits where given, and every greedy token. Then Q8_0/Q4_0 models on
 * WebGPU against the reference backend on the float32 values their blocks decode to.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaseInput, type Expected, loadManifest, maxAbsDiff, readFixtureJson } from "../support/fixtures.js";
import { fixturesDir } from "../support/paths.js";
import type { FixtureJob } from "./pages/fixture_worker.js";
import { browserSkip, openPage, pageSuite, runInPage, type TestPage } from "./support/index.js";

const TOL = 1e-4;
const manifest = loadManifest();
type ModelPage = typeof import("./pages/webgpu_model_page.js");

describe("webgpu backend: whole models in Chromium (SwiftShader)", { skip: browserSkip, timeout: 600_000 }, () => {
  const s = pageSuite(
    { webgpu_model_page: "test/browser/pages/webgpu_model_page.js" },
    { webgpu: true, mounts: { "/fixtures/": fixturesDir } },
  );
  let page: TestPage;
  const moduleUrl = () => `${s.server.origin}/bundle/${s.pages.files.webgpu_model_page}`;
  before(async () => {
    page = await openPage(s.browser, `${s.server.origin}/`);
  });
  after(() => page?.close());

  for (const fx of manifest) {
    test(`webgpu: fixture ${fx.name}`, async () => {
      const cases = readFixtureJson<CaseInput[]>(fx.cases);
      const expected = readFixtureJson<Expected>(fx.expected);
      const job: FixtureJob = {
        folderUrl: `${s.server.origin}/fixtures/${fx.model}/`,
        files: readdirSync(join(fixturesDir, fx.model)),
        cases,
        fullLogits: expected.cases.filter((e) => e.rows.some((r) => r.full_logits)).map((e) => e.name),
        threads: 1,
      };
      const result = await runInPage(page.page, moduleUrl(), (m: ModelPage, j) => m.runFixture(j), job, 300_000);
      assert.equal(result.backend, "webgpu");
      assert.deepEqual(page.errors(), []);
      for (const c of cases) {
        const got = result.cases.find((r) => r.name === c.name)!;
        const exp = expected.cases.find((e) => e.name === c.name)!;
        for (const row of exp.rows) {
          const d = maxAbsDiff(got.last[row.row]!, row.last_logits.f64);
          assert.ok(d <= TOL, `${c.name} row ${row.row}: last logits differ from f64 by ${d}`);
          row.full_logits?.f64.forEach((want, p) => {
            const dp = maxAbsDiff(got.full![row.row]![p]!, want);
            assert.ok(dp <= TOL, `${c.name} row ${row.row} position ${p}: logits differ by ${dp}`);
          });
          if (c.max_new_tokens > 0) assert.deepEqual(got.tokens[row.row], row.greedy!.f64, `${c.name} row ${row.row}: greedy tokens`);
        }
      }
    });
  }

  test("webgpu: fromPretrained with backend auto takes WebGPU in Chromium and matches fixture a_tiny_f32", {
    skip: manifest.length === 0 && "no fixtures",
  }, async () => {
    const fx = manifest.find((f) => f.name === "a_tiny_f32") ?? manifest[0]!;
    const c = readFixtureJson<CaseInput[]>(fx.cases).find((k) => !Array.isArray(k.input_ids?.[0]) && k.input_ids !== undefined)!;
    const exp = readFixtureJson<Expected>(fx.expected).cases.find((e) => e.name === c.name)!;
    const r = await runInPage(
      page.page,
      moduleUrl(),
      (m: ModelPage, a) => m.loadAuto(a.url, a.ids),
      { url: `${s.server.origin}/fixtures/${fx.model}/`, ids: c.input_ids as number[] },
      120_000,
    );
    assert.equal(r.backend, "webgpu");
    assert.equal(r.engine, "webgpu");
    assert.match(r.reason ?? "", /WebGPU adapter/);
    assert.ok(page.console.some((m) => m.type === "info" && m.text.includes('backend "auto" chose webgpu')));
    const d = maxAbsDiff(r.logits, exp.rows[0]!.last_logits.f64);
    assert.ok(d <= TOL, `fixture ${fx.name} case ${c.name}: logits differ from f64 by ${d}`);
  });

  test("webgpu: Q8_0 and Q4_0 models match the reference on the values their blocks decode to", async () => {
    const results = await runInPage(page.page, moduleUrl(), (m: ModelPage) => m.runQuantized(), null, 300_000);
    assert.equal(results.length, 2);
    for (const r of results) {
      // Dequantised in the shader with float32 activations: only summation order differs from the reference.
      assert.ok(r.diff <= TOL, `${r.dtype}: logits differ by ${r.diff}`);
      assert.deepEqual(r.gpuTokens, r.refTokens, `${r.dtype}: greedy tokens`);
    }
  });
});
