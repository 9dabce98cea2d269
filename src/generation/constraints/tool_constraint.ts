/**
 * `tool_choice: "required"` or a named function: the answer is forced to be exactly one
 * well-formed Qwen tool call,
 *
 *   <tool_call>\n{"name": "NAME", "arguments": ARGS}\n</tool_call>  then end of sequence
 *
 * where NAME is one of the offered tools and ARGS a JSON object following that tool's
 * `parameters` schema (the JSON grammar of json_grammar.ts). The vocabulary is masked with
 * the same sorted-vocabulary walk as JSON mode.
 */
import type { LogitsProcessor, ProcessorContext } from "../logits_processors.js";
import { sharedMasks, type MaskCache, type VocabIndex } from "./json_constraint.js";
import { initialState, step as jsonStep, type JsonState } from "./json_grammar.js";
import type { SchemaNode } from "./json_schema.js";

export interface ForcedTool {
  readonly name: string;
  readonly parameters: SchemaNode;
}

const enc = new TextEncoder();
const TAIL = enc.encode("}\n</tool_call>");

/** Phase 0: inside one of the heads; 1: in the arguments; 2: in the tail; 3: done. */
class ToolState {
  private keyCache: string | null = null;
  constructor(
    readonly phase: 0 | 1 | 2 | 3,
    /** Phase 0: heads still possible (indexes); else the chosen tool. */
    readonly tools: readonly number[],
    /** Bytes consumed in the head or tail. */
    readonly pos: number,
    readonly json: JsonState | null,
  ) {}
  get key(): string {
    return (this.keyCache ??= `tool:${this.phase}:${this.tools.join(",")}:${this.pos}:${this.json?.key ?? ""}`);
  }
}

export class ToolCallConstraint implements LogitsProcessor {
  private state: ToolState | null;
  private consumed = 0;
  private readonly heads: Uint8Array[];
  private readonly cache: MaskCache;
  private readonly id: string;

  constructor(
    private readonly index: VocabIndex,
    private readonly tools: readonly ForcedTool[],
    private readonly eosIds: readonly number[],
  ) {
    this.heads = tools.map((t) => enc.encode(`<tool_call>\n{"name": ${JSON.stringify(t.name)}, "arguments": `));
    this.state = new ToolState(
      0,
      tools.map((_, i) => i),
      0,
      null,
    );
    this.cache = sharedMasks(index);
    // Masks depend on the tool set (names and schemas), so keys carry it.
    this.id = tools.map((t) => `${t.name}#${t.parameters.id}`).join("|");
  }

  private readonly stepFn = (s: ToolState, b: number): ToolState | null => {
    switch (s.phase) {
      case 0: {
        const left = s.tools.filter((i) => this.heads[i]![s.pos] === b);
        if (left.length === 0) return null;
        const done = left.find((i) => this.heads[i]!.length === s.pos + 1);
        if (done !== undefined) return new ToolState(1, [done], 0, initialState(this.tools[done]!.parameters));
        return new ToolState(0, left, s.pos + 1, null);
      }
      case 1: {
        const next = jsonStep(s.json!, b);
        if (next) return new ToolState(1, s.tools, 0, next);
        // The arguments object is complete: the byte must start the tail.
        return s.json!.complete && TAIL[0] === b ? new ToolState(2, s.tools, 1, null) : null;
      }
      case 2:
        if (TAIL[s.pos] !== b) return null;
        return s.pos + 1 === TAIL.length ? new ToolState(3, s.tools, 0, null) : new ToolState(2, s.tools, s.pos + 1, null);
      case 3:
        return null;
    }
  };

  process(logits: Float32Array, context: ProcessorContext): void {
    const gen = context.generated;
    for (; this.consumed < gen.length; this.consumed++) {
      const bytes = this.index.tokenBytes[gen[this.consumed]!];
      let s = this.state;
      if (bytes) for (let i = 0; i < bytes.length && s; i++) s = this.stepFn(s, bytes[i]!);
      this.state = bytes ? s : null;
    }
    const s = this.state;
    let mask: Uint8Array | undefined;
    if (s && s.phase !== 3) {
      const key = `${this.id}/${s.key}`;
      mask = this.cache.get(key);
      if (!mask) {
        mask = this.index.allowedBy(s, this.stepFn);
        this.cache.set(key, mask);
      }
    }
    const endOk = !s || s.phase === 3;
    const eos = this.eosIds.map((id) => logits[id] ?? -Infinity);
    for (let id = 0; id < logits.length; id++) if (!mask || mask[id] === 0) logits[id] = -Infinity;
    if (endOk)
      this.eosIds.forEach((id, i) => {
        if (id < logits.length) logits[id] = Number.isFinite(eos[i]!) ? eos[i]! : 0;
      });
  }
}
