/**
 * A small deterministic model and tokenizer for server tests, so every test runs in
 * milliseconds without weights:
 *
 * - ServerToyTokenizer: ids 0-255 are bytes; then <|endoftext|>, <|im_start|>, <|im_end|>
 *   (special), <tool_call> and </tool_call> (added, not special, as in Qwen2.5), and a few
 *   multi-byte tokens so constrained decoding meets tokens that span grammar states. Its
 *   chat template is the real Qwen2.5 one (tools included), from the package's own embedded
 *   copy (assets/), so the server tests need nothing from ../shared.
 * - ResponderModel: logits are a pseudo-random function of the whole history, plus a large
 *   bonus on the next token of a scripted answer when `respond(promptText)` gives one. So
 *   greedy decoding writes the script exactly, sampling varies with the seed, and a
 *   constraint that refuses a script token sends the model off script.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { CausalLM, ForwardItem, ForwardOptions, SequenceCache } from "../../src/models/causal_lm.js";
import { renderChatTemplate } from "../../src/tokenizer/chat_template.js";
import type {
  ChatMessage,
  ChatTemplateOptions,
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  TextTokenizer,
} from "../../src/tokenizer/types.js";
import { repoRoot } from "../support/paths.js";

export const EOT = 256;
export const IM_START = 257;
export const IM_END = 258;
const ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"];
const MERGES = ['{"', '"}', '": ', '", "', "name", "arguments", " the", "Hello", "true", "false", "null", "  ", "é", "12", '"a', "\n}"];

const enc = new TextEncoder();

function qwen25Template(): string {
  const cfg = JSON.parse(readFileSync(resolve(repoRoot, "assets/tokenizers/qwen2.5/tokenizer_config.json"), "utf8")) as {
    chat_template: string;
  };
  return cfg.chat_template;
}

export class ServerToyTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly eosToken = "<|im_end|>";
  readonly eosTokenId = IM_END;
  readonly padToken = "<|endoftext|>";
  readonly padTokenId = EOT;
  readonly bosToken = null;
  readonly bosTokenId = null;
  readonly chatTemplate: string;
  private readonly pieces: { id: number; bytes: Uint8Array; text: string }[] = [];

  /**
   * @param extra more added tokens (e.g. Qwen2.5-Coder's `<|fim_prefix|>`), ids after the merges
   * @param chatTemplate default: the real Qwen2.5 template
   */
  constructor(extra: readonly string[] = [], chatTemplate = qwen25Template()) {
    this.chatTemplate = chatTemplate;
    this.vocabSize = 256 + ADDED.length + MERGES.length + extra.length;
    ADDED.forEach((t, i) => this.pieces.push({ id: 256 + i, bytes: enc.encode(t), text: t }));
    MERGES.forEach((t, i) => this.pieces.push({ id: 256 + ADDED.length + i, bytes: enc.encode(t), text: t }));
    extra.forEach((t, i) => this.pieces.push({ id: 256 + ADDED.length + MERGES.length + i, bytes: enc.encode(t), text: t }));
    // Longest first, so encoding is greedy longest-match.
    this.pieces.sort((a, b) => b.bytes.length - a.bytes.length);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const bytes = enc.encode(text);
    let i = 0;
    outer: while (i < bytes.length) {
      for (const p of this.pieces) {
        if (options.splitSpecialTokens && p.id < 256 + ADDED.length) continue;
        if (p.bytes.length <= bytes.length - i && p.bytes.every((b, k) => bytes[i + k] === b)) {
          out.push(p.id);
          i += p.bytes.length;
          continue outer;
        }
      }
      out.push(bytes[i]!);
      i++;
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
        if (options.skipSpecialTokens && this.isSpecialId(id)) return "";
        const b = this.idToBytes(id);
        return b ? td.decode(b, { stream: true }) : "";
      },
      flush: (): string => td.decode(),
    };
  }

  idToToken(id: number): string | undefined {
    if (id >= 0 && id < 256) return String.fromCharCode(id);
    return this.pieces.find((p) => p.id === id)?.text;
  }

  tokenToId(token: string): number | undefined {
    return (
      this.pieces.find((p) => p.text === token)?.id ?? (token.length === 1 && token.charCodeAt(0) < 256 ? token.charCodeAt(0) : undefined)
    );
  }

  idToBytes(id: number): Uint8Array | undefined {
    if (id >= 0 && id < 256) return Uint8Array.of(id);
    return this.pieces.find((p) => p.id === id)?.bytes;
  }

  isSpecialId(id: number): boolean {
    return id === EOT || id === IM_START || id === IM_END;
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    return renderChatTemplate(this.chatTemplate, messages, {
      addGenerationPrompt: options.addGenerationPrompt ?? false,
      ...(options.tools ? { tools: options.tools } : {}),
      eosToken: this.eosToken,
    });
  }
}

class ResponderCache implements SequenceCache {
  readonly ids: number[] = [];
  disposed = false;
  constructor(
    readonly capacity: number,
    private readonly live: Set<ResponderCache>,
  ) {
    live.add(this);
  }
  get length(): number {
    return this.ids.length;
  }
  truncate(length: number): void {
    this.ids.length = Math.min(this.ids.length, length);
  }
  dispose(): void {
    this.disposed = true;
    this.live.delete(this);
  }
}

function hash(ids: readonly number[], salt = 0): number {
  let h = (2166136261 ^ salt) >>> 0;
  for (const id of ids) h = Math.imul(h ^ id, 16777619) >>> 0;
  return h;
}

const NO_SCRIPT = { prompt: 0, seen: 0, script: null };

/** Decides the answer to a prompt (its decoded text); null: babble. */
export type Responder = (promptText: string) => string | null;

export class ResponderModel implements CausalLM {
  readonly vocabSize: number;
  readonly config = { hidden_size: 16 };
  /** Caches not yet disposed: tests check that cancelled sequences free theirs. */
  readonly live = new Set<ResponderCache>();
  forwardCalls = 0;
  /** Largest number of sequences seen in one forward call. */
  maxBatch = 0;
  /** Prompt tokens actually computed (prefix reuse lowers this). */
  computedTokens = 0;
  /** Most new tokens of one sequence in one forward call. */
  maxItemTokens = 0;
  private readonly scripts = new WeakMap<ResponderCache, { prompt: number; seen: number; script: number[] | null }>();

  constructor(
    readonly tokenizer: ServerToyTokenizer,
    readonly respond: Responder,
    readonly maxContext = 2048,
  ) {
    this.vocabSize = tokenizer.vocabSize;
  }

  createCache(capacity: number): SequenceCache {
    return new ResponderCache(capacity, this.live);
  }

  async forward(items: readonly ForwardItem[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    this.forwardCalls++;
    this.maxBatch = Math.max(this.maxBatch, items.length);
    return items.map((it) => {
      const cache = it.cache as ResponderCache;
      if (cache.disposed) throw new Error("forward on a disposed cache");
      if (cache.length + it.ids.length > cache.capacity)
        throw new Error(`cache overflow: ${cache.length} + ${it.ids.length} > ${cache.capacity}`);
      this.computedTokens += it.ids.length;
      this.maxItemTokens = Math.max(this.maxItemTokens, it.ids.length);
      let info = this.scripts.get(cache);
      // A forward of more than one token is a prompt (prefill): pick the script for it.
      // A new sequence on this cache (fresh or truncated for reuse) starts with its prompt.
      if (it.ids.length > 1 || !info || cache.length !== info.seen) {
        cache.ids.push(...it.ids);
        const text = this.tokenizer.decode(cache.ids);
        const s = this.respond(text);
        info = { prompt: cache.ids.length, seen: 0, script: s === null ? null : [...this.tokenizer.encode(s), IM_END] };
        this.scripts.set(cache, info);
      } else {
        cache.ids.push(...it.ids);
      }
      info.seen = cache.ids.length;
      const last = this.logits(cache.ids, info);
      if (!options.allLogits) return last;
      // Every new token's row; those before the last are prompt positions, where no script applies.
      const rows = new Float32Array(it.ids.length * this.vocabSize);
      const before = cache.ids.length - it.ids.length;
      for (let j = 0; j + 1 < it.ids.length; j++) rows.set(this.logits(cache.ids.slice(0, before + j + 1), NO_SCRIPT), j * this.vocabSize);
      rows.set(last, (it.ids.length - 1) * this.vocabSize);
      return rows;
    });
  }

  private logits(history: readonly number[], info: { prompt: number; seen: number; script: number[] | null }): Float32Array {
    let h = hash(history);
    const out = new Float32Array(this.vocabSize);
    for (let i = 0; i < out.length; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      h = (h + 0x6d2b79f5) >>> 0;
      out[i] = ((h >>> 8) / 16777216) * 6 - 3;
    }
    // Special tokens other than <|im_end|> would end or confuse answers: keep them unlikely.
    out[EOT] = -20;
    out[IM_START] = -20;
    const s = info.script;
    if (s) {
      const k = history.length - info.prompt; // tokens generated so far, the one being fed included
      // On script while the generated tokens match it.
      let on = k < s.length;
      for (let i = 0; on && i < k; i++) if (history[info.prompt + i] !== s[i]) on = false;
      if (on) out[s[k]!]! += 12;
    } else {
      out[IM_END] = -20;
    }
    return out;
  }

  /** "Hidden states": row t is a pseudo-random vector of the history up to token t. */
  async hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]> {
    const d = this.config.hidden_size;
    return items.map((it) => {
      const cache = it.cache as ResponderCache;
      const out = new Float32Array(it.ids.length * d);
      for (let t = 0; t < it.ids.length; t++) {
        cache.ids.push(it.ids[t]!);
        out.set(ResponderModel.vector(cache.ids, d), t * d);
      }
      return out;
    });
  }

  static vector(ids: readonly number[], d: number): Float32Array {
    let h = hash(ids, 7);
    const v = new Float32Array(d);
    for (let i = 0; i < d; i++) {
      h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
      v[i] = (h / 4294967296) * 2 - 1;
    }
    return v;
  }

  dispose(): void {}
}
