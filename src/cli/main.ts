import { UsageError, type CliIO, type Command } from "./command.js";

/**
 * Every subcommand, in the order `qwen2 --help` lists them. Each name maps to the module
 * src/cli/commands/<name>.ts, whose default export is a {@link Command}.
 */
export const COMMANDS = [
  "demo",
  "tokenize",
  "detokenize",
  "generate",
  "chat",
  "serve",
  "classify",
  "inspect",
  "create-random",
  "quantize",
  "bench",
] as const;

const defaultIO: CliIO = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

async function load(name: string): Promise<Command | undefined> {
  if (!(COMMANDS as readonly string[]).includes(name)) return undefined;
  try {
    const mod = (await import(`./commands/${name}.js`)) as { default: Command };
    return mod.default;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" && String((err as Error).message).includes(`commands/${name}.js`)) return undefined;
    throw err;
  }
}

async function help(io: CliIO): Promise<void> {
  const lines = ["Usage: qwen2 <command> [options]", "", "Commands:"];
  for (const name of COMMANDS) {
    const cmd = await load(name);
    if (cmd) lines.push(`  ${name.padEnd(14)} ${cmd.summary}`);
  }
  lines.push("", "Run `qwen2 <command> --help` for a command's options.");
  io.stdout.write(lines.join("\n") + "\n");
}

/** Entry point of the `qwen2` executable; resolves to the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    await help(io);
    return name === undefined ? 1 : 0;
  }
  if (name === "--version" || name === "-v") {
    const { createRequire } = await import("node:module");
    const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
    io.stdout.write(pkg.version + "\n");
    return 0;
  }
  const cmd = await load(name);
  if (!cmd) {
    io.stderr.write(`qwen2: unknown command '${name}'. Run 'qwen2 --help' for the list.\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout.write(cmd.usage.trimEnd() + "\n");
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`qwen2 ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
