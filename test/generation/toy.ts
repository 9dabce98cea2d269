/**
 * Small deterministic stand-ins for a model and a tokenizer, so generation can be tested
 * without weights. The tokenizer is byte-level (ids 0-255 are bytes) with three special
 * tokens; the model's logits are a pure function of the whole token history.
 */
import type { CausalLM, ForwardItem, SequenceCache } from "../../src/models/causal_lm.js";
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, StreamDecoder, TextTokenizer } from "../../src/tokenizer/types.js";

export const EOT = 256; // <|endoftext|>
export const IM_START = 257;
export const IM_END = 258;
const SPECIAL = new Map<number, string>([
  [EOT, "<|endoftext|>"],
  [IM_START, "<|im_start|>"],
  [IM_END, "<|im_end|>"],
]);

export class ToyTokenizer implements TextTokenizer {
  readonly vocabSize = 259;
  readonly eosToken = "<|im_end|>";
  readonly eosTokenId = IM_END;
  readonly padToken = "<|endoftext|>";
  readonly padTokenId = EOT;
  readonly bosToken = null;
  readonly bosTokenId = null;
  readonly chatTemplate = "chatml";

  encode(text: string): number[] {
    const out: number[] = [];
    let rest = text;
    while (rest.length > 0) {
      let matched = false;
      for (const [id, tok] of SPECIAL) {
        if (rest.startsWith(tok)) {
          out.push(id);
          rest = rest.slice(tok.length);
          matched = true;
          break;
        }
      }
      if (matched) continue;
      const cp = rest.codePointAt(0)!;
      const ch = String.fromCodePoint(cp);
      out.push(...new TextEncoder().encode(ch));
      rest = rest.slice(ch.length);
    }
    return out;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const d = this.createStreamDecoder(options);
    let s = "";
    for (let i = 0; i < ids.length; i++) s += d.push(ids[i]!);
    return s + d.flush();
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    const td = new TextDecoder("utf-8", { fatal: false });
    return {
      push: (id: number): string => {
        const special = SPECIAL.get(id);
        if (special !== undefined) return options.skipSpecialTokens ? "" : td.decode(new Uint8Array(0), { stream: true }) + special;
        if (id < 0 || id > 255) return "";
        return td.decode(Uint8Array.of(id), { stream: true });
      },
      flush: (): string => td.decode(),
    };
  }

  idToToken(id: number): string | undefined {
    return SPECIAL.get(id) ?? (id >= 0 && id < 256 ? String.fromCharCode(id) : undefined);
  }

  tokenToId(token: string): number | undefined {
    for (const [id, t] of SPECIAL) if (t === token) return id;
    return token.length === 1 && token.charCodeAt(0) < 256 ? token.charCodeAt(0) : undefined;
  }

  idToBytes(id: number): Uint8Array | undefined {
    const s = SPECIAL.get(id);
    if (s) return new TextEncoder().encode(s);
    return id >= 0 && id < 256 ? Uint8Array.of(id) : undefined;
  }

  isSpecialId(id: number): boolean {
    return SPECIAL.has(id);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    let s = "";
    for (const m of messages) s += `<|im_start|>${m.role}\n${m.content ?? ""}<|im_end|>\n`;
    if (options.addGenerationPrompt) s += "<|im_start|>assistant\n";
    return s;
  }
}

export class ToyCache implements SequenceCache {
  readonly ids: number[] = [];
  disposed = false;
  /** History length after the first forward call (the prompt), -1 before. */
  promptLength = -1;
  constructor(readonly capacity: number) {}
  get length(): number {
    return this.ids.length;
  }
  truncate(length: number): void {
    this.ids.length = Math.min(this.ids.length, length);
  }
  dispose(): void {
    this.disposed = true;
  }
}

/** Logits from the full history (all cached ids plus the new ones). */
export type NextLogits = (history: readonly number[], promptLength: number) => Float32Array;

export class ToyModel implements CausalLM {
  /** Every forward call: for each item, the ids it carried. */
  readonly calls: number[][][] = [];
  readonly caches: ToyCache[] = [];
  constructor(
    private readonly next: NextLogits,
    readonly maxContext = 4096,
    readonly vocabSize = 259,
  ) {}

  createCache(capacity: number): SequenceCache {
    const c = new ToyCache(capacity);
    this.caches.push(c);
    return c;
  }

  async forward(items: readonly ForwardItem[]): Promise<Float32Array[]> {
    this.calls.push(items.map((it) => Array.from(it.ids)));
    return items.map((it) => {
      const cache = it.cache as ToyCache;
      if (cache.disposed) throw new Error("forward on a disposed cache");
      if (cache.length + it.ids.length > cache.capacity)
        throw new Error(`cache overflow: ${cache.length} + ${it.ids.length} > ${cache.capacity}`);
      cache.ids.push(...it.ids);
      if (cache.promptLength < 0) cache.promptLength = cache.ids.length;
      return this.next(cache.ids, cache.promptLength);
    });
  }

  dispose(): void {}
}

/** A model that, whatever the prompt, writes `script` (as UTF-8 bytes) then `end`, then repeats. */
export function scriptedModel(script: string, end: number = IM_END): ToyModel {
  const bytes = [...new TextEncoder().encode(script), end];
  return new ToyModel((history, prompt) => {
    const logits = new Float32Array(259).fill(-5);
    const k = (history.length - prompt) % bytes.length;
    logits[bytes[k]!] = 10;
    return logits;
  });
}

/** A model whose logits are a fixed pseudo-random function of the whole history. */
export function hashModel(): ToyModel {
  return new ToyModel((history) => {
    let h = 2166136261;
    for (const id of history) h = Math.imul(h ^ id, 16777619) >>> 0;
    const logits = new Float32Array(259);
    for (let i = 0; i < logits.length; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      h = (h + 0x6d2b79f5) >>> 0;
      logits[i] = ((h >>> 8) / 16777216) * 6 - 3;
    }
    return logits;
  });
}

/** A model of any vocabulary size that writes the given ids after whatever prompt, then repeats them. */
export function idScriptModel(vocabSize: number, ids: readonly number[]): ToyModel {
  return new ToyModel(
    (history, prompt) => {
      const logits = new Float32Array(vocabSize).fill(-5);
      logits[ids[(history.length - prompt) % ids.length]!] = 10;
      return logits;
    },
    4096,
    vocabSize,
  );
}
