/**
 * `qwen2` with a test model loader, for tests (and the web chat's screenshot) that drive the
 * CLI as a process: the first argument names a compiled module exporting `loadModel`, the
 * rest is the command line.
 *
 *   node dist/test/support/cli_with_loader.js dist/test/server/toy_loader.js serve --model toy
 *
 * The loader goes in the way every in-process test passes one, through CliIO.loadModel;
 * the shipped CLI has no such switch.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ModelLoader } from "../../src/cli/command.js";
import { main } from "../../src/cli/main.js";

const [loaderPath, ...argv] = process.argv.slice(2);
if (!loaderPath) {
  process.stderr.write("usage: cli_with_loader.js LOADER.js COMMAND [ARGS...]\n");
  process.exit(2);
}
const { loadModel } = (await import(pathToFileURL(resolve(loaderPath)).href)) as { loadModel: ModelLoader };
const code = await main(argv, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, loadModel });
process.exit(code);
