/**
 * Numeric bounds enforced digit by digit. A number's integer part is read as a magnitude
 * `p` with `k` digits; a digit is allowed only when some completion of the digits (more
 * digits, an end, or a fraction) stays within the bounds, so output never writes itself into
 * a corner. Every number has finite bounds here: at most 15 integer digits, 15 fraction digits
 * and 3 exponent digits, which also keeps the automaton finite.
 *
 * Two prefixes whose futures are the same language share one cache key
 * ({@link magnitudeKey}): "5" and "6" under `maximum: 1000` both allow any two more digits,
 * so the mask cache sees a handful of number states, not one per value.
 */

/** Largest integer-part magnitude written (15 digits keeps every step exact in doubles). */
export const MAX_MAGNITUDE = 999_999_999_999_999;
export const MAX_FRACTION_DIGITS = 15;
export const MAX_EXPONENT_DIGITS = 3;

/** Allowed magnitudes on one side of zero: ending there [endLo, endHi], taking a fraction [fracLo, fracHi]. */
export interface Side {
  readonly endLo: number;
  readonly endHi: number;
  readonly fracLo: number;
  readonly fracHi: number;
  /** Union of the two (an interval): a prefix must be able to reach it. */
  readonly lo: number;
  readonly hi: number;
}

export interface NumberSpec {
  readonly integer: boolean;
  readonly positive: Side | null;
  readonly negative: Side | null;
  readonly exponent: boolean;
}

function side(endLo: number, endHi: number, fracLo: number, fracHi: number): Side | null {
  [endLo, endHi, fracLo, fracHi] = [
    Math.max(0, endLo),
    Math.min(MAX_MAGNITUDE, endHi),
    Math.max(0, fracLo),
    Math.min(MAX_MAGNITUDE, fracHi),
  ];
  const hasEnd = endLo <= endHi;
  const hasFrac = fracLo <= fracHi;
  if (!hasEnd && !hasFrac) return null;
  const s = {
    endLo: hasEnd ? endLo : 1,
    endHi: hasEnd ? endHi : 0,
    fracLo: hasFrac ? fracLo : 1,
    fracHi: hasFrac ? fracHi : 0,
    lo: Math.min(hasEnd ? endLo : Infinity, hasFrac ? fracLo : Infinity),
    hi: Math.max(hasEnd ? endHi : -Infinity, hasFrac ? fracHi : -Infinity),
  };
  return s;
}

const isInt = (v: number) => Number.isInteger(v);

/** Bounds in JSON Schema terms (`undefined` for none) to the per-side magnitude sets. */
export function numberSpec(integer: boolean, lo: number, loExclusive: boolean, hi: number, hiExclusive: boolean): NumberSpec | null {
  // Closed integer bounds for a value written without a fraction.
  const ceilX = (v: number, ex: boolean) => (ex && isInt(v) ? v + 1 : Math.ceil(v));
  const floorX = (v: number, ex: boolean) => (ex && isInt(v) ? v - 1 : Math.floor(v));
  const loInt = ceilX(lo, loExclusive);
  const hiInt = floorX(hi, hiExclusive);
  // value = m (+ f): ends need m in [loInt, hiInt]; a fraction needs the whole [m, m+1) inside.
  const positive = side(loInt, hiInt, integer ? 1 : loExclusive ? Math.floor(lo) + 1 : Math.ceil(lo), integer ? 0 : Math.floor(hi) - 1);
  // value = -m (- f): ends need -m in [loInt, hiInt] (no "-0"); a fraction needs (-(m+1), -m] inside.
  const negative = side(
    Math.max(1, -hiInt),
    -loInt,
    integer ? 1 : hiExclusive ? Math.floor(-hi) + 1 : Math.ceil(-hi),
    integer ? 0 : Math.floor(-lo) - 1,
  );
  if (!positive && !negative) return null;
  return { integer, positive, negative, exponent: !integer && lo === -Infinity && hi === Infinity };
}

/** floor(B / 10) and B mod 10, exact for safe integers. */
function div10(b: number): [number, number] {
  const r = b % 10;
  return [(b - r) / 10, r];
}

/** Whether magnitude prefix p * 10 + d stays ≤ hi. */
export function digitFits(p: number, d: number, hi: number): boolean {
  const [q, r] = div10(hi);
  return p < q || (p === q && d <= r);
}

/** Whether a prefix with magnitude p (k digits) can still reach [s.lo, s.hi]. */
export function feasible(p: number, k: number, s: Side): boolean {
  if (p > s.hi) return false;
  if (p >= s.lo) return true;
  if (p === 0 && k > 0) return false; // "0" takes no more digits
  const [q] = div10(s.hi);
  let low = p;
  let high = p;
  for (;;) {
    if (low > q) return false;
    low *= 10;
    high = high > q ? s.hi : Math.min(high * 10 + 9, s.hi);
    if (high >= s.lo) return true;
  }
}

/**
 * The cache key of an integer-part prefix: for each count of further digits, the completions
 * that may end there and those that may take a fraction, relative to the prefix.
 */
export function magnitudeKey(p: number, k: number, s: Side): string {
  const rel = (low: number, high: number) => {
    const a = Math.max(low, s.endLo);
    const b = Math.min(high, s.endHi);
    const c = Math.max(low, s.fracLo);
    const d = Math.min(high, s.fracHi);
    return `|${a <= b ? `${a - low}-${b - low}` : "x"},${c <= d ? `${c - low}-${d - low}` : "x"}`;
  };
  let key = rel(p, p);
  if (p === 0 && k > 0) return key;
  const [q] = div10(s.hi);
  let low = p;
  let high = p;
  for (;;) {
    if (low > q) return key;
    low *= 10;
    high = high > q ? s.hi : Math.min(high * 10 + 9, s.hi);
    key += rel(low, high);
  }
}
