/**
 * Rotary position embeddings as Hugging Face transformers computes them
 * (`modeling_rope_utils.py`): inverse frequencies and the attention scaling for the rope
 * types Qwen2 configs use, and cos/sin tables for given positions.
 *
 *   default  inv_freq[i] = 1 / theta^(2i / dim)
 *   linear   inv_freq / factor
 *   dynamic  NTK: theta grows with the sequence length once it exceeds
 *            max_position_embeddings, theta' = theta * (factor * L / max - (factor - 1))^(dim / (dim - 2));
 *            L is the longest sequence of the forward call (as transformers' `dynamic_rope_update`;
 *            transformers also remembers the longest L seen so far across calls, which gives
 *            the same frequencies whenever a sequence only grows, as in prefill then decode;
 *            keys already cached keep the frequencies they were rotated with, in both)
 *   yarn     per-frequency blend of interpolated (/ factor) and extrapolated frequencies over a
 *            linear ramp between the correction dims of beta_fast and beta_slow rotations
 *            (floored/ceiled unless `truncate: false`), and cos/sin scaled by the attention
 *            factor (given, else from mscale/mscale_all_dim, else 0.1 ln(factor) + 1)
 *
 * Everything is computed in float64; the tables handed to the backend are float32.
 */
import { UnsupportedError } from "../errors.js";
import type { Qwen2Config, RopeScaling } from "../formats/config.js";

export interface RopeParameters {
  /** [dim / 2] inverse frequencies. */
  readonly invFreq: Float64Array;
  /** Multiplies cos and sin (yarn's attention factor; 1 otherwise). */
  readonly attentionScaling: number;
}

/** The part of a config RoPE depends on. */
export type RopeConfig = Pick<Qwen2Config, "head_dim" | "rope_theta" | "rope_scaling" | "max_position_embeddings">;

function defaultInvFreq(theta: number, dim: number): Float64Array {
  const half = dim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / theta ** ((2 * i) / dim);
  return out;
}

/** yarn's attention factor: 0.1 * mscale * ln(scale) + 1 above scale 1. */
function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function yarnParameters(theta: number, dim: number, maxPositions: number, s: RopeScaling): RopeParameters {
  const original = s.original_max_position_embeddings ?? maxPositions;
  const factor = s.factor;
  let attentionScaling = s.attention_factor;
  if (attentionScaling === undefined) {
    attentionScaling =
      s.mscale && s.mscale_all_dim ? yarnMscale(factor, s.mscale) / yarnMscale(factor, s.mscale_all_dim) : yarnMscale(factor);
  }
  // `or` defaults as transformers: a 0 means the default too.
  const betaFast = s.beta_fast || 32;
  const betaSlow = s.beta_slow || 1;
  // The dimension at which a frequency completes `rotations` turns over the original context.
  const correctionDim = (rotations: number): number => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (s.truncate !== false) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  const half = dim / 2;
  const base = defaultInvFreq(theta, dim);
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolationWeight = 1 - ramp;
    const extrapolated = base[i]!;
    const interpolated = base[i]! / factor;
    invFreq[i] = interpolated * (1 - extrapolationWeight) + extrapolated * extrapolationWeight;
  }
  return { invFreq, attentionScaling };
}

/**
 * RoPE parameters for a forward call whose longest sequence (past + new tokens) is
 * `seqLen`. Only the dynamic type depends on it.
 */
export function ropeParameters(config: RopeConfig, seqLen = 0): RopeParameters {
  const dim = config.head_dim;
  const theta = config.rope_theta;
  const s = config.rope_scaling;
  if (s === null || s.rope_type === "default") return { invFreq: defaultInvFreq(theta, dim), attentionScaling: 1 };
  switch (s.rope_type) {
    case "linear":
      return { invFreq: defaultInvFreq(theta, dim).map((f) => f / s.factor), attentionScaling: 1 };
    case "dynamic": {
      const max = config.max_position_embeddings;
      const len = Math.max(seqLen, max);
      const scaledTheta = theta * ((s.factor * len) / max - (s.factor - 1)) ** (dim / (dim - 2));
      return { invFreq: defaultInvFreq(scaledTheta, dim), attentionScaling: 1 };
    }
    case "yarn":
      return yarnParameters(theta, dim, config.max_position_embeddings, s);
    default:
      throw new UnsupportedError(
        `rope_scaling.rope_type ${JSON.stringify((s as RopeScaling).rope_type)} is not supported (default, linear, dynamic, yarn are)`,
      );
  }
}

/**
 * Rotary tables for one model. Parameters that do not depend on the sequence length are
 * computed once; dynamic NTK ones are recomputed when the length changes.
 */
export class RotaryEmbedding {
  readonly half: number;
  private readonly dynamic: boolean;
  private cachedLen = -1;
  private cached: RopeParameters;

  constructor(private readonly config: RopeConfig) {
    if (config.head_dim % 2 !== 0)
      throw new UnsupportedError(`head_dim ${config.head_dim} is odd; rotary embeddings need an even head dimension`);
    this.half = config.head_dim / 2;
    this.dynamic = config.rope_scaling?.rope_type === "dynamic";
    this.cached = ropeParameters(config, 0);
  }

  parameters(seqLen: number): RopeParameters {
    if (!this.dynamic) return this.cached;
    // Below max_position_embeddings dynamic NTK equals the plain frequencies.
    const len = Math.max(seqLen, this.config.max_position_embeddings);
    if (len !== this.cachedLen) {
      this.cached = ropeParameters(this.config, len);
      this.cachedLen = len;
    }
    return this.cached;
  }

  /**
   * Writes cos/sin rows ([count, dim / 2], row-major, from row `row`) for positions
   * start, start + 1, ...: angle = position * inv_freq, both scaled by the attention factor.
   */
  fill(params: RopeParameters, start: number, count: number, cos: Float32Array, sin: Float32Array, row: number): void {
    const h = this.half;
    const { invFreq, attentionScaling } = params;
    for (let t = 0; t < count; t++) {
      const pos = start + t;
      const o = (row + t) * h;
      for (let i = 0; i < h; i++) {
        const angle = pos * invFreq[i]!;
        cos[o + i] = Math.cos(angle) * attentionScaling;
        sin[o + i] = Math.sin(angle) * attentionScaling;
      }
    }
  }
}
