/**
 * The sampler: turns one row of logits into the next token id, applying processors in the
 * order Hugging Face's `generate` does:
 *
 *   logit_bias → repetition_penalty → presence/frequency penalties → user processors
 *   → (when sampling) temperature → top_k → top_p → min_p → draw.
 *
 * Greedy decoding applies the processors but not the warpers, then takes the argmax, as HF
 * does with `do_sample=False`. Log-probabilities are the log-softmax of the distribution
 * actually sampled from (after every processor and warper); ids a warper removed have none.
 */
import { InvalidArgumentError } from "../errors.js";
import {
  applyLogitBias,
  applyPresenceFrequency,
  applyRepetitionPenalty,
  applyTemperature,
  argmax,
  logSumExp,
  minP as minPWarp,
  topIndices,
  topK as topKWarp,
  topP as topPWarp,
  type Candidates,
  type LogitsProcessor,
} from "./logits_processors.js";
import { Rng, randomSeed } from "./rng.js";

export interface SamplingOptions {
  /**
   * Sample (true) or take the most likely token (false). Default: sample when any of
   * temperature/topK/topP/minP is given, greedy otherwise (Hugging Face's default).
   * `temperature: 0` always means greedy.
   */
  readonly doSample?: boolean;
  /** > 0; 1 leaves the distribution unchanged. */
  readonly temperature?: number;
  /** Keep the k most likely ids; 0 disables. */
  readonly topK?: number;
  /** Nucleus sampling mass in [0, 1]; 1 disables. */
  readonly topP?: number;
  /** Keep ids at least minP times as likely as the best, in [0, 1]; 0 disables. */
  readonly minP?: number;
  /** Hugging Face repetition penalty (> 0; 1 disables), over prompt and generated ids. */
  readonly repetitionPenalty?: number;
  /** OpenAI presence penalty over generated ids. */
  readonly presencePenalty?: number;
  /** OpenAI frequency penalty over generated ids. */
  readonly frequencyPenalty?: number;
  /** Added to the logits of the given ids (OpenAI `logit_bias`). */
  readonly logitBias?: ReadonlyMap<number, number> | Readonly<Record<number | string, number>>;
  /** Same seed, same tokens. Default: a random seed (reported by {@link Sampler.seed}). */
  readonly seed?: number;
  /** Report the chosen token's log-probability. */
  readonly logprobs?: boolean;
  /** Also report this many most likely alternatives (0-20 in OpenAI's API). */
  readonly topLogprobs?: number;
}

export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
}

export interface SampledToken {
  readonly id: number;
  /** Present when `logprobs` or `topLogprobs` was asked for. */
  readonly logprob?: number;
  /** Most likely ids first; only ids with a finite log-probability. */
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** Validates sampling options once, so a bad request fails before any model work. */
export function validateSamplingOptions(o: SamplingOptions, vocabSize: number): void {
  const finite = (name: string, v: number | undefined, ok: (v: number) => boolean, what: string): void => {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      throw new InvalidArgumentError(`${name} must be ${what}, got ${String(v)}`);
    }
  };
  finite("temperature", o.temperature, (v) => v >= 0, "a number >= 0");
  finite("topK", o.topK, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  finite("topP", o.topP, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  finite("minP", o.minP, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  finite("repetitionPenalty", o.repetitionPenalty, (v) => v > 0, "a number > 0");
  finite("presencePenalty", o.presencePenalty, () => true, "a finite number");
  finite("frequencyPenalty", o.frequencyPenalty, () => true, "a finite number");
  finite("seed", o.seed, () => true, "a finite number");
  finite("topLogprobs", o.topLogprobs, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  for (const [id, bias] of biasEntries(o.logitBias)) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(`logitBias: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
    }
    if (typeof bias !== "number" || Number.isNaN(bias))
      throw new InvalidArgumentError(`logitBias[${id}] must be a number, got ${String(bias)}`);
  }
}

function biasEntries(b: SamplingOptions["logitBias"]): [number, number][] {
  if (!b) return [];
  if (b instanceof Map) return [...(b as ReadonlyMap<number, number>)];
  return Object.entries(b).map(([k, v]) => [Number(k), v as number]);
}

/** Whether these options sample (true) or decode greedily (false). */
export function isSampling(o: SamplingOptions): boolean {
  if (o.temperature === 0) return false;
  if (o.doSample !== undefined) return o.doSample;
  return o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined || o.minP !== undefined;
}

/**
 * Per-sequence sampling state: the RNG, the ids seen (for the repetition penalty) and the
 * counts of generated ids (for presence/frequency). One Sampler per sequence.
 */
export class Sampler {
  /** The seed in use, so a run can be replayed even when none was given. */
  readonly seed: number;
  private readonly rng: Rng;
  private readonly sampling: boolean;
  private readonly bias: ReadonlyMap<number, number>;
  /** Prompt and generated ids, each once (repetition penalty). */
  private readonly seen = new Set<number>();
  /** Generated ids with their counts (presence/frequency penalties). */
  private readonly counts = new Map<number, number>();
  private readonly generated: number[] = [];
  private prompt: Int32Array = new Int32Array(0);
  private scratch: Float32Array;
  /** exp(logit - max) per candidate, reused by every draw. */
  private weights: Float64Array;

  constructor(
    readonly vocabSize: number,
    readonly options: SamplingOptions = {},
    private readonly processors: readonly LogitsProcessor[] = [],
  ) {
    validateSamplingOptions(options, vocabSize);
    this.seed = options.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    this.sampling = isSampling(options);
    this.bias = new Map(biasEntries(options.logitBias));
    this.scratch = new Float32Array(vocabSize);
    this.weights = new Float64Array(vocabSize);
  }

  /** Records the prompt (the repetition penalty covers it). Call once before the first sample. */
  setPrompt(ids: ArrayLike<number>): void {
    this.prompt = Int32Array.from(ids);
    for (let i = 0; i < ids.length; i++) this.seen.add(ids[i]!);
  }

  /** The ids generated so far. */
  get generatedIds(): readonly number[] {
    return this.generated;
  }

  /**
   * Chooses the next id from a row of logits (left untouched) and records it as generated.
   */
  sample(logits: Float32Array): SampledToken {
    if (logits.length < this.vocabSize) {
      throw new InvalidArgumentError(`sampler: logits row has ${logits.length} entries, expected ${this.vocabSize}`);
    }
    const o = this.options;
    const x = this.scratch;
    x.set(logits.length === this.vocabSize ? logits : logits.subarray(0, this.vocabSize));

    if (this.bias.size > 0) applyLogitBias(x, this.bias);
    if (o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1) applyRepetitionPenalty(x, this.seen, o.repetitionPenalty);
    const presence = o.presencePenalty ?? 0;
    const frequency = o.frequencyPenalty ?? 0;
    if ((presence !== 0 || frequency !== 0) && this.counts.size > 0) applyPresenceFrequency(x, this.counts, presence, frequency);
    for (const p of this.processors) p.process(x, { prompt: this.prompt, generated: this.generated });

    let candidates: Candidates | null = null;
    let id: number;
    if (this.sampling) {
      if (o.temperature !== undefined && o.temperature !== 1) applyTemperature(x, o.temperature);
      if (o.topK !== undefined && o.topK > 0) candidates = topKWarp(x, o.topK, candidates);
      if (o.topP !== undefined && o.topP < 1) candidates = topPWarp(x, o.topP, candidates);
      if (o.minP !== undefined && o.minP > 0) candidates = minPWarp(x, o.minP, candidates);
      id = this.draw(x, candidates);
    } else {
      id = argmax(x);
    }
    if (!(x[id]! > -Infinity)) {
      throw new InvalidArgumentError("sampler: every token was excluded (all logits are -Infinity after logit_bias/processors)");
    }

    let result: SampledToken = { id };
    if (o.logprobs || (o.topLogprobs ?? 0) > 0) {
      const lse = logSumExp(x, candidates);
      const top =
        (o.topLogprobs ?? 0) > 0
          ? Array.from(topIndices(x, o.topLogprobs!, candidates), (t) => ({ id: t, logprob: x[t]! - lse }))
          : undefined;
      result = top ? { id, logprob: x[id]! - lse, topLogprobs: top } : { id, logprob: x[id]! - lse };
    }
    this.record(id);
    return result;
  }

  /** Records an id chosen elsewhere (e.g. forced by a constraint) as generated. */
  record(id: number): void {
    this.generated.push(id);
    this.seen.add(id);
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  /** Inverse-CDF draw from softmax over the candidates (or every id), in candidate order. */
  private draw(x: Float32Array, candidates: Candidates | null): number {
    const ids = candidates ? candidates.ids : null;
    const n = ids ? ids.length : x.length;
    let m = -Infinity;
    for (let j = 0; j < n; j++) {
      const v = x[ids ? ids[j]! : j]!;
      if (v > m) m = v;
    }
    const e = this.weights;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const w = Math.exp(x[ids ? ids[j]! : j]! - m);
      e[j] = w;
      total += w;
    }
    const target = this.rng.next() * total;
    let acc = 0;
    let last = -1;
    for (let j = 0; j < n; j++) {
      const w = e[j]!;
      if (w === 0) continue;
      acc += w;
      last = ids ? ids[j]! : j;
      if (acc > target) return last;
    }
    // Rounding can leave target just above the running sum: the last live id is right.
    return last >= 0 ? last : argmax(x, candidates);
  }
}
