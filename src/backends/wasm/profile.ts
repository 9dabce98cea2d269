/**
 * QWEN2_WASM_PROFILE=1: the driver worker times what each command list spends where and prints,
 * every 32 lists, one line per key with its time per list (min and median over those lists) to
 * stderr. Keys: each op by name (products by weight kind and shape, "alone" for those thread 0
 * runs by itself), "join" (thread 0 waiting for the helpers after its share, inside the ops'
 * times), "list" (the whole list) and "gap" (from one list's end to the next list's arrival:
 * the answer's message, the caller's JavaScript, the next list's message). The minimum over 32
 * lists is what a list costs when no other process takes the cores.
 */
import { environmentVariable } from "#platform";
import { Kind, Op, opName } from "./kernels.js";

export const PROFILE_ENV = "QWEN2_WASM_PROFILE";
const WINDOW = 32;
const KIND_NAMES = new Map<number, string>(Object.entries(Kind).map(([name, code]) => [code, name]));

export class ListProfile {
  private readonly current = new Map<string, number>();
  private readonly history = new Map<string, number[]>();
  private lists = 0;
  private lastEnd = 0;
  private start = 0;

  constructor(private readonly print: (text: string) => void = (t) => console.error(t)) {}

  /** Adds `ms` to `key` in the list being run. */
  add(key: string, ms: number): void {
    this.current.set(key, (this.current.get(key) ?? 0) + ms);
  }

  /** The key of a command: its op, a product's weight kind and shape (args as kernels.ts lays them out). */
  key(op: number, args: Float64Array, local: boolean): string {
    const kind = KIND_NAMES.get(args[0]!) ?? String(args[0]);
    if (op === Op.MatmulQuant) {
      let shape = `${args[10]}x${args[9]}`;
      for (let p = 0; p < args[11]!; p++) shape += `+${args[16 + 5 * p]}`;
      return `MatmulQuant ${kind} ${shape} n=${args[8]}`;
    }
    if (op === Op.MatmulFloat) return `MatmulFloat ${kind} ${args[7]}x${args[6]} n=${args[5]}`;
    return local ? `${opName(op)} alone` : opName(op);
  }

  listStarted(): void {
    this.start = performance.now();
    if (this.lastEnd > 0) this.add("gap", this.start - this.lastEnd);
  }

  listEnded(): void {
    this.lastEnd = performance.now();
    this.add("list", this.lastEnd - this.start);
    for (const [key, ms] of this.current) {
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = []));
      h.push(ms);
    }
    this.current.clear();
    if (++this.lists % WINDOW !== 0) return;
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
    const rows = [...this.history]
      .sort((a, b) => median(b[1]) - median(a[1]))
      .map(
        ([key, h]) =>
          `  ${key.padEnd(44)} min ${Math.min(...h).toFixed(3)}  median ${median(h).toFixed(3)}${h.length < WINDOW ? ` (${h.length} lists)` : ""}`,
      );
    this.history.clear();
    this.print(`qwen2 wasm profile, ms per list over lists ${this.lists - WINDOW + 1}-${this.lists}:\n${rows.join("\n")}`);
  }
}

/** A profile when QWEN2_WASM_PROFILE is set (to anything but 0), else null. */
export function listProfileFromEnv(): ListProfile | null {
  const v = environmentVariable(PROFILE_ENV);
  return v !== undefined && v !== "" && v !== "0" ? new ListProfile() : null;
}
