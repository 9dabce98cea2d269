/**
 * Logits processors and warpers with Hugging Face's (and, for the penalties it lacks,
 * OpenAI's) semantics. Each works in place on a float32 logits row of one sequence.
 *
 * The warpers (top-k, top-p, min-p) narrow the distribution. Instead of writing -Infinity
 * over a 150k-entry vocabulary and sorting it, they return the surviving ids as a
 * {@link Candidates} list; `null` means "every id with a finite logit". The result is the
 * same set Hugging Face keeps, found without a full sort.
 */

/** What a processor may look at besides the logits. */
export interface ProcessorContext {
  /** The prompt ids of this sequence. */
  readonly prompt: Int32Array;
  /** Ids generated so far, oldest first. */
  readonly generated: readonly number[];
}

/**
 * A user-supplied processor (constrained decoding, bans, ...). It runs after the built-in
 * penalties and before the warpers, where Hugging Face runs `logits_processor` arguments;
 * write -Infinity to forbid an id.
 */
export interface LogitsProcessor {
  process(logits: Float32Array, context: ProcessorContext): void;
}

/** Surviving ids after a warper, in descending logit order when `sorted`. */
export interface Candidates {
  readonly ids: Int32Array;
  readonly sorted: boolean;
}

/** Adds a bias to chosen ids (OpenAI `logit_bias`, Hugging Face `sequence_bias` of length 1). */
export function applyLogitBias(logits: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [id, b] of bias) logits[id] = logits[id]! + b;
}

/**
 * Hugging Face's repetition penalty: every id seen in the prompt or the output has its logit
 * divided by `penalty` when positive and multiplied when negative (once per id, however
 * often it occurs). `seen` lists each id once.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  for (const id of seen) {
    const v = logits[id]!;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/**
 * OpenAI's presence and frequency penalties over the generated ids only:
 * logit -= count * frequency + (count > 0) * presence.
 */
export function applyPresenceFrequency(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  presence: number,
  frequency: number,
): void {
  for (const [id, count] of counts) logits[id] = logits[id]! - count * frequency - presence;
}

export function applyTemperature(logits: Float32Array, temperature: number): void {
  const inv = 1 / temperature;
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! * inv;
}

/** Index of the largest logit (the first one on ties, as torch.argmax). */
export function argmax(logits: Float32Array, candidates: Candidates | null = null): number {
  if (candidates) {
    if (candidates.sorted) return candidates.ids[0]!;
    let best = candidates.ids[0]!;
    for (const id of candidates.ids) if (logits[id]! > logits[best]! || (logits[id] === logits[best] && id < best)) best = id;
    return best;
  }
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * The `k` ids with the largest logits, sorted descending (ties by lower id first), among
 * `candidates` or the whole row. A bounded min-heap: O(n log k), no full sort.
 */
export function topIndices(logits: Float32Array, k: number, candidates: Candidates | null = null): Int32Array {
  const heap = new Int32Array(Math.max(0, k));
  let size = 0;
  // "a is worse than b": smaller logit, or equal logit and larger id.
  const worse = (a: number, b: number): boolean => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heap[l]!, heap[m]!)) m = l;
      if (r < size && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  const offer = (id: number): void => {
    if (k <= 0 || logits[id] === -Infinity || Number.isNaN(logits[id])) return;
    if (size < k) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        const t = heap[i]!;
        heap[i] = heap[p]!;
        heap[p] = t;
        i = p;
      }
    } else if (worse(heap[0]!, id)) {
      heap[0] = id;
      siftDown(0);
    }
  };
  if (candidates) for (const id of candidates.ids) offer(id);
  else for (let i = 0; i < logits.length; i++) offer(i);
  const out = Array.from(heap.subarray(0, size));
  out.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
  return Int32Array.from(out);
}

/**
 * Hugging Face's TopKLogitsWarper: keeps every id whose logit is >= the k-th largest, so
 * ids tied with the k-th all survive.
 */
export function topK(logits: Float32Array, k: number, candidates: Candidates | null): Candidates {
  const best = topIndices(logits, k, candidates);
  if (best.length === 0) return { ids: best, sorted: true };
  const kth = logits[best[best.length - 1]!]!;
  const ties: number[] = [];
  const inBest = new Set(best);
  const scan = (id: number): void => {
    if (logits[id] === kth && !inBest.has(id)) ties.push(id);
  };
  if (candidates) for (const id of candidates.ids) scan(id);
  else for (let i = 0; i < logits.length; i++) scan(i);
  if (ties.length === 0) return { ids: best, sorted: true };
  return { ids: Int32Array.from([...best, ...ties.sort((a, b) => a - b)]), sorted: true };
}

function maxOf(logits: Float32Array, candidates: Candidates | null): number {
  const ids = candidates ? candidates.ids : null;
  const n = ids ? ids.length : logits.length;
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = logits[ids ? ids[j]! : j]!;
    if (v > m) m = v;
  }
  return m;
}

/** Buckets per factor of two in probability: fine enough that the boundary bucket is small. */
const BUCKETS_PER_OCTAVE = 16;
/** Probabilities below 2^-64 of the best all share the last bucket. */
const BUCKETS = 64 * BUCKETS_PER_OCTAVE;

/**
 * Hugging Face's TopPLogitsWarper. In descending order of probability an id survives iff
 * the probability mass strictly above it is < `p` (HF: its ascending cumulative sum is
 * > 1 - p); the most likely id always survives.
 *
 * Without sorting the vocabulary: ids are bucketed by log-probability. Every id in a
 * bucket before the one where the cumulative mass reaches `p` survives (less than `p` lies
 * above it); only that boundary bucket is sorted to find where the nucleus ends.
 */
export function topP(logits: Float32Array, p: number, candidates: Candidates | null): Candidates {
  const ids = candidates ? candidates.ids : null;
  const n = ids ? ids.length : logits.length;
  const m = maxOf(logits, candidates);
  if (m === -Infinity) return { ids: new Int32Array(0), sorted: true };
  const mass = new Float64Array(BUCKETS + 1);
  const bucketOf = new Uint16Array(n);
  const scale = BUCKETS_PER_OCTAVE / Math.LN2;
  let total = 0;
  for (let j = 0; j < n; j++) {
    const d = logits[ids ? ids[j]! : j]! - m; // <= 0, or -Infinity
    if (d === -Infinity) {
      bucketOf[j] = BUCKETS + 1; // never kept
      continue;
    }
    const e = Math.exp(d);
    const b = Math.min(BUCKETS, Math.floor(-d * scale));
    bucketOf[j] = b;
    mass[b] = mass[b]! + e;
    total += e;
  }
  const need = p * total;
  let boundary = BUCKETS;
  let before = 0; // mass of the buckets before the boundary
  for (let b = 0; b <= BUCKETS; b++) {
    if (before + mass[b]! >= need) {
      boundary = b;
      break;
    }
    before += mass[b]!;
  }
  const kept: number[] = [];
  const edge: number[] = [];
  for (let j = 0; j < n; j++) {
    const b = bucketOf[j]!;
    if (b < boundary) kept.push(ids ? ids[j]! : j);
    else if (b === boundary) edge.push(ids ? ids[j]! : j);
  }
  edge.sort((a, b) => logits[b]! - logits[a]! || a - b);
  let above = before;
  for (const id of edge) {
    if (kept.length > 0 && above / total >= p) break;
    kept.push(id);
    above += Math.exp(logits[id]! - m);
  }
  return { ids: Int32Array.from(kept), sorted: false };
}

/**
 * Hugging Face's MinPLogitsWarper: keeps ids whose probability is >= minP times the most
 * likely id's probability (the most likely always survives).
 */
export function minP(logits: Float32Array, minP: number, candidates: Candidates | null): Candidates {
  const ids = candidates ? candidates.ids : null;
  const n = ids ? ids.length : logits.length;
  const m = maxOf(logits, candidates);
  const floor = Math.log(minP); // prob_i / prob_max >= minP  <=>  logit_i - max >= ln(minP)
  const kept: number[] = [];
  for (let j = 0; j < n; j++) {
    const id = ids ? ids[j]! : j;
    const v = logits[id]!;
    if (v > -Infinity && (v - m >= floor || v === m)) kept.push(id);
  }
  return { ids: Int32Array.from(kept), sorted: candidates?.sorted ?? false };
}

/** log(sum(exp(logit))) over the candidates (or the whole row), computed stably. */
export function logSumExp(logits: Float32Array, candidates: Candidates | null): number {
  const m = maxOf(logits, candidates);
  if (m === -Infinity) return -Infinity;
  const ids = candidates ? candidates.ids : null;
  const n = ids ? ids.length : logits.length;
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(logits[ids ? ids[j]! : j]! - m);
  return m + Math.log(s);
}
