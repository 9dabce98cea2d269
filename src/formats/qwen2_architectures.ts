/**
 * The Qwen2 classes transformers defines, what each adds to the decoder stack, and where
 * each keeps that stack in a checkpoint.
 *
 *   class                            head tensors                               backbone under
 *   Qwen2ForCausalLM                 lm_head.weight [vocab, hidden] (or tied)   model.
 *   Qwen2Model                       none                                       (bare)
 *   Qwen2ForSequenceClassification   score.weight [labels, hidden]              model.
 *   Qwen2ForTokenClassification      score.weight [labels, hidden], score.bias  model.
 *   Qwen2ForQuestionAnswering        qa_outputs.weight [2, hidden], .bias       transformer.
 *
 * transformers loads a checkpoint whose backbone is stored under the class's prefix or
 * bare (a Qwen2Model checkpoint into a head class, a head checkpoint into Qwen2Model), so
 * `backboneView` accepts both and presents the backbone under the one name model code uses,
 * `model.`. Head tensors keep their names.
 */
import { FormatError } from "../errors.js";
import type { Qwen2Config } from "./config.js";
import { headLabels } from "./config.js";
import type { ExpectedTensor } from "./qwen2_tensors.js";
import type { HostTensor, TensorInfo, WeightSource } from "./weights.js";

export const QWEN2_ARCHITECTURES = [
  "Qwen2ForCausalLM",
  "Qwen2Model",
  "Qwen2ForSequenceClassification",
  "Qwen2ForTokenClassification",
  "Qwen2ForQuestionAnswering",
] as const;

export type Qwen2Architecture = (typeof QWEN2_ARCHITECTURES)[number];

export function isQwen2Architecture(name: string): name is Qwen2Architecture {
  return (QWEN2_ARCHITECTURES as readonly string[]).includes(name);
}

/**
 * The class a config asks for: the first of its `architectures` that is a Qwen2 class, else
 * Qwen2ForCausalLM (configs without the field, GGUF files).
 */
export function configArchitecture(config: Qwen2Config): Qwen2Architecture {
  return config.architectures?.find(isQwen2Architecture) ?? "Qwen2ForCausalLM";
}

/** transformers' `base_model_prefix` of each class: where its checkpoints keep the decoder stack. */
export function backbonePrefix(architecture: Qwen2Architecture): string {
  if (architecture === "Qwen2ForQuestionAnswering") return "transformer.";
  if (architecture === "Qwen2Model") return "";
  return "model.";
}

/** The tensors a class adds to the decoder stack (lm_head.weight is optional when tied). */
export function qwen2HeadTensors(config: Qwen2Config, architecture: Qwen2Architecture): ExpectedTensor[] {
  const h = config.hidden_size;
  const labels = headLabels(config).length;
  switch (architecture) {
    case "Qwen2ForCausalLM":
      return [{ name: "lm_head.weight", shape: [config.vocab_size, h], required: !config.tie_word_embeddings }];
    case "Qwen2Model":
      return [];
    case "Qwen2ForSequenceClassification":
      return [{ name: "score.weight", shape: [labels, h], required: true }];
    case "Qwen2ForTokenClassification":
      return [
        { name: "score.weight", shape: [labels, h], required: true },
        { name: "score.bias", shape: [labels], required: true },
      ];
    case "Qwen2ForQuestionAnswering":
      return [
        { name: "qa_outputs.weight", shape: [2, h], required: true },
        { name: "qa_outputs.bias", shape: [2], required: true },
      ];
  }
}

/** The canonical prefix of backbone tensors in model code (formats/qwen2_tensors.ts). */
const CANONICAL = "model.";
const BACKBONE_PROBE = "embed_tokens.weight";
/** What a bare (Qwen2Model) checkpoint's backbone tensor names start with. */
const BARE_BACKBONE = ["embed_tokens.", "layers.", "norm."];

/**
 * The prefix the backbone is stored under in `source` for `architecture`: the class's own
 * prefix or none, as transformers accepts. When neither holds the embedding table, the
 * class's own prefix (so that errors name the tensors the class expects).
 */
export function storedBackbonePrefix(source: WeightSource, architecture: Qwen2Architecture): string {
  const own = backbonePrefix(architecture);
  // A head class loading a bare Qwen2Model checkpoint, or Qwen2Model loading a head class's.
  const accepted = architecture === "Qwen2Model" ? ["", "model."] : [own, ""];
  return accepted.find((p) => source.has(p + BACKBONE_PROBE)) ?? own;
}

/**
 * `source` with its backbone tensors renamed to `model.*` (from `transformer.*` or bare), so
 * that model code reads one set of names whatever class saved the checkpoint. Other tensors
 * (heads, extras) keep their names. `storedName` maps a name back for messages.
 */
export class BackboneView implements WeightSource {
  readonly location: string;
  readonly readInto?: WeightSource["readInto"];

  constructor(
    readonly source: WeightSource,
    /** Where the backbone is stored: "model.", "transformer." or "". */
    readonly prefix: string,
    /** Head tensor names, which never count as backbone tensors (matters for the bare prefix). */
    private readonly headNames: ReadonlySet<string>,
  ) {
    this.location = source.location;
    const readInto = source.readInto?.bind(source);
    if (readInto) this.readInto = (name, dest, offset, signal) => readInto(this.storedName(name), dest, offset, signal);
  }

  /** The name a canonical (`model.*`) tensor has in the file. */
  storedName(name: string): string {
    if (this.prefix === CANONICAL || !name.startsWith(CANONICAL)) return name;
    return this.prefix + name.slice(CANONICAL.length);
  }

  /** The canonical name of a stored tensor: backbone tensors under `model.`, others as stored. */
  private canonicalName(stored: string): string {
    if (this.prefix === CANONICAL || this.headNames.has(stored)) return stored;
    if (this.prefix === "") return BARE_BACKBONE.some((stem) => stored.startsWith(stem)) ? CANONICAL + stored : stored;
    return stored.startsWith(this.prefix) ? CANONICAL + stored.slice(this.prefix.length) : stored;
  }

  names(): string[] {
    return this.source.names().map((n) => this.canonicalName(n));
  }
  has(name: string): boolean {
    if (this.prefix !== CANONICAL && name.startsWith(CANONICAL) && !this.headNames.has(name)) return this.source.has(this.storedName(name));
    return this.source.has(name) && this.canonicalName(name) === name;
  }
  info(name: string): TensorInfo {
    if (!this.has(name)) throw new FormatError(this.location, `no tensor ${this.storedName(name)}`);
    return { ...this.source.info(this.storedName(name)), name };
  }
  async read(name: string): Promise<HostTensor> {
    if (!this.has(name)) throw new FormatError(this.location, `no tensor ${this.storedName(name)}`);
    return { ...(await this.source.read(this.storedName(name))), name };
  }
  close(): void {
    this.source.close();
  }
}

/** The source seen with the backbone under `model.` for `architecture` (the source itself when already so, or already a view). */
export function backboneView(source: WeightSource, config: Qwen2Config, architecture: Qwen2Architecture): WeightSource {
  if (source instanceof BackboneView) return source;
  const prefix = storedBackbonePrefix(source, architecture);
  if (prefix === CANONICAL) return source;
  return new BackboneView(source, prefix, new Set(qwen2HeadTensors(config, architecture).map((t) => t.name)));
}
