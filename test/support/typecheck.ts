/**
 * Type-checks a few files as a project of their own, placed inside the repository so that
 * `qwen2-ts` resolves through package.json `exports` as in a user's project, with the
 * repository's compiler. The folder is removed afterwards.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./paths.js";

export interface TypeCheckResult {
  readonly status: number | null;
  /** tsc's diagnostics (stdout and stderr). */
  readonly output: string;
}

/** `files`: file name → source. `compilerOptions` as in a tsconfig.json. */
export function typeCheckProject(
  label: string,
  files: Readonly<Record<string, string>>,
  compilerOptions: Record<string, unknown>,
): TypeCheckResult {
  const dir = join(repoRoot, "tmp", `${label}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: Object.keys(files) }, null, 2));
    const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    return { status: tsc.status, output: `${tsc.stdout}${tsc.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
