/**
 * The contract every `qwen2` subcommand module fulfils. Commands live one per file in
 * src/cli/commands/ and are loaded lazily, so `qwen2 tokenize` never pays for loading the
 * model code and vice versa.
 */
import type { LoadedModel, LoadOptions } from "../runtime/load.js";

/** How a command turns `--model PATH` into a model. */
export type ModelLoader = (path: string, options: LoadOptions) => Promise<LoadedModel>;

/** What a command runs against: the standard streams and, for tests, a model loader. */
export interface CliIO {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Loads `--model` (default: the runtime's loader). Tests pass a toy model through here. */
  readonly loadModel?: ModelLoader;
}

export interface Command {
  /** One line shown by `qwen2 --help`. */
  readonly summary: string;
  /** Full usage text shown by `qwen2 <command> --help`. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[], io: CliIO): Promise<number>;
}

/** An error whose message is meant for the user as is (no stack trace). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Reads all of a stream as UTF-8 text. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}
