/**
 * What transformers' pipelines make of the heads' logits: classification scores by
 * `problem_type` (text-classification pipeline) and the best answer spans (question-answering
 * pipeline). Plain functions over numbers, so any caller (library, server, CLI) gets the
 * pipeline's answer from the same logits.
 */
import { InvalidArgumentError } from "../errors.js";
import type { ProblemType } from "../formats/config.js";

/** How logits become scores. */
export type ScoreFunction = "softmax" | "sigmoid" | "none";

/**
 * The text-classification pipeline's choice, in its order: regression → raw logits;
 * multi-label or a single label → sigmoid; single-label or several labels → softmax.
 */
export function scoreFunction(problemType: ProblemType | null, numLabels: number): ScoreFunction {
  if (problemType === "regression") return "none";
  if (problemType === "multi_label_classification" || numLabels === 1) return "sigmoid";
  return "softmax";
}

/** Scores from logits (float64 arithmetic, as the pipeline's numpy does). */
export function applyScoreFunction(logits: ArrayLike<number>, fn: ScoreFunction): number[] {
  const x = Array.from(logits);
  if (fn === "none") return x;
  if (fn === "sigmoid") return x.map((v) => 1 / (1 + Math.exp(-v)));
  const max = Math.max(...x);
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** One candidate answer: token indices [start, end] (inclusive) in the row and the product of their probabilities. */
export interface AnswerSpan {
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

export interface SpanOptions {
  /** Longest answer in tokens (default 15, the pipeline's `max_answer_len`). */
  readonly maxAnswerLen?: number;
  /** Candidates to return, best first (default 1); fewer come back when spans fall outside the context. */
  readonly topK?: number;
  /**
   * Also score "no answer" (the first token's start x end probabilities, as the pipeline's
   * `handle_impossible_answer`): a span of start = end = -1 ranked among the others by score.
   */
  readonly handleImpossibleAnswer?: boolean;
}

/** Probabilities over positions, with positions outside the context set to -10000 first (the pipeline's masking). */
function maskedSoftmax(logits: ArrayLike<number>, inContext: (i: number) => boolean): Float64Array {
  const n = logits.length;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = inContext(i) ? logits[i]! : -10000;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i] = Math.exp(x[i]! - max);
  for (let i = 0; i < n; i++) x[i]! /= sum;
  return x;
}

/**
 * The question-answering pipeline's best spans for one row: start and end logits softmaxed
 * over the context tokens [contextStart, contextEnd), the first position zeroed (the
 * pipeline's CLS mask), every span with start <= end < start + maxAnswerLen scored by
 * p_start x p_end, the topK best kept (ties in row-major order), and those not wholly inside
 * the context dropped.
 */
export function bestSpans(
  startLogits: ArrayLike<number>,
  endLogits: ArrayLike<number>,
  contextStart: number,
  contextEnd: number,
  options: SpanOptions = {},
): AnswerSpan[] {
  const n = startLogits.length;
  const maxLen = options.maxAnswerLen ?? 15;
  const topK = options.topK ?? 1;
  if (endLogits.length !== n) throw new InvalidArgumentError(`start logits have ${n} positions, end logits ${endLogits.length}`);
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new InvalidArgumentError(`maxAnswerLen must be a positive integer, got ${maxLen}`);
  if (!Number.isInteger(topK) || topK < 1) throw new InvalidArgumentError(`topK must be a positive integer, got ${topK}`);
  if (!(0 <= contextStart && contextStart < contextEnd && contextEnd <= n))
    throw new InvalidArgumentError(`the context [${contextStart}, ${contextEnd}) is not a non-empty range of the ${n} positions`);
  const inContext = (i: number): boolean => i >= contextStart && i < contextEnd;
  const ps = maskedSoftmax(startLogits, inContext);
  const pe = maskedSoftmax(endLogits, inContext);
  const nullScore = ps[0]! * pe[0]!;
  ps[0] = 0;
  pe[0] = 0;
  // Every candidate of the band start <= end < start + maxLen; the rest of the matrix is 0.
  const spans: AnswerSpan[] = [];
  for (let s = 0; s < n; s++) for (let e = s; e < Math.min(n, s + maxLen); e++) spans.push({ start: s, end: e, score: ps[s]! * pe[e]! });
  // The pipeline's argmax/argsort runs over the whole [n, n] matrix, zeros included; with a
  // positive band the zeros never reach the top, and a stable sort keeps row-major ties.
  spans.sort((a, b) => b.score - a.score);
  const best = spans.slice(0, topK).filter((c) => inContext(c.start) && inContext(c.end));
  if (!options.handleImpossibleAnswer) return best;
  // The pipeline adds "no answer" to the candidates and keeps the topK by score.
  return [...best, { start: -1, end: -1, score: nullScore }].sort((a, b) => b.score - a.score).slice(0, topK);
}
