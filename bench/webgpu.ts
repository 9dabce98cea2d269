/**
 * `npm run bench:webgpu`: the WebGPU backend in headless Chromium on a random model of a real
 * Qwen2 shape (0.5B by default), in F16, Q8_0 and Q4_0: prefill and decode tok/s, and two
 * figures that hold on any GPU because they follow from the dispatch plan, not the hardware:
 * dispatches per decoded token, and weight bytes read per decoded token ÷ weight bytes (1.0:
 * each weight read once per token).
 *
 * Chromium runs WebGPU on SwiftShader here (a CPU implementation, no GPU in this machine):
 * its speeds are for regression only. On a machine with a GPU pass --adapter gpu to drop the
 * SwiftShader switch and record the run with the GPU's name.
 *
 * Options: --preset qwen2-0.5b, --dtypes f16,q8_0,q4_0, --prompt-tokens 9 (the smallest prompt
 * on the tiled prefill kernel), --gen-tokens 2, --layers N (keep N decoder layers; default all),
 * --adapter swiftshader|gpu, --no-write. Results: bench/results/webgpu.json and webgpu.md.
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { RandomPreset } from "../src/formats/random_model.js";
import { bundle } from "../test/browser/support/bundle.js";
import { browserSkipReason, launchChromium } from "../test/browser/support/chromium.js";
import { openPage, runInPage } from "../test/browser/support/page.js";
import { startTestServer } from "../test/browser/support/server.js";
import type { WebGPUBenchJob, WebGPUBenchResult } from "./webgpu_page.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "qwen2-0.5b" },
    dtypes: { type: "string", default: "f16,q8_0,q4_0" },
    "prompt-tokens": { type: "string", default: "9" },
    "gen-tokens": { type: "string", default: "2" },
    layers: { type: "string" },
    adapter: { type: "string", default: "swiftshader" },
    "no-write": { type: "boolean", default: false },
  },
});
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const skip = browserSkipReason();
if (skip) {
  log(skip);
  process.exit(0);
}

const pages = await bundle({ webgpu_page: join(repo, "dist/bench/webgpu_page.js") });
const server = await startTestServer({ mounts: { "/bundle/": pages.dir } });
const swiftshader = values.adapter !== "gpu";
const browser = await launchChromium(swiftshader ? { webgpu: true } : { args: ["--enable-unsafe-webgpu"] });
const results: Record<string, WebGPUBenchResult | { error: string }> = {};
const started = new Date().toISOString();
try {
  for (const dtype of values.dtypes!.split(",") as WebGPUBenchJob["dtype"][]) {
    const job: WebGPUBenchJob = {
      preset: values.preset as RandomPreset,
      dtype,
      promptTokens: Number(values["prompt-tokens"]),
      genTokens: Number(values["gen-tokens"]),
      layers: values.layers === undefined ? null : Number(values.layers),
    };
    log(`${dtype}: loading and running ${job.preset}…`);
    const page = await openPage(browser, `${server.origin}/`);
    try {
      results[dtype] = await runInPage(
        page.page,
        `${server.origin}/bundle/${pages.files.webgpu_page}`,
        (m: typeof import("./webgpu_page.js"), j) => m.runWebGPUBench(j),
        job,
        3_600_000,
      );
    } catch (err) {
      results[dtype] = { error: err instanceof Error ? err.message : String(err) };
    } finally {
      await page.close();
    }
    log(`  ${JSON.stringify(results[dtype])}`);
  }
} finally {
  await browser.close();
  await server.close();
  pages.dispose();
}

const machine = {
  date: started,
  platform: `${platform()} ${release()}`,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  load_average_1m: loadavg()[0] ?? 0,
  node: process.version,
  chromium: browser.version(),
  adapter: swiftshader ? "SwiftShader (software WebGPU on the CPU)" : "the machine's GPU",
};
const args = {
  preset: values.preset,
  prompt_tokens: Number(values["prompt-tokens"]),
  gen_tokens: Number(values["gen-tokens"]),
  layers: values.layers ?? "all",
};
const row = (dtype: string, r: WebGPUBenchResult | { error: string }): string =>
  "error" in r
    ? `| ${dtype} | error: ${r.error} | | | | | |`
    : `| ${dtype} | ${(r.modelBytes / 2 ** 20).toFixed(0)} MiB | ${r.prefillTps.toFixed(2)} | ${r.decodeTps.toFixed(3)} | ${r.dispatchesPerToken} | ${r.submitsPerToken} | ${r.weightReadRatio.toFixed(4)} |`;
const md = [
  "# WebGPU backend benchmark",
  "",
  `Random weights of the ${values.preset} shape (${args.layers === "all" ? "all layers" : `${args.layers} layers`}), generated in the page and uploaded tensor by tensor; prompt ${args.prompt_tokens} tokens, then ${args.gen_tokens} greedy decode steps. \`npm run bench:webgpu\` (bench/webgpu.ts).`,
  "",
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}; Node ${machine.node}; Chromium ${machine.chromium}; adapter: ${machine.adapter}; ${machine.date}; 1-minute load average ${machine.load_average_1m.toFixed(1)}.`,
  "",
  swiftshader
    ? "**Speeds are SwiftShader's: WebGPU emulated on the CPU, for regression only, not a GPU figure.** The other two columns follow from the dispatch plan and hold on any GPU."
    : "Speeds measured on the GPU named above.",
  "",
  "| weights | model bytes | prefill tok/s | decode tok/s | dispatches / decoded token | submits / decoded token | weight bytes read / token ÷ model bytes |",
  "|---|---|---|---|---|---|---|",
  ...Object.entries(results).map(([d, r]) => row(d, r)),
  "",
].join("\n");
process.stdout.write(`${md}\n`);
if (!values["no-write"]) {
  writeFileSync(join(repo, "bench/results/webgpu.json"), `${JSON.stringify({ machine, args, results }, null, 2)}\n`);
  writeFileSync(join(repo, "bench/results/webgpu.md"), md);
}
