/** `qwen2 serve` as a child process on 127.0.0.1 for page tests: its URL, its log, and a clean stop. */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { repoRoot } from "../support/paths.js";

export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `qwen2 serve ARGS` on a free port; with `loader` (a compiled module exporting
 * `loadModel`), through test/support/cli_with_loader.js so that loader supplies the model.
 */
export async function startServe(args: readonly string[], loader?: string, timeoutMs = 120_000): Promise<ServeProcess> {
  const cli = loader ? [resolve(repoRoot, "dist/test/support/cli_with_loader.js"), loader] : [resolve(repoRoot, "bin/qwen2.js")];
  const child = spawn(process.execPath, [...cli, "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const url = await new Promise<string>((res, rej) => {
      let out = "";
      const timer = setTimeout(() => rej(new Error(`qwen2 serve printed no URL in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /^(http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        rej(new Error(`qwen2 serve exited (${code}) before listening: ${stderr}`));
      });
    });
    return {
      url,
      child,
      log: () => stderr,
      stop: () => {
        if (child.exitCode === null) child.kill("SIGTERM");
        return exited;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}
