/**
 * The scale searches behind ggml's K-quant reference quantisers (ggml-quants.c:
 * `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`), operation for operation in
 * float32 (see block_math.ts), so that the scales and quants they pick are ggml's.
 *
 * Each fits a small group of weights (16 or 32) with integer levels L and a scale (and for
 * the asymmetric searches a minimum): x ≈ scale·L (+ min). They differ in the level range
 * and in how they search:
 *   make_qx_quants   symmetric, levels −nmax..nmax−1, tries 18 scales around nmax/|max|
 *                    and keeps the best weighted least-squares fit (Q6_K).
 *   make_q3_quants   symmetric, then up to 5 rounds of moving single levels (Q3_K).
 *   make_qkx2_quants levels 0..nmax above a minimum ≤ 0, tries nstep+1 scales and solves
 *                    the weighted least squares for scale and minimum each time (Q2_K,
 *                    Q4_K, Q5_K).
 */
import { fround, GROUP_MAX_EPS, nearestInt } from "./block_math.js";

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

/** The first value of largest magnitude among x[o, o + n) (strict >: ties keep the earlier). */
function signedMax(x: Float32Array, o: number, n: number): { amax: number; max: number } {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[o + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[o + i]!;
    }
  }
  return { amax, max };
}

/**
 * ggml's make_qx_quants with rmse_type 1 and no importance weights (w = x²): writes levels
 * + nmax (0..2·nmax−1) to L[lo, lo + n) and returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, o: number, L: Uint8Array, lo: number): number {
  const { amax, max } = signedMax(x, o, n);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = clamp(nearestInt(fround(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(fround(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const l = clamp(nearestInt(fround(iscale * xi)), -nmax, nmax - 1);
      const w = fround(xi * xi);
      sumlx = fround(sumlx + fround(fround(w * xi) * l));
      suml2 = fround(suml2 + fround(fround(w * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + clamp(nearestInt(fround(iscale * x[o + i]!)), -nmax, nmax - 1);
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

/** ggml's make_q3_quants with do_rmse: levels + nmax to L[lo, lo + n); returns the scale. */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, o: number, L: Uint8Array, lo: number): number {
  const { amax, max } = signedMax(x, o, n);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fround(-nmax / max);
  const Ls = new Int32Array(n);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = clamp(nearestInt(fround(iscale * xi)), -nmax, nmax - 1);
    Ls[i] = l;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const w = fround(xi * xi);
      let slx = fround(sumlx - fround(fround(w * xi) * Ls[i]!));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * Ls[i]!) * Ls[i]!));
        const newL = clamp(nearestInt(fround(fround(xi * sl2) / slx)), -nmax, nmax - 1);
        if (newL !== Ls[i]) {
          slx = fround(slx + fround(fround(w * xi) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            Ls[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = Ls[i]! + nmax;
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/** Parameters of one make_qkx2_quants search. */
export interface Qkx2Search {
  readonly nmax: number;
  readonly rmin: number;
  readonly rdelta: number;
  readonly nstep: number;
  /** Weigh absolute errors (true) or squared errors. */
  readonly useMad: boolean;
}

/**
 * ggml's make_qkx2_quants: levels 0..nmax to L[lo, lo + n) for x ≈ scale·L − theMin, with
 * per-weight importance `w`. Returns [scale, theMin] (theMin ≥ 0 is the negated minimum).
 */
export function makeQkx2Quants(
  n: number,
  x: Float32Array,
  o: number,
  w: Float32Array,
  L: Uint8Array,
  lo: number,
  laux: Uint8Array,
  p: Qkx2Search,
): [number, number] {
  const { nmax, useMad } = p;
  let min = x[o]!;
  let max = x[o]!;
  let sumW = w[0]!;
  let sumX = fround(sumW * x[o]!);
  for (let i = 1; i < n; i++) {
    const xi = x[o + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fround(sumW + w[i]!);
    sumX = fround(sumX + fround(w[i]! * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fround(iscale * fround(x[o + i]! - min))), 0, nmax);
    L[lo + i] = l;
    let diff = fround(fround(fround(scale * l) + min) - x[o + i]!);
    diff = useMad ? Math.abs(diff) : fround(diff * diff);
    bestError = fround(bestError + fround(w[i]! * diff));
  }
  if (p.nstep < 1) return [scale, -min];
  for (let is = 0; is <= p.nstep; is++) {
    // `min` moves to each better fit, and the next scales are tried over the new range.
    iscale = fround(fround(fround(p.rmin + fround(p.rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const l = clamp(nearestInt(fround(iscale * fround(xi - min))), 0, nmax);
      laux[i] = l;
      const wl = fround(w[i]! * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * xi));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fround(fround(fround(thisScale * laux[i]!) + thisMin) - x[o + i]!);
        diff = useMad ? Math.abs(diff) : fround(diff * diff);
        curError = fround(curError + fround(w[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}
