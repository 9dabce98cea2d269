import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../src/cli/command.js";
import { runQuantize, type FolderLoader } from "../../src/cli/commands/quantize.js";
import { randomQwen2Weights, TempDir, tinyConfig, writeTinyTokenizer } from "./gguf_test_support.js";
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
