/**
 * The task heads transformers defines for Qwen2, on the same decoder stack (Qwen2Model) and
 * any backend. Each reads the final-normed hidden states; none has an LM head.
 *
 *   Qwen2ForSequenceClassification   logits = h[pooled] Wscore          [labels]
 *   Qwen2ForTokenClassification      logits = h Wscore + b              [T, labels]
 *   Qwen2ForQuestionAnswering        start, end = split(h Wqa + b)      [T], [T]
 *
 * Two ways to call each:
 * - `forward(rows)`: unpadded token rows, each computed as transformers computes that row
 *   alone (a batch of one). Rows still share the backbone's matrix products.
 * - `forwardPadded({ inputIds, attentionMask })`: transformers' batched call on a padded
 *   batch, with its quirks. Sequence classification pools the rightmost position whose id
 *   differs from `pad_token_id` whatever the mask says, and refuses a batch of more than one
 *   row when there is no pad id. Positions are 0..T-1 in every row (a plain forward call,
 *   not generate's cumsum), which for a left-padded row is its unpadded computation shifted
 *   by a constant: RoPE depends only on position differences, so the rows run unpadded.
 */
import { FormatError, InvalidArgumentError } from "../errors.js";
import type { Backend, Weight } from "../backends/ops.js";
import { headLabels, type ProblemType, type Qwen2Config } from "../formats/config.js";
import { backboneView, qwen2HeadTensors, type Qwen2Architecture } from "../formats/qwen2_architectures.js";
import type { ExpectedTensor } from "../formats/qwen2_tensors.js";
import { tensorReader, type WeightSource } from "../formats/weights.js";
import { Qwen2Model, type Qwen2LoadOptions, type Qwen2Source } from "./qwen2.js";

/** A padded batch as transformers takes it: rows of equal length and a 0/1 attention mask. */
export interface PaddedInput {
  /** [batch, seq] token ids, padded. */
  readonly inputIds: readonly (readonly number[])[];
  /** [batch, seq]: 1 for a real token, 0 for padding (one block of 1s per row). */
  readonly attentionMask: readonly (readonly number[])[];
}

/** A row of a padded batch: its real tokens and where they sit. */
interface PaddedRow {
  readonly ids: Int32Array;
  /** Padded index of the first real token (0 for right padding). */
  readonly start: number;
}

/** Splits a padded batch into its rows' real tokens, checking shapes and the mask. */
function unpad(batch: PaddedInput): PaddedRow[] {
  const { inputIds, attentionMask } = batch;
  if (inputIds.length === 0) throw new InvalidArgumentError("input_ids has no rows");
  if (inputIds.length !== attentionMask.length)
    throw new InvalidArgumentError(`input_ids has ${inputIds.length} rows, attention_mask ${attentionMask.length}`);
  const width = inputIds[0]!.length;
  return inputIds.map((row, r) => {
    const mask = attentionMask[r]!;
    if (row.length !== width) throw new InvalidArgumentError(`input_ids row ${r} has ${row.length} columns, row 0 has ${width}`);
    if (mask.length !== width) throw new InvalidArgumentError(`attention_mask row ${r} has ${mask.length} columns, input_ids ${width}`);
    mask.forEach((m, c) => {
      if (m !== 0 && m !== 1) throw new InvalidArgumentError(`attention_mask[${r}][${c}] is ${m}, expected 0 or 1`);
    });
    const start = mask.indexOf(1);
    const end = mask.lastIndexOf(1) + 1;
    if (start < 0) throw new InvalidArgumentError(`attention_mask row ${r} has no real token`);
    if (mask.slice(start, end).includes(0))
      throw new InvalidArgumentError(
        `attention_mask row ${r} has padding between real tokens (at ${mask.indexOf(0, start)}); pad on one side`,
      );
    return { ids: Int32Array.from(row.slice(start, end)), start };
  });
}

function checkRows(rows: readonly ArrayLike<number>[]): Int32Array[] {
  if (rows.length === 0) throw new InvalidArgumentError("no rows to run");
  return rows.map((r, i) => {
    if (r.length === 0) throw new InvalidArgumentError(`row ${i} has no tokens`);
    return Int32Array.from(r);
  });
}

/**
 * Final-normed hidden states of each row ([length * hidden]), all rows through one batched
 * backbone call, each in a throwaway cache of its own length.
 */
export async function rowHiddenStates(model: Qwen2Model, rows: readonly Int32Array[]): Promise<Float32Array[]> {
  const caches = rows.map((r) => model.createCache(r.length));
  try {
    return await model.hiddenStates(rows.map((ids, i) => ({ ids, cache: caches[i]! })));
  } finally {
    for (const c of caches) c.dispose();
  }
}

/** Most rows a head multiplies at once (bounds its activation buffers for long inputs). */
const HEAD_ROWS = 512;

/** A linear layer [out, hidden] (+ bias) run on the backend over gathered hidden-state rows. */
class LinearHead {
  constructor(
    private readonly backend: Backend,
    readonly weight: Weight,
    readonly bias: Weight | null,
  ) {}

  get outputs(): number {
    return this.weight.shape[0]!;
  }

  /** rows [n * hidden] → [n * outputs], in pieces of at most HEAD_ROWS rows. */
  async apply(rows: Float32Array, hidden: number): Promise<Float32Array> {
    const n = rows.length / hidden;
    const k = this.outputs;
    const out = new Float32Array(n * k);
    if (n === 0) return out;
    const b = this.backend;
    const piece = Math.min(n, HEAD_ROWS);
    const x = b.alloc(piece, hidden);
    const y = b.alloc(piece, k);
    try {
      for (let r = 0; r < n; r += piece) {
        const m = Math.min(piece, n - r);
        b.write(x, rows.subarray(r * hidden, (r + m) * hidden));
        b.matmul(y, x, this.weight, this.bias, m);
        await b.readInto(y, 0, m, out, r * k);
      }
      return out;
    } finally {
      b.free(x);
      b.free(y);
    }
  }

  dispose(): void {
    this.backend.free(this.weight);
    if (this.bias) this.backend.free(this.bias);
  }
}

/** Loads the backbone, then the head tensors of `architecture` (shapes checked, named as stored). */
async function loadWithHead(
  source: Qwen2Source,
  backend: Backend,
  options: Qwen2LoadOptions,
  architecture: Qwen2Architecture,
): Promise<{ model: Qwen2Model; head: LinearHead }> {
  const weights = backboneView(source.weights, source.config, architecture);
  const specs = qwen2HeadTensors(source.config, architecture);
  // Check the head before the (much larger) backbone is uploaded.
  for (const spec of specs) checkTensor(weights, spec, architecture);
  const model = await Qwen2Model.load({ config: source.config, weights }, backend, options);
  try {
    const uploaded: Weight[] = [];
    for (const spec of specs) uploaded.push(await backend.upload(await tensorReader(weights, spec.name, options.signal)));
    return { model, head: new LinearHead(backend, uploaded[0]!, uploaded[1] ?? null) };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

function checkTensor(weights: WeightSource, { name, shape }: ExpectedTensor, architecture: Qwen2Architecture): void {
  if (!weights.has(name))
    throw new FormatError(weights.location, `missing tensor ${name} (shape [${shape.join(", ")}]), which ${architecture} needs`);
  const found = weights.info(name).shape;
  if (found.length !== shape.length || found.some((d, i) => d !== shape[i]))
    throw new FormatError(weights.location, `tensor ${name} has shape [${found.join(", ")}], expected [${shape.join(", ")}]`);
}

/** Shared by the three heads: the backbone, the head and their lifetime. */
abstract class Qwen2Head {
  private disposed = false;

  protected constructor(
    /** The decoder stack (final-normed hidden states). */
    readonly model: Qwen2Model,
    protected readonly head: LinearHead,
  ) {}

  get config(): Qwen2Config {
    return this.model.config;
  }

  /** Hidden states of each row, checked for use after dispose. */
  protected async hidden(rows: readonly Int32Array[]): Promise<Float32Array[]> {
    if (this.disposed) throw new InvalidArgumentError("model used after dispose()");
    return rowHiddenStates(this.model, rows);
  }

  /** The head on every token of every row, in one product: [total tokens * outputs]. */
  protected async everyPosition(rows: readonly Int32Array[]): Promise<Float32Array> {
    const states = await this.hidden(rows);
    const all = new Float32Array(states.reduce((n, s) => n + s.length, 0));
    let at = 0;
    for (const s of states) {
      all.set(s, at);
      at += s.length;
    }
    return this.head.apply(all, this.config.hidden_size);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.head.dispose();
    this.model.dispose();
  }
}

/** One row's sequence-classification result. */
export interface SequenceClassification {
  /** [num_labels] raw logits. */
  readonly logits: Float32Array;
  /** The position pooled: in the row given to forward(), or in the padded row for forwardPadded(). */
  readonly pooledPosition: number;
}

/**
 * The position transformers pools in a row: the rightmost whose id differs from `padId`
 * (the last one with no pad id). A row of nothing but pad ids pools position 0, as
 * transformers' argmax over an all-zero mask does.
 */
export function pooledPosition(ids: ArrayLike<number>, padId: number | null): number {
  if (padId === null) return ids.length - 1;
  for (let i = ids.length - 1; i >= 0; i--) if (ids[i] !== padId) return i;
  return 0;
}

/** Qwen2 with a score head on one pooled position: classifiers, reward models, rerankers. */
export class Qwen2ForSequenceClassification extends Qwen2Head {
  static async load(source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions = {}): Promise<Qwen2ForSequenceClassification> {
    const { model, head } = await loadWithHead(source, backend, options, "Qwen2ForSequenceClassification");
    return new Qwen2ForSequenceClassification(model, head);
  }

  /** Label names by index (`id2label`); their count is num_labels. */
  get labels(): readonly string[] {
    return headLabels(this.config);
  }

  get problemType(): ProblemType | null {
    return this.config.problem_type ?? null;
  }

  /** Each row as transformers computes it alone. */
  async forward(rows: readonly ArrayLike<number>[]): Promise<SequenceClassification[]> {
    const ids = checkRows(rows);
    const pad = this.config.pad_token_id;
    return this.pool(
      ids,
      ids.map((r) => pooledPosition(r, pad)),
      ids.map((r) => pooledPosition(r, pad)),
    );
  }

  /** transformers' batched call: pools by pad id on the padded rows, refuses batch > 1 without one. */
  async forwardPadded(batch: PaddedInput): Promise<SequenceClassification[]> {
    const rows = unpad(batch);
    const pad = this.config.pad_token_id;
    if (pad === null && rows.length > 1)
      throw new InvalidArgumentError(
        `a batch of ${rows.length} rows needs a pad token to find each row's last token, and config.json has no pad_token_id (as in transformers: "Cannot handle batch sizes > 1 if no padding token is defined")`,
      );
    const padded = batch.inputIds.map((row) => pooledPosition(row, pad));
    const real = padded.map((p, r) => {
      const at = p - rows[r]!.start;
      if (at < 0 || at >= rows[r]!.ids.length)
        throw new InvalidArgumentError(
          `row ${r}: the position to pool (${p}, the rightmost whose id is not pad_token_id ${pad}) is padding in attention_mask; pad with pad_token_id`,
        );
      return at;
    });
    return this.pool(
      rows.map((r) => r.ids),
      real,
      padded,
    );
  }

  private async pool(rows: Int32Array[], at: readonly number[], reported: readonly number[]): Promise<SequenceClassification[]> {
    const states = await this.hidden(rows);
    const h = this.config.hidden_size;
    const gathered = new Float32Array(rows.length * h);
    states.forEach((s, r) => gathered.set(s.subarray(at[r]! * h, (at[r]! + 1) * h), r * h));
    const logits = await this.head.apply(gathered, h);
    const k = this.head.outputs;
    return rows.map((_, r) => ({ logits: logits.slice(r * k, (r + 1) * k), pooledPosition: reported[r]! }));
  }
}

/** One row's token-classification result. */
export interface TokenClassification {
  /** [count * num_labels] logits, one row per real token. */
  readonly logits: Float32Array;
  /** Padded index of each real token (forwardPadded), or 0..count-1 (forward). */
  readonly positions: readonly number[];
}

/** Qwen2 with a score head (with bias) on every position: taggers. */
export class Qwen2ForTokenClassification extends Qwen2Head {
  static async load(source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions = {}): Promise<Qwen2ForTokenClassification> {
    const { model, head } = await loadWithHead(source, backend, options, "Qwen2ForTokenClassification");
    return new Qwen2ForTokenClassification(model, head);
  }

  get labels(): readonly string[] {
    return headLabels(this.config);
  }

  async forward(rows: readonly ArrayLike<number>[]): Promise<TokenClassification[]> {
    const ids = checkRows(rows);
    return this.run(
      ids,
      ids.map(() => 0),
    );
  }

  async forwardPadded(batch: PaddedInput): Promise<TokenClassification[]> {
    const rows = unpad(batch);
    return this.run(
      rows.map((r) => r.ids),
      rows.map((r) => r.start),
    );
  }

  private async run(rows: Int32Array[], starts: readonly number[]): Promise<TokenClassification[]> {
    const k = this.head.outputs;
    const logits = await this.everyPosition(rows);
    let at = 0;
    return rows.map((r, i) => {
      const out = { logits: logits.slice(at * k, (at + r.length) * k), positions: Array.from(r, (_, t) => starts[i]! + t) };
      at += r.length;
      return out;
    });
  }
}

/** One row's question-answering logits. */
export interface QuestionAnsweringLogits {
  /** [count] per real token. */
  readonly startLogits: Float32Array;
  readonly endLogits: Float32Array;
  /** Padded index of each real token (forwardPadded), or 0..count-1 (forward). */
  readonly positions: readonly number[];
}

/** Qwen2 with a span head: start and end logits per position (backbone stored under `transformer.`). */
export class Qwen2ForQuestionAnswering extends Qwen2Head {
  static async load(source: Qwen2Source, backend: Backend, options: Qwen2LoadOptions = {}): Promise<Qwen2ForQuestionAnswering> {
    const { model, head } = await loadWithHead(source, backend, options, "Qwen2ForQuestionAnswering");
    return new Qwen2ForQuestionAnswering(model, head);
  }

  async forward(rows: readonly ArrayLike<number>[]): Promise<QuestionAnsweringLogits[]> {
    const ids = checkRows(rows);
    return this.run(
      ids,
      ids.map(() => 0),
    );
  }

  async forwardPadded(batch: PaddedInput): Promise<QuestionAnsweringLogits[]> {
    const rows = unpad(batch);
    return this.run(
      rows.map((r) => r.ids),
      rows.map((r) => r.start),
    );
  }

  private async run(rows: Int32Array[], starts: readonly number[]): Promise<QuestionAnsweringLogits[]> {
    const both = await this.everyPosition(rows); // [tokens, 2]: start, end
    let at = 0;
    return rows.map((r, i) => {
      const n = r.length;
      const startLogits = new Float32Array(n);
      const endLogits = new Float32Array(n);
      for (let t = 0; t < n; t++) {
        startLogits[t] = both[2 * (at + t)]!;
        endLogits[t] = both[2 * (at + t) + 1]!;
      }
      at += n;
      return { startLogits, endLogits, positions: Array.from({ length: n }, (_, t) => starts[i]! + t) };
    });
  }
}
