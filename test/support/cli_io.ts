/**
 * In-memory standard streams for driving CLI commands in tests: what a command writes is
 * collected as text, and stdin is given up front.
 */
import { PassThrough, Readable } from "node:stream";
import type { CliIO } from "../../src/cli/command.js";
import { main } from "../../src/cli/main.js";

export interface CapturedIO {
  readonly io: CliIO;
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
}

export function captureIO(stdinText = ""): CapturedIO {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { io: { stdin: Readable.from([stdinText]), stdout, stderr }, out: () => out, err: () => err };
}

/** Runs `qwen2 <args>` through main() and returns its exit code and output. */
export async function runCli(args: string[], stdinText = ""): Promise<{ code: number; out: string; err: string }> {
  const t = captureIO(stdinText);
  const code = await main(args, t.io);
  return { code, out: t.out(), err: t.err() };
}
