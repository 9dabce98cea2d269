/**
 * Launching the machine's Chromium (Debian's `chromium` package) through playwright-core,
 * which ships no browser of its own. Every browser test asks `browserSkipReason` first, so a
 * machine without Chromium skips them with one line instead of failing.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { skipReasonUnlessRequired } from "../../../bench/peers.js";

/** Where Chromium lives; QWEN2_CHROMIUM overrides it. */
export const chromiumPath = process.env.QWEN2_CHROMIUM ?? "/usr/bin/chromium";

/** Why browser tests cannot run here, or undefined when they can. */
export function browserSkipReason(): string | undefined {
  if (!existsSync(chromiumPath))
    return skipReasonUnlessRequired(
      `Chromium not found at ${chromiumPath} (apt-get install -y chromium, or set QWEN2_CHROMIUM): browser tests skipped`,
    );
  return undefined;
}

/** Set once per process so `describe(..., { skip: browserSkip })` reads as one line. */
export const browserSkip: string | false = browserSkipReason() ?? false;

export interface LaunchOptions {
  /** Turns on WebGPU on SwiftShader (software), for WebGPU tests on machines without a GPU. */
  webgpu?: boolean;
  /** More command-line switches. */
  args?: readonly string[];
}

/**
 * The switches keep a test run quiet and self-contained: no GPU process, no QUIC, no
 * first-run UI, no background traffic to Google (updates, sync, component downloads).
 * Playwright itself adds `--headless` and a fresh temporary `--user-data-dir` per launch.
 */
const QUIET_SWITCHES = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WEBGPU_SWITCHES = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const args = [...QUIET_SWITCHES, ...(options.webgpu ? WEBGPU_SWITCHES : []), ...(options.args ?? [])];
  if (options.webgpu) args.splice(args.indexOf("--disable-gpu"), 1);
  return chromium.launch({ executablePath: chromiumPath, headless: true, args, timeout: 60_000 });
}
