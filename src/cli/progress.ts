/**
 * Load progress on stderr: a bar redrawn in place on a terminal; on anything else (a log
 * file, a pipe, CI) one plain line per phase, since `\r` redraws only garble logs.
 */
import type { LoadProgress } from "../runtime/load.js";

export function progressReporter(out: NodeJS.WritableStream, label: string): (p: LoadProgress) => void {
  return (out as { isTTY?: boolean }).isTTY === true ? progressBar(out, label) : progressLines(out, label);
}

function fraction(p: LoadProgress): number {
  if (p.phase === "ready") return 1;
  return p.total && p.total > 0 ? Math.max(0, Math.min(1, (p.loaded ?? 0) / p.total)) : 0;
}

/** A one-line bar redrawn in place (per file while downloading); warnings on lines of their own. */
export function progressBar(out: NodeJS.WritableStream, label: string): (p: LoadProgress) => void {
  let last = "";
  let open = false;
  return (p) => {
    if (p.phase === "warning") {
      out.write(`${open ? "\n" : ""}warning: ${p.message ?? ""}\n`);
      open = false;
      last = "";
      return;
    }
    const f = fraction(p);
    const pct = Math.floor(f * 100);
    const what = p.phase === "download" && p.file ? `download ${baseName(p.file)}` : p.phase;
    const key = `${what} ${pct}`;
    if (key === last) return;
    last = key;
    const width = 30;
    const filled = Math.round(f * width);
    out.write(
      `\r${label} ${what.padEnd(9)} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(pct).padStart(3)}%${f >= 1 ? "\n" : ""}`,
    );
    open = f < 1;
  };
}

/** One line when a phase (or a download's file) starts, warnings, and one at the end: no carriage returns. */
export function progressLines(out: NodeJS.WritableStream, label: string): (p: LoadProgress) => void {
  let last = "";
  return (p) => {
    if (p.phase === "warning") {
      out.write(`warning: ${p.message ?? ""}\n`);
      return;
    }
    const what = p.phase === "download" && p.file ? `download ${p.file}` : p.phase;
    if (what === last) return;
    last = what;
    out.write(`${label}: ${what}\n`);
  };
}

function baseName(file: string): string {
  return (
    file
      .replace(/[?#].*$/, "")
      .split("/")
      .filter(Boolean)
      .at(-1) ?? file
  );
}

/**
 * Item-by-item progress ("[3/290] model.layers.0.mlp.up_proj.weight"): redrawn in place on a
 * terminal (call with i = n to end the line); elsewhere a plain line at every tenth.
 */
export function itemProgress(out: NodeJS.WritableStream): (name: string, i: number, n: number) => void {
  const tty = (out as { isTTY?: boolean }).isTTY === true;
  let lastTenth = -1;
  return (name, i, n) => {
    if (tty) {
      out.write(`\r[${i + 1}/${n}] ${name.padEnd(28)}${i + 1 === n ? "\n" : ""}`);
      return;
    }
    const tenth = Math.floor(((i + 1) * 10) / n);
    if (tenth === lastTenth && i + 1 !== n) return;
    lastTenth = tenth;
    out.write(`[${i + 1}/${n}] ${name}\n`);
  };
}
