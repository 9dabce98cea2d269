/**
 * `npm run bench`: every benchmark, one after another, each in its own process so that one
 * benchmark's memory and threads never colour the next one's figures. Extra arguments are
 * passed to each (e.g. `--quick` where a benchmark knows it).
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const benches = ["tokenizer", "model", "quality", "server"];
let failed = 0;
for (const name of benches) {
  process.stdout.write(`\n=== bench:${name} ===\n`);
  const r = spawnSync(process.execPath, [join(here, `${name}.js`), ...process.argv.slice(2)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`bench:${name} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
