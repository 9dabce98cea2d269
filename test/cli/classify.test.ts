/**
 * `qwen2 classify` on task-head fixture folders (copied to a temporary folder with a
 * 256-id byte-level tokenizer, so text fits the fixtures' vocabulary): sequence
 * classification, reranking with --query, token classification, question answering, and
 * the usage errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte_level.js";
import { headsFixturesDir, headsFixturesMissing } from "../support/heads_fixtures.js";
import { runCli } from "../support/cli_io.js";

const skip = headsFixturesMissing() ?? false;

function folder(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `qwen2-classify-${name}-`));
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(headsFixturesDir, "models", name, f), join(dir, f));
  writeFileSync(join(dir, "vocab.json"), JSON.stringify(Object.fromEntries(BYTE_TO_CHAR.map((c, i) => [c, i]))));
  writeFileSync(join(dir, "merges.txt"), "#version: 0.2\n");
  return dir;
}

const lines = (out: string): Record<string, unknown>[] =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("qwen2 classify: labels best first, --top-k, texts from stdin (fixture hj_seq_cls_3labels)", { skip }, async () => {
  const dir = folder("hj_seq_cls_3labels");
  try {
    const r = await runCli(["classify", "--model", dir, "--backend", "reference", "--top-k", "2", "good film", "bad film"]);
    assert.equal(r.code, 0, r.err);
    const out = lines(r.out);
    assert.equal(out.length, 2);
    const labels = out[0]!.labels as { label: string; score: number }[];
    assert.equal(labels.length, 2);
    assert.ok(labels[0]!.score >= labels[1]!.score);
    const piped = await runCli(["classify", "--model", dir, "--backend", "reference"], "one\ntwo\nthree\n");
    assert.equal(lines(piped.out).length, 3);
    const rerank = await runCli(["classify", "--model", dir, "--backend", "reference", "--query", "q", "a"]);
    assert.equal(rerank.code, 2);
    assert.match(rerank.err, /rerank needs a one-label sequence classification model; this one has 3 labels/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("qwen2 classify --query ranks documents (fixture hk_seq_cls_reward_nopad_bf16)", { skip }, async () => {
  const dir = folder("hk_seq_cls_reward_nopad_bf16");
  try {
    const r = await runCli(["classify", "--model", dir, "--backend", "reference", "--query", "cat", "a cat", "a dog", "stocks"]);
    assert.equal(r.code, 0, r.err);
    const out = lines(r.out) as { index: number; relevance_score: number }[];
    assert.deepEqual(out.map((x) => x.index).sort(), [0, 1, 2]);
    for (let i = 1; i < out.length; i++) assert.ok(out[i - 1]!.relevance_score >= out[i]!.relevance_score);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("qwen2 classify on token classification and question answering (fixtures hl_token_cls_5labels, hm_question_answering)", {
  skip,
}, async () => {
  const tags = folder("hl_token_cls_5labels");
  const qa = folder("hm_question_answering");
  try {
    const t = await runCli(["classify", "--model", tags, "--backend", "reference", "abc"]);
    assert.equal(t.code, 0, t.err);
    assert.equal((lines(t.out)[0]!.tokens as unknown[]).length, 3);
    const noQuestion = await runCli(["classify", "--model", qa, "--backend", "reference", "ctx"]);
    assert.equal(noQuestion.code, 2);
    assert.match(noQuestion.err, /needs --question/);
    const a = await runCli(["classify", "--model", qa, "--backend", "reference", "--question", "who?", "Marie found it."]);
    assert.equal(a.code, 0, a.err);
    const [answer] = lines(a.out) as { text: string; answer: string; start: number; end: number }[];
    assert.equal(answer!.text.slice(answer!.start, answer!.end), answer!.answer);
  } finally {
    rmSync(tags, { recursive: true, force: true });
    rmSync(qa, { recursive: true, force: true });
  }
});
