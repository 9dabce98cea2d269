/**
 * RoPE parameters for cases the fixtures do not cover: yarn without truncation and with
 * DeepSeek-style mscale, dynamic NTK below/above max_position_embeddings, and the cos/sin
 * tables. Expected values are written out from transformers' formulas by hand.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ropeParameters, RotaryEmbedding, type RopeConfig } from "../../src/models/rope.js";
import type { RopeScaling } from "../../src/formats/config.js";

function cfg(scaling: RopeScaling | null, max = 32): RopeConfig {
  return { head_dim: 16, rope_theta: 10000, rope_scaling: scaling, max_position_embeddings: max };
}

const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test("yarn with truncate false keeps fractional correction dims", () => {
  const p = ropeParameters(cfg({ rope_type: "yarn", factor: 4, original_max_position_embeddings: 32, truncate: false }, 128));
  // low = 16 ln(32 / (32 * 2pi)) / (2 ln 1e4) < 0 -> 0; high = 16 ln(32 / 2pi) / (2 ln 1e4)
  const high = (16 * Math.log(32 / (2 * Math.PI))) / (2 * Math.log(10000));
  for (let i = 0; i < 8; i++) {
    const base = 1 / 10000 ** ((2 * i) / 16);
    const ramp = Math.min(1, i / high);
    close(p.invFreq[i]!, (base / 4) * ramp + base * (1 - ramp), `inv_freq[${i}]`);
  }
  close(p.attentionScaling, 0.1 * Math.log(4) + 1, "attention factor");
});

test("yarn attention factor: explicit, or mscale / mscale_all_dim", () => {
  close(
    ropeParameters(cfg({ rope_type: "yarn", factor: 4, original_max_position_embeddings: 32, attention_factor: 0.7 })).attentionScaling,
    0.7,
    "explicit",
  );
  const m = ropeParameters(cfg({ rope_type: "yarn", factor: 4, original_max_position_embeddings: 32, mscale: 1, mscale_all_dim: 0.5 }));
  close(m.attentionScaling, (0.1 * Math.log(4) + 1) / (0.05 * Math.log(4) + 1), "mscale ratio");
});

test("dynamic NTK depends on the sequence length only past max_position_embeddings", () => {
  const c = cfg({ rope_type: "dynamic", factor: 2 }, 32);
  const plain = ropeParameters(cfg(null));
  assert.deepEqual(ropeParameters(c, 10).invFreq, plain.invFreq);
  assert.deepEqual(ropeParameters(c, 32).invFreq, plain.invFreq);
  const theta = 10000 * ((2 * 40) / 32 - 1) ** (16 / 14);
  const p = ropeParameters(c, 40);
  for (let i = 0; i < 8; i++) close(p.invFreq[i]!, 1 / theta ** ((2 * i) / 16), `inv_freq[${i}]`);
  const rot = new RotaryEmbedding(c);
  assert.equal(rot.parameters(40), rot.parameters(40), "cached for the same length");
  assert.deepEqual(rot.parameters(5).invFreq, plain.invFreq);
});

test("cos/sin tables: position times inverse frequency, scaled by the attention factor", () => {
  const c = cfg({ rope_type: "yarn", factor: 4, original_max_position_embeddings: 32 }, 128);
  const rot = new RotaryEmbedding(c);
  const p = rot.parameters(0);
  const cos = new Float32Array(3 * 8);
  const sin = new Float32Array(3 * 8);
  rot.fill(p, 7, 2, cos, sin, 1);
  assert.deepEqual([...cos.subarray(0, 8)], new Array<number>(8).fill(0), "row 0 untouched");
  for (let t = 0; t < 2; t++)
    for (let i = 0; i < 8; i++) {
      assert.equal(cos[(1 + t) * 8 + i], Math.fround(Math.cos((7 + t) * p.invFreq[i]!) * p.attentionScaling));
      assert.equal(sin[(1 + t) * 8 + i], Math.fround(Math.sin((7 + t) * p.invFreq[i]!) * p.attentionScaling));
    }
});
