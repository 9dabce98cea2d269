import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../src/cli/command.js";
import { runQuantize, type FolderLoader } from "../../src/cli/commands/quantize.js";
import inspectCommand from "../../src/cli/commands/inspect.js";
import type { CliIO } from "../../src/cli/command.js";

const runInspect = (args: string[], cliIO: CliIO): Promise<number> => inspectCommand.run(args, cliIO);
import { header, randomQwen2Weights, TempDir, tinyConfig, writeTinyTokenizer } from "./gguf_test_support.js";
import { GGUFValueType } from "../../src/formats/gguf_types.js";
import { captureIO as io } from "../support/cli_io.js";
import { openQwen2GGUFPath } from "../support/files.js";

const dir = new TempDir();
after(() => dir.dispose());

test("qwen2 quantize writes a GGUF of the folder's weights with its tokenizer", async () => {
  const folder = join(dir.path, "model");
  mkdirSync(folder);
  const { vocabSize } = writeTinyTokenizer(folder, 8);
  const config = tinyConfig({ vocab_size: vocabSize });
  let closed = false;
  const weights = randomQwen2Weights(config);
  const load: FolderLoader = (d) => {
    assert.equal(d, folder);
    return {
      config,
      weights: {
        ...weights,
        names: () => weights.names(),
        has: (n: string) => weights.has(n),
        info: (n: string) => weights.info(n),
        read: (n: string) => weights.read(n),
        location: folder,
        close: () => void (closed = true),
      },
    };
  };
  const out = join(dir.path, "m.q4_0.gguf");
  const t = io();
  assert.equal(await runQuantize(["--model", folder, "--type", "Q4_0", "--out", out, "--quiet"], t.io, load), 0);
  assert.ok(closed);
  // llama-quantize's Q4_0: the head (here the separate output.weight) in Q6_K or, with
  // 64-wide rows that are not a multiple of 256, Q8_0; every other matrix Q4_0.
  assert.match(t.out(), /wrote .*m\.q4_0\.gguf \(q4_0: 15 q4_0, 11 f32, 1 q8_0 tensors; \d+\.\d\d bits per weight\)/);
  const g = await openQwen2GGUFPath(out);
  assert.equal(g.dtype, "q4_0");
  assert.equal(g.tokenizerData?.eosToken, "<|im_end|>");
  // Special ids come from the tokenizer metadata (the toy config names none).
  assert.deepEqual(g.config, { ...config, eos_token_id: [vocabSize - 2], pad_token_id: vocabSize - 4 });
  g.close();
});

test("qwen2 quantize warns when there is no tokenizer and rejects bad options", async () => {
  const config = tinyConfig();
  const load: FolderLoader = () => ({ config, weights: randomQwen2Weights(config) });
  const t = io();
  const out = join(dir.path, "notok.gguf");
  assert.equal(await runQuantize(["--model", dir.path, "--type", "f16", "--out", out, "--quiet"], t.io, load), 0);
  assert.match(t.err(), /no tokenizer files.*llama\.cpp will not load it/);
  assert.ok(existsSync(out));
  await assert.rejects(
    runQuantize(["--model", "m", "--type", "q5_k", "--out", "x"], io().io, load),
    (e: unknown) =>
      e instanceof UsageError && /--type must be one of f32, f16, bf16, q8_0, q6_k, q5_k_m, .*q2_k, got "q5_k"/.test(e.message),
  );
  await assert.rejects(runQuantize(["--type", "q8_0", "--out", "x"], io().io, load), /--model/);
  await assert.rejects(runQuantize(["--model", "m", "--type", "q8_0"], io().io, load), /--out/);
});

test("qwen2 inspect on a GGUF shows each tensor's type and bits per weight; quantize --model takes a GGUF and refuses to add bits to a quantised tensor", async () => {
  const folder = join(dir.path, "model-inspect");
  mkdirSync(folder);
  const { vocabSize } = writeTinyTokenizer(folder, 8);
  const config = tinyConfig({ vocab_size: vocabSize, hidden_size: 256, intermediate_size: 96, num_attention_heads: 4, head_dim: 64 });
  const load: FolderLoader = () => ({ config, weights: randomQwen2Weights(config) });
  const q4km = join(dir.path, "m.q4_k_m.gguf");
  const t = io();
  assert.equal(await runQuantize(["--model", folder, "--type", "q4_k_m", "--out", q4km, "--quiet"], t.io, load), 0);
  // Two layers: use_more_bits marks layer 1 only (i >= 7n/8), so its attn_v and ffn_down get
  // Q6_K; ffn_down's 96-wide rows then fall back (Q6_K -> Q8_0, Q4_K -> Q5_0); the head gets Q6_K.
  assert.match(t.out(), /q4_k_m: .*\d+ q4_k.*; \d\.\d\d bits per weight/);

  const shown = io();
  assert.equal(await runInspect(["--model", q4km], shown.io), 0);
  assert.match(shown.out(), /file type +15 \(Q4_K_M\)/);
  assert.match(shown.out(), /blk\.0\.attn_q\.weight +Q4_K +4\.50 bpw +\[256, 256\]/);
  assert.match(shown.out(), /blk\.0\.attn_v\.weight +Q4_K +4\.50 bpw/);
  assert.match(shown.out(), /blk\.1\.attn_v\.weight +Q6_K +6\.56 bpw/);
  assert.match(shown.out(), /blk\.0\.ffn_down\.weight +Q5_0 +5\.50 bpw +\[256, 96\]/);
  assert.match(shown.out(), /blk\.1\.ffn_down\.weight +Q8_0 +8\.50 bpw +\[256, 96\]/);
  assert.match(shown.out(), /output\.weight +Q6_K/);
  assert.match(shown.out(), /\d\.\d\d bits per weight/);
  const json = io();
  assert.equal(await runInspect(["--model", q4km, "--json"], json.io), 0);
  const report = JSON.parse(json.out()) as { preset: string; types: Record<string, { tensors: number }>; config: { hidden_size: number } };
  assert.equal(report.preset, "q4_k_m");
  assert.equal(report.config.hidden_size, 256);
  assert.equal(report.types.Q8_0!.tensors, 1);

  // Re-quantising: down to Q4_0 is allowed; up to Q8_0 is refused unless asked.
  const q40 = join(dir.path, "m.requant.q4_0.gguf");
  assert.equal(await runQuantize(["--model", q4km, "--type", "q4_0", "--out", q40, "--quiet"], io().io), 0);
  const g = await openQwen2GGUFPath(q40);
  assert.equal(g.tokenizerData?.eosToken, "<|im_end|>"); // metadata copied from the source file
  assert.equal(g.file.number("general.file_type"), 2);
  g.close();
  await assert.rejects(
    runQuantize(["--model", q4km, "--type", "q8_0", "--out", join(dir.path, "up.gguf"), "--quiet"], io().io),
    /tensor 'output\.weight' is stored as q6_k; q8_0 would write it as q8_0.*--allow-requantize/,
  );
  const up = join(dir.path, "up.gguf");
  assert.equal(await runQuantize(["--model", q4km, "--type", "q8_0", "--out", up, "--quiet", "--allow-requantize"], io().io), 0);
  assert.ok(existsSync(up));
});

test("qwen2 inspect shows a GGUF holding a type we do not run, marks the tensor and exits 1 naming it", async () => {
  const b = header(1, 1).str("general.architecture").u32(GGUFValueType.STRING).str("qwen2");
  b.str("blk.0.attn_q.weight").u32(2).u64(256).u64(2).u32(16).u64(0); // IQ2_XXS, 66 bytes per 256
  const path = join(dir.path, "iq2xxs.gguf");
  writeFileSync(
    path,
    b
      .pad(32)
      .raw(new Uint8Array(2 * 66))
      .build(),
  );
  const t = io();
  assert.equal(await runInspect(["--model", path], t.io), 1);
  assert.match(t.out(), /blk\.0\.attn_q\.weight +IQ2_XXS +2\.06 bpw +\[2, 256\] +\(qwen2-ts does not run this type\)/);
  assert.match(t.out(), /ERROR .*'blk\.0\.attn_q\.weight'.*is stored as IQ2_XXS/);
});
