/**
 * The classes users reach for, named as in transformers and transformers.js, each loaded by
 * the one loader (`loadPretrained` in load.ts) with its tokenizer and config:
 *
 *   const lm = await Qwen2ForCausalLM.fromPretrained("models/Qwen2.5-0.5B-Instruct");
 *   const { text } = await lm.generate([{ role: "user", content: "Hi" }]); // generation_config.json + EOS union applied
 *   const clf = await Qwen2ForSequenceClassification.fromPretrained(dir);
 *   const [[top]] = await clf.classify(["great film"]);                    // { label, score, index }
 *   const any = await AutoModel.fromPretrained(dir);                        // the class config.json names
 *   lm.close();
 *
 * Each instance holds the architecture's model (`model`, from src/models/) and forwards to it;
 * `X.load(source, backend)` builds that bare model on a backend of your own (no tokenizer).
 */
import { InvalidArgumentError } from "../errors.js";
import type { GenerationConfig, ProblemType, Qwen2Config } from "../formats/config.js";
import { headLabels } from "../formats/config.js";
import type { Qwen2Architecture } from "../formats/qwen2_architectures.js";
import { resolveGenerationOptions } from "../generation/defaults.js";
import { generate, stream, type GenerateInput } from "../generation/generate.js";
import type { GenerationOptions, GenerationResult } from "../generation/sequence_generator.js";
import type { CausalLM, ForwardItem, ForwardOptions, SequenceCache } from "../models/causal_lm.js";
import { applyScoreFunction, bestSpans, scoreFunction, type ScoreFunction, type SpanOptions } from "../models/head_outputs.js";
import { Qwen2ForCausalLM as CausalLMModel, Qwen2Model as BackboneModel } from "../models/qwen2.js";
import {
  Qwen2ForQuestionAnswering as QuestionAnsweringModel,
  Qwen2ForSequenceClassification as SequenceClassificationModel,
  Qwen2ForTokenClassification as TokenClassificationModel,
  type PaddedInput,
  type QuestionAnsweringLogits,
  type SequenceClassification,
  type TokenClassification,
} from "../models/qwen2_heads.js";
import type { TextTokenizer } from "../tokenizer/types.js";
import { loadPretrained, type BackendName, type LoadedModel, type LoadOptions, type ModelSource, type Qwen2TaskModel } from "./load.js";
import { rerankPairIds, type RerankFormat } from "./rerank_format.js";

/** Text (encoded with the tokenizer's defaults) or token ids. */
export type TextInput = string | { readonly ids: ArrayLike<number> };

/** What every loaded class carries besides its model. */
abstract class Pretrained<M extends Qwen2TaskModel> {
  readonly tokenizer: TextTokenizer;
  readonly config: Qwen2Config;
  /** generation_config.json, or null when the folder has none. */
  readonly generationConfig: GenerationConfig | null;
  /** Union of EOS ids from generation_config.json, config.json and the tokenizer. */
  readonly eosIds: readonly number[];
  readonly architecture: Qwen2Architecture;
  /** The folder or file loaded (path, URL or name). */
  readonly path: string;
  readonly format: "hf-folder" | "gguf";
  readonly backend: BackendName;
  /** Odd but legal things the loader found (print them as warnings). */
  readonly warnings: readonly string[];
  readonly randomWeights: boolean;
  private readonly release: () => void;

  /** The architecture's model on its backend (src/models/). */
  readonly model: M;

  /** `loaded.model` is an M: the loader built the architecture this class names. */
  protected constructor(loaded: LoadedModel<Qwen2TaskModel>) {
    this.model = loaded.model as M;
    this.tokenizer = loaded.tokenizer;
    this.config = loaded.config;
    this.generationConfig = loaded.generationConfig;
    this.eosIds = loaded.eosIds;
    this.architecture = loaded.architecture ?? "Qwen2ForCausalLM";
    this.path = loaded.path;
    this.format = loaded.format;
    this.backend = loaded.backend;
    this.warnings = loaded.warnings ?? [];
    this.randomWeights = loaded.randomWeights;
    this.release = () => loaded.close();
  }

  /** Text → ids with the tokenizer (its own special-token settings); ids pass through. */
  protected encode(input: TextInput): number[] {
    if (typeof input === "string") return this.tokenizer.encode(input);
    return Array.from(input.ids);
  }

  /** Releases the weights, the backend's threads and any open files. */
  close(): void {
    this.release();
  }

  dispose(): void {
    this.close();
  }
}

/** Every class's `fromPretrained`: the one loader, asked for the class's architecture, then the class's `fromLoaded`. */
async function loadAs<T>(
  source: ModelSource,
  options: LoadOptions,
  architecture: Qwen2Architecture,
  fromLoaded: (loaded: LoadedModel<Qwen2TaskModel>) => T,
): Promise<T> {
  return fromLoaded(await loadPretrained(source, options, architecture));
}

/** Qwen2 as a language model: generation with the folder's defaults, and the CausalLM interface the server and `generate` take. */
export class Qwen2ForCausalLM extends Pretrained<CausalLMModel> implements CausalLM {
  /** Builds the bare model (no tokenizer) from a config and weights on a backend you made. */
  static readonly load = CausalLMModel.load;

  /** A Hugging Face folder or GGUF file (URL, path, Files, ModelFiles) as a causal LM. */
  static fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2ForCausalLM> {
    return loadAs(source, options, "Qwen2ForCausalLM", Qwen2ForCausalLM.fromLoaded);
  }

  /** @internal AutoModel and the CLI wrap a load they made. */
  static fromLoaded(loaded: LoadedModel<Qwen2TaskModel>): Qwen2ForCausalLM {
    return new Qwen2ForCausalLM(loaded);
  }

  get vocabSize(): number {
    return this.model.vocabSize;
  }
  get maxContext(): number {
    return this.model.maxContext;
  }
  createCache(capacity: number): SequenceCache {
    return this.model.createCache(capacity);
  }
  forward(items: readonly ForwardItem[], options?: ForwardOptions): Promise<Float32Array[]> {
    return this.model.forward(items, options);
  }
  /** Final-normed hidden states of every new token of each item (what /v1/embeddings pools). */
  hiddenStates(items: readonly ForwardItem[]): Promise<Float32Array[]> {
    return this.model.hiddenStates(items);
  }

  /**
   * `options` over the folder's defaults: generation_config.json's sampling fields (each
   * overridden by the caller's, see generation/defaults.ts) and the EOS union.
   */
  generationOptions(options: GenerationOptions = {}): GenerationOptions {
    const defaults = resolveGenerationOptions(this.generationConfig, options);
    return {
      ...options,
      ...defaults,
      ...(options.doSample !== undefined ? { doSample: options.doSample } : {}),
      eosIds: options.eosIds ?? this.eosIds,
    };
  }

  /** Generates to the end (text, chat messages or ids) with the folder's generation defaults. */
  generate(input: GenerateInput, options: GenerationOptions = {}): Promise<GenerationResult> {
    return generate(this.model, this.tokenizer, input, this.generationOptions(options));
  }

  /** Streams the generated text with the folder's generation defaults. */
  stream(input: GenerateInput, options: GenerationOptions = {}): AsyncGenerator<string, GenerationResult, void> {
    return stream(this.model, this.tokenizer, input, this.generationOptions(options));
  }
}

/** The decoder stack alone: hidden states (embedding models, feature extraction). */
export class Qwen2Model extends Pretrained<BackboneModel> {
  static readonly load = BackboneModel.load;

  /** A folder's decoder stack (its backbone under `model.` or bare, as transformers accepts; any head is left out). */
  static fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2Model> {
    return loadAs(source, options, "Qwen2Model", Qwen2Model.fromLoaded);
  }

  /** @internal */
  static fromLoaded(loaded: LoadedModel<Qwen2TaskModel>): Qwen2Model {
    return new Qwen2Model(loaded);
  }

  /**
   * Hidden states of every token of `input`: the final-normed ones ([tokens * hidden], the
   * default), or with `layers: "all"` transformers' `output_hidden_states` (num_hidden_layers + 1
   * arrays: the embeddings, each layer's output but the last, the final-normed states).
   */
  hiddenStates(input: TextInput, options?: { readonly layers?: "last" }): Promise<Float32Array>;
  hiddenStates(input: TextInput, options: { readonly layers: "all" }): Promise<Float32Array[]>;
  async hiddenStates(input: TextInput, options: { readonly layers?: "last" | "all" } = {}): Promise<Float32Array | Float32Array[]> {
    const ids = Int32Array.from(this.encode(input));
    if (ids.length === 0) throw new InvalidArgumentError("hiddenStates: the input has no tokens");
    const cache = this.model.createCache(ids.length);
    try {
      if (options.layers === "all") return (await this.model.allHiddenStates([{ ids, cache }]))[0]!;
      return (await this.model.hiddenStates([{ ids, cache }]))[0]!;
    } finally {
      cache.dispose();
    }
  }
}

/** A label and its score (by the model's problem_type: softmax, sigmoid or raw). */
export interface LabelScore {
  readonly label: string;
  /** Index of the label (id2label key). */
  readonly index: number;
  readonly score: number;
}

export interface ClassifyOptions {
  /** Labels per input, best first (default: all). */
  readonly topK?: number;
  /** Override the score function the problem_type picks (the pipeline's `function_to_apply`). */
  readonly functionToApply?: ScoreFunction;
}

export interface RerankOptions extends RerankFormat {
  /** Results to return, best first (default: all). */
  readonly topN?: number;
}

/** One document's place in a reranking. */
export interface RerankResult {
  /** The document's index in the list given. */
  readonly index: number;
  /** Its score (sigmoid of the logit for a one-label model; the raw logit with problem_type "regression"). */
  readonly relevanceScore: number;
  /** The raw logit. */
  readonly logit: number;
}

/** Classifiers, reward models and rerankers: one score row per input. */
export class Qwen2ForSequenceClassification extends Pretrained<SequenceClassificationModel> {
  static readonly load = SequenceClassificationModel.load;

  static fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2ForSequenceClassification> {
    return loadAs(source, options, "Qwen2ForSequenceClassification", Qwen2ForSequenceClassification.fromLoaded);
  }

  /** @internal */
  static fromLoaded(loaded: LoadedModel<Qwen2TaskModel>): Qwen2ForSequenceClassification {
    return new Qwen2ForSequenceClassification(loaded);
  }

  /** Label names by index (`id2label`). */
  get labels(): readonly string[] {
    return headLabels(this.config);
  }
  get problemType(): ProblemType | null {
    return this.config.problem_type ?? null;
  }
  /** How logits become scores here: the text-classification pipeline's choice. */
  get scoreFunction(): ScoreFunction {
    return scoreFunction(this.problemType, this.labels.length);
  }

  /** Raw logits of unpadded token rows, each as transformers computes it alone. */
  forward(rows: readonly ArrayLike<number>[]): Promise<SequenceClassification[]> {
    return this.model.forward(rows);
  }
  /** transformers' batched call on a padded batch (pad-id pooling, batch > 1 needs a pad id). */
  forwardPadded(batch: PaddedInput): Promise<SequenceClassification[]> {
    return this.model.forwardPadded(batch);
  }

  /** Scores every label of each input, best first, as the text-classification pipeline does. */
  classify(input: TextInput, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(inputs: readonly TextInput[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  async classify(inputs: TextInput | readonly TextInput[], options: ClassifyOptions = {}): Promise<LabelScore[] | LabelScore[][]> {
    const many = Array.isArray(inputs);
    const list = (many ? inputs : [inputs]) as readonly TextInput[];
    const rows = list.map((x, i) => {
      const ids = this.encode(x);
      if (ids.length === 0) throw new InvalidArgumentError(`input ${i} has no tokens`);
      return ids;
    });
    const out = await this.model.forward(rows);
    const fn = options.functionToApply ?? this.scoreFunction;
    const labels = this.labels;
    const ranked = out.map((r) =>
      applyScoreFunction(r.logits, fn)
        .map((score, index) => ({ label: labels[index] ?? `LABEL_${index}`, index, score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, options.topK ?? labels.length),
    );
    return many ? ranked : ranked[0]!;
  }

  /**
   * Scores each document against the query (a reranker: a one-label model) and returns them
   * best first. Pairs are formatted by `options.template` (see rerank_format.ts).
   */
  async rerank(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<RerankResult[]> {
    if (this.labels.length !== 1)
      throw new InvalidArgumentError(`rerank needs a one-label sequence classification model; this one has ${this.labels.length} labels`);
    if (documents.length === 0) return [];
    const rows = documents.map((d) => rerankPairIds(this.tokenizer, query, d, options));
    const out = await this.model.forward(rows);
    const fn = this.scoreFunction;
    const results = out.map((r, index) => ({ index, logit: r.logits[0]!, relevanceScore: applyScoreFunction(r.logits, fn)[0]! }));
    results.sort((a, b) => b.relevanceScore - a.relevanceScore);
    return results.slice(0, options.topN ?? results.length);
  }
}

/** One token's label, as the token-classification pipeline reports it (no aggregation). */
export interface TokenLabel {
  /** Position of the token in the input. */
  readonly index: number;
  /** The token's text. */
  readonly word: string;
  readonly entity: string;
  /** Softmax probability of that label. */
  readonly score: number;
}

/** Taggers: one label per token. */
export class Qwen2ForTokenClassification extends Pretrained<TokenClassificationModel> {
  static readonly load = TokenClassificationModel.load;

  static fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2ForTokenClassification> {
    return loadAs(source, options, "Qwen2ForTokenClassification", Qwen2ForTokenClassification.fromLoaded);
  }

  /** @internal */
  static fromLoaded(loaded: LoadedModel<Qwen2TaskModel>): Qwen2ForTokenClassification {
    return new Qwen2ForTokenClassification(loaded);
  }

  get labels(): readonly string[] {
    return headLabels(this.config);
  }

  forward(rows: readonly ArrayLike<number>[]): Promise<TokenClassification[]> {
    return this.model.forward(rows);
  }
  forwardPadded(batch: PaddedInput): Promise<TokenClassification[]> {
    return this.model.forwardPadded(batch);
  }

  /** Each token's most likely label and its softmax score; labels in `ignoreLabels` (default ["O"]) are left out, as in the pipeline. */
  async classifyTokens(input: TextInput, options: { readonly ignoreLabels?: readonly string[] } = {}): Promise<TokenLabel[]> {
    const ids = this.encode(input);
    if (ids.length === 0) throw new InvalidArgumentError("the input has no tokens");
    const [out] = await this.model.forward([ids]);
    const labels = this.labels;
    const k = labels.length;
    const ignore = new Set(options.ignoreLabels ?? ["O"]);
    const result: TokenLabel[] = [];
    ids.forEach((id, t) => {
      const probs = applyScoreFunction(out!.logits.subarray(t * k, (t + 1) * k), "softmax");
      let best = 0;
      for (let j = 1; j < k; j++) if (probs[j]! > probs[best]!) best = j;
      const entity = labels[best]!;
      if (!ignore.has(entity)) result.push({ index: t, word: this.tokenizer.decode([id]), entity, score: probs[best]! });
    });
    return result;
  }
}

/** An answer the question-answering pipeline would give. */
export interface QuestionAnswer {
  /** The context's text for the span ("" for no answer). */
  readonly answer: string;
  readonly score: number;
  /** Character offsets of the answer in the context (0, 0 for no answer). */
  readonly start: number;
  readonly end: number;
  /** Token positions of the span in the context's tokens (inclusive; -1 for no answer). */
  readonly startToken: number;
  readonly endToken: number;
}

/** Extractive question answering: start and end logits over question + context. */
export class Qwen2ForQuestionAnswering extends Pretrained<QuestionAnsweringModel> {
  static readonly load = QuestionAnsweringModel.load;

  static fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2ForQuestionAnswering> {
    return loadAs(source, options, "Qwen2ForQuestionAnswering", Qwen2ForQuestionAnswering.fromLoaded);
  }

  /** @internal */
  static fromLoaded(loaded: LoadedModel<Qwen2TaskModel>): Qwen2ForQuestionAnswering {
    return new Qwen2ForQuestionAnswering(loaded);
  }

  forward(rows: readonly ArrayLike<number>[]): Promise<QuestionAnsweringLogits[]> {
    return this.model.forward(rows);
  }
  forwardPadded(batch: PaddedInput): Promise<QuestionAnsweringLogits[]> {
    return this.model.forwardPadded(batch);
  }

  /**
   * The best answers to `question` in `context`, as the question-answering pipeline picks
   * them: the pair is the question's tokens then the context's (the Qwen2 tokenizer adds
   * nothing between), spans inside the context only, start <= end, at most `maxAnswerLen`
   * tokens (default 15). The whole context runs in one pass (no doc_stride windows).
   */
  async answer(question: string, context: string, options: SpanOptions = {}): Promise<QuestionAnswer[]> {
    const q = this.tokenizer.encode(question);
    const c = this.tokenizer.encode(context);
    if (c.length === 0) throw new InvalidArgumentError("answer: the context has no tokens");
    const [out] = await this.model.forward([[...q, ...c]]);
    const spans = bestSpans(out!.startLogits, out!.endLogits, q.length, q.length + c.length, options);
    return spans.map((s) => {
      if (s.start < 0) return { answer: "", score: s.score, start: 0, end: 0, startToken: -1, endToken: -1 };
      const first = s.start - q.length;
      const last = s.end - q.length;
      const before = this.tokenizer.decode(c.slice(0, first));
      const text = this.tokenizer.decode(c.slice(first, last + 1));
      // Offsets from decoded prefixes: exact whenever decoding the context gives it back.
      const start = context.startsWith(before) ? before.length : context.indexOf(text);
      return { answer: text, score: s.score, start, end: start < 0 ? -1 : start + text.length, startToken: first, endToken: last };
    });
  }
}

/** Any class `AutoModel.fromPretrained` returns. */
export type Qwen2Pretrained =
  | Qwen2ForCausalLM
  | Qwen2Model
  | Qwen2ForSequenceClassification
  | Qwen2ForTokenClassification
  | Qwen2ForQuestionAnswering;

/** Loads a folder as the class its config.json `architectures` names (GGUF files: Qwen2ForCausalLM). */
export class AutoModel {
  private constructor() {}

  static async fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<Qwen2Pretrained> {
    const loaded = await loadPretrained(source, options, "auto");
    return CLASSES[loaded.architecture ?? "Qwen2ForCausalLM"](loaded);
  }
}

/** The class each architecture name loads as (every name, or this fails to compile). */
const CLASSES: { readonly [A in Qwen2Architecture]: (loaded: LoadedModel<Qwen2TaskModel>) => Qwen2Pretrained } = {
  Qwen2ForCausalLM: Qwen2ForCausalLM.fromLoaded,
  Qwen2Model: Qwen2Model.fromLoaded,
  Qwen2ForSequenceClassification: Qwen2ForSequenceClassification.fromLoaded,
  Qwen2ForTokenClassification: Qwen2ForTokenClassification.fromLoaded,
  Qwen2ForQuestionAnswering: Qwen2ForQuestionAnswering.fromLoaded,
};
