/**
 * Bundling compiled entries for the page with esbuild, as a user's bundler would
 * (platform "browser", ESM, so package.json `imports`/`exports` take their `browser`/`default`
 * conditions). Node built-ins are kept out of the bundle and recorded instead of failing the
 * build, so a test can say exactly which module pulls in which `node:` import.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";
import { repoRoot } from "../../support/paths.js";

/** The universal entry (`qwen2-ts`) as compiled by `npm run build`. */
export const universalEntry = resolve(repoRoot, "dist/src/index.js");

export interface NodeImport {
  /** The bundled file that imports it, relative to the repo root. */
  importer: string;
  /** As written: "node:fs", "fs", "worker_threads", ... */
  path: string;
}

export interface Bundle {
  /** The folder holding the output; mount it on the test server. */
  readonly dir: string;
  /** Entry name → output file name inside `dir` ("qwen2" → "qwen2.js"). */
  readonly files: Readonly<Record<string, string>>;
  readonly metafile: Metafile;
  /** Every import of a Node built-in the bundle would need (empty for a browser-clean bundle). */
  readonly nodeImports: readonly NodeImport[];
  /** Removes `dir` when the bundle made it. */
  dispose(): void;
}

export interface BundleOptions {
  /** Output folder; a fresh temporary folder by default. */
  outdir?: string;
  /** Shared chunks between entries (page + worker entries). Default false. */
  splitting?: boolean;
  minify?: boolean;
}

const BUILTINS = new Set(builtinModules);

function isNodeBuiltin(path: string): boolean {
  return path.startsWith("node:") || BUILTINS.has(path) || BUILTINS.has(path.split("/")[0]!);
}

/** Marks Node built-ins external (so the build completes) and notes who imports them. */
function recordNodeBuiltins(found: NodeImport[]): Plugin {
  return {
    name: "record-node-builtins",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!isNodeBuiltin(args.path)) return undefined;
        found.push({
          importer: args.importer.startsWith(repoRoot) ? args.importer.slice(repoRoot.length + 1) : args.importer,
          path: args.path,
        });
        return { path: args.path, external: true };
      });
    },
  };
}

/** Bundles `entries` (name → compiled .js path). */
export async function bundle(entries: Record<string, string>, options: BundleOptions = {}): Promise<Bundle> {
  const ownDir = options.outdir === undefined;
  const dir = options.outdir ?? mkdtempSync(join(tmpdir(), "qwen2-bundle-"));
  const nodeImports: NodeImport[] = [];
  const result = await build({
    entryPoints: entries,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    outdir: dir,
    splitting: options.splitting ?? false,
    minify: options.minify ?? false,
    sourcemap: true,
    metafile: true,
    logLevel: "silent",
    plugins: [recordNodeBuiltins(nodeImports)],
  });
  const files = Object.fromEntries(Object.keys(entries).map((name) => [name, `${name}.js`]));
  return {
    dir,
    files,
    metafile: result.metafile,
    nodeImports,
    dispose() {
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The universal entry as one browser bundle, `qwen2.js`. */
export function bundleUniversal(options: BundleOptions = {}): Promise<Bundle> {
  return bundle({ qwen2: universalEntry }, options);
}
