/**
 * Relaxed SIMD for command-line programs on Node 20: the engine has it only behind a V8 flag,
 * which must be given when the process starts. `relaunchWithRelaxedSimd` restarts the current
 * script in a child `node` with the flag (stdio shared, exit code passed on) when that would
 * turn relaxed SIMD on; it is safe because the backend still self-tests every relaxed kernel
 * at start-up and falls back to baseline SIMD if one computes wrongly.
 *
 *   // bin/qwen2.js, before anything else:
 *   const code = await relaunchWithRelaxedSimd();
 *   if (code !== null) process.exit(code);
 *
 * Ctrl-C reaches the child directly (same process group); the parent ignores SIGINT while it
 * waits so that the child alone decides what Ctrl-C means (the chat stops an answer), and it
 * forwards SIGTERM.
 */
import { spawn } from "node:child_process";
import { relaxedSimdNodeArgs } from "./features.js";

/** Environment variable that stops a relaunch (set in the child, and usable to opt out). */
export const NO_RELAUNCH_ENV = "QWEN2_NO_RELAXED_RELAUNCH";

/**
 * Returns null when the current process should just go on (relaxed SIMD already available,
 * impossible on this Node, or opted out), else runs the same command in a child Node with the
 * flag and returns its exit code.
 */
export async function relaunchWithRelaxedSimd(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): Promise<number | null> {
  if (env[NO_RELAUNCH_ENV]) return null;
  const extra = relaxedSimdNodeArgs();
  if (extra === null || extra.length === 0) return null;
  const child = spawn(process.execPath, [...process.execArgv, ...extra, ...argv.slice(1)], {
    stdio: "inherit",
    env: { ...env, [NO_RELAUNCH_ENV]: "1" },
  });
  const ignore = (): void => {};
  const forward = (): void => void child.kill("SIGTERM");
  process.on("SIGINT", ignore);
  process.on("SIGTERM", forward);
  try {
    return await new Promise<number | null>((resolve) => {
      child.once("error", () => resolve(null));
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : 15) : 1)));
    });
  } finally {
    process.off("SIGINT", ignore);
    process.off("SIGTERM", forward);
  }
}
