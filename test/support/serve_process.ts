/**
 * `qwen2 serve` as a child process for tests: started on 127.0.0.1 with a free port, ready
 * once it prints its URL, stopped with SIGTERM. With `loader`, the command runs through
 * cli_with_loader.js with that compiled loader module; without, through bin/qwen2.js.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { repoRoot } from "./paths.js";

export interface ServeProcess {
  readonly url: string;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and resolves to the exit code. */
  stop(): Promise<number | null>;
}

export async function startServe(
  args: readonly string[],
  options: { loader?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ServeProcess> {
  const entry = options.loader
    ? [resolve(repoRoot, "dist/test/support/cli_with_loader.js"), resolve(repoRoot, options.loader)]
    : [resolve(repoRoot, "bin/qwen2.js")];
  const child = spawn(process.execPath, [...entry, "serve", "--port", "0", ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise<string>((res, rej) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
      if (m) res(m[1]!);
    });
    child.on("exit", () => rej(new Error(`serve exited before printing its URL: ${err}`)));
  });
  return {
    url,
    stderr: () => err,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
