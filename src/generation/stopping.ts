/**
 * When generation ends, and what text may be shown before it does.
 *
 * - EOS: the union of the ids from generation_config.json, config.json and the tokenizer
 *   (its eos token plus `<|endoftext|>` / `<|im_end|>` when it has them), since Qwen2
 *   checkpoints disagree on which of these they list.
 * - Stop strings: matched on the decoded text, so a stop string split across tokens (or
 *   inside one token) is still found. Text that could be the start of a stop string is held
 *   back until it is known not to be one, so a stream never shows part of a stop string.
 */
import type { TextTokenizer } from "../tokenizer/types.js";

/** Why a sequence ended: an EOS id or stop string, the token budget/context, or the caller. */
export type FinishReason = "stop" | "length" | "abort";

/** Tokens that end a turn in the Qwen2 family even when a config forgets to list them. */
export const QWEN2_END_TOKENS = ["<|endoftext|>", "<|im_end|>"] as const;

/**
 * The EOS ids to stop on: every id listed by generation_config.json, config.json and the
 * tokenizer. Each argument may be absent.
 */
export function collectEosIds(sources: {
  readonly generationConfig?: { readonly eos_token_id?: readonly number[] } | null;
  readonly config?: { readonly eos_token_id?: readonly number[] } | null;
  readonly tokenizer?: Pick<TextTokenizer, "eosTokenId" | "tokenToId"> | null;
}): number[] {
  const ids = new Set<number>();
  for (const id of sources.generationConfig?.eos_token_id ?? []) ids.add(id);
  for (const id of sources.config?.eos_token_id ?? []) ids.add(id);
  const tok = sources.tokenizer;
  if (tok) {
    if (tok.eosTokenId !== null) ids.add(tok.eosTokenId);
    for (const t of QWEN2_END_TOKENS) {
      const id = tok.tokenToId(t);
      if (id !== undefined) ids.add(id);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/** What {@link StopStringMatcher.push} lets through. */
export interface StopMatch {
  /** Text now safe to show. */
  readonly text: string;
  /** True when a stop string was found; `text` ends just before it. */
  readonly stopped: boolean;
  /** The stop string found, when stopped. */
  readonly stop?: string;
}

/**
 * Finds stop strings in text arriving piece by piece and holds back any suffix that could
 * still grow into one. The text it releases never contains a stop string or any part of
 * the one that stopped it (OpenAI's and vLLM's behaviour).
 */
export class StopStringMatcher {
  private readonly stops: string[];
  private pending = "";
  private done = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get hasStops(): boolean {
    return this.stops.length > 0;
  }

  push(piece: string): StopMatch {
    if (this.done) return { text: "", stopped: true };
    if (this.stops.length === 0) return { text: piece, stopped: false };
    this.pending += piece;
    // Earliest occurrence of any stop string wins: all text before it is real output.
    let at = -1;
    let which = "";
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        which = s;
      }
    }
    if (at >= 0) {
      const text = this.pending.slice(0, at);
      this.pending = "";
      this.done = true;
      return { text, stopped: true, stop: which };
    }
    const hold = this.heldSuffixLength();
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: false };
  }

  /** Releases the held-back text at the end of generation (it was not a stop string). */
  flush(): string {
    const text = this.done ? "" : this.pending;
    this.pending = "";
    return text;
  }

  /** Length of the longest suffix of `pending` that is a proper prefix of some stop string. */
  private heldSuffixLength(): number {
    const p = this.pending;
    let best = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, p.length); k > best; k--) {
        if (p.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
