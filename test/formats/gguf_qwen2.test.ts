import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../src/errors.js";
import { openGGUFPath, openQwen2GGUFPath } from "../support/files.js";
import { encodeTensor, ggufTensorType, type GGUFExportType } from "../../src/formats/gguf_qwen2_export.js";
import { presetModelOf } from "../../src/formats/gguf_quant_presets.js";
import { writeQwen2GGUF } from "../../src/node/gguf_writer.js";
import { ggufToHfName, hfToGgufName } from "../../src/formats/gguf_qwen2_names.js";
import { tokenizerFolderData } from "../support/tokenizer_folder.js";
import { GGUFValueType, TokenType } from "../../src/formats/gguf_types.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../src/tensor/quant/index.js";
import { tokenizersDir } from "../support/paths.js";
import { header, randomQwen2Weights, TempDir, tinyConfig, writeTinyTokenizer } from "./gguf_test_support.js";

const dir = new TempDir();
after(() => dir.dispose());

test("tensor names map both ways, layer numbers included", async () => {
  const pairs = [
    ["token_embd.weight", "model.embed_tokens.weight"],
    ["output_norm.weight", "model.norm.weight"],
    ["output.weight", "lm_head.weight"],
    ["blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"],
    ["blk.11.attn_q.bias", "model.layers.11.self_attn.q_proj.bias"],
    ["blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"],
    ["blk.23.ffn_norm.weight", "model.layers.23.post_attention_layernorm.weight"],
    ["blk.2.ffn_gate.weight", "model.layers.2.mlp.gate_proj.weight"],
    ["blk.2.ffn_down.weight", "model.layers.2.mlp.down_proj.weight"],
  ];
  for (const [g, h] of pairs) {
    assert.equal(ggufToHfName(g!), h);
    assert.equal(hfToGgufName(h!), g);
  }
  assert.equal(ggufToHfName("blk.0.attn_qkv.weight"), undefined);
  assert.equal(hfToGgufName("model.layers.0.self_attn.rotary_emb.inv_freq"), undefined);
});

test("llama.cpp's type choice: 1-D and norms stay F32, unaligned rows fall back to F16", async () => {
  assert.equal(ggufTensorType("blk.0.attn_q.bias", [64], "q8_0"), "f32");
  assert.equal(ggufTensorType("blk.0.attn_norm.weight", [64], "bf16"), "f32");
  assert.equal(ggufTensorType("blk.0.attn_q.weight", [64, 64], "q4_0"), "q4_0");
  assert.equal(ggufTensorType("token_embd.weight", [100, 64], "q8_0"), "q8_0");
  assert.equal(ggufTensorType("blk.0.ffn_down.weight", [64, 48], "q8_0"), "f16");
  assert.equal(ggufTensorType("blk.0.ffn_down.weight", [64, 48], "bf16"), "bf16");
});

async function exportTiny(
  name: string,
  type: GGUFExportType,
  config = tinyConfig(),
  tokenizerDir?: string,
): Promise<{ path: string; weights: ReturnType<typeof randomQwen2Weights> }> {
  const weights = randomQwen2Weights(config, 3);
  const path = join(dir.path, name);
  const tokenizer = tokenizerDir ? tokenizerFolderData(tokenizerDir) : null;
  await writeQwen2GGUF(path, { config, weights, tokenizer, type, name: "tiny" });
  return { path, weights };
}

test("F32 round trip: Hugging Face weights → GGUF → our reader gives identical tensors and config", async () => {
  const config = tinyConfig();
  const { path, weights } = await exportTiny("f32.gguf", "f32", config);
  const g = await openQwen2GGUFPath(path);
  try {
    assert.deepEqual(g.config, config);
    assert.equal(g.dtype, "f32");
    assert.equal(g.tokenizerData, null);
    assert.deepEqual(g.weights.names().sort(), weights.names().sort());
    for (const name of weights.names()) {
      const a = await weights.read(name);
      const b = await g.weights.read(name);
      assert.equal(b.name, name);
      assert.equal(b.dtype, "f32");
      assert.deepEqual(b.shape, a.shape, name);
      assert.deepEqual(b.data, a.data, name);
      assert.deepEqual(g.weights.info(name), { name, dtype: "f32", shape: a.shape, byteLength: a.data.byteLength });
    }
    await assert.rejects(() => g.weights.read("model.layers.9.mlp.up_proj.weight"), /model\.layers\.9\.mlp\.up_proj\.weight/);
  } finally {
    g.close();
  }
  // The metadata llama.cpp reads, under its own keys.
  const raw = await openGGUFPath(path);
  assert.equal(raw.string("general.architecture"), "qwen2");
  assert.equal(raw.number("general.file_type"), 0);
  assert.equal(raw.number("qwen2.block_count"), 2);
  assert.equal(raw.number("qwen2.embedding_length"), 64);
  assert.equal(raw.number("qwen2.feed_forward_length"), 96);
  assert.equal(raw.number("qwen2.attention.head_count"), 4);
  assert.equal(raw.number("qwen2.attention.head_count_kv"), 2);
  assert.equal(raw.number("qwen2.context_length"), 256);
  assert.equal(raw.number("qwen2.rope.freq_base"), 1000000);
  assert.equal(raw.entry("qwen2.attention.layer_norm_rms_epsilon")?.type, GGUFValueType.FLOAT32);
  assert.equal(raw.entry("qwen2.attention.key_length"), undefined); // head_dim is the default
  assert.equal(raw.tensors[0]!.name, "token_embd.weight");
  assert.equal(raw.tensors.at(-1)!.name, "output.weight");
  raw.close();
});

test("each storage type writes the bytes of our quantisers in the type its preset chooses, and keeps 1-D tensors in F32", async () => {
  const fileTypes = { f16: 1, bf16: 32, q8_0: 7, q4_0: 2, q5_1: 9, q4_k_m: 15, q6_k: 18 };
  for (const type of ["f16", "bf16", "q8_0", "q4_0", "q5_1", "q4_k_m", "q6_k"] as const) {
    const { path, weights } = await exportTiny(`${type}.gguf`, type);
    const g = await openQwen2GGUFPath(path);
    try {
      assert.equal(g.file.number("general.file_type"), fileTypes[type]);
      const model = presetModelOf(g.config);
      for (const name of weights.names()) {
        const src = await weights.read(name);
        const got = await g.weights.read(name);
        const want = ggufTensorType(hfToGgufName(name)!, src.shape, type, model);
        if (src.shape.length === 1) assert.equal(want, "f32");
        assert.equal(got.dtype, want, name);
        assert.deepEqual(got.data, encodeTensor(src, want), name);
      }
      // Independent of encodeTensor: the quantised matrix is quantize(values).
      if (type === "q8_0" || type === "q4_0") {
        const src = await weights.read("model.layers.1.mlp.down_proj.weight");
        const values = new Float32Array(src.data.buffer.slice(src.data.byteOffset, src.data.byteOffset + src.data.byteLength));
        const quant = type === "q8_0" ? quantizeQ8_0(values) : quantizeQ4_0(values);
        assert.deepEqual((await g.weights.read("model.layers.1.mlp.down_proj.weight")).data, quant);
      }
    } finally {
      g.close();
    }
  }
});

test("tied embeddings write no output tensor and read back tied; head_dim that is not hidden/heads is stored", async () => {
  const config = tinyConfig({ tie_word_embeddings: true, head_dim: 32 });
  const { path } = await exportTiny("tied.gguf", "bf16", config);
  const g = await openQwen2GGUFPath(path);
  assert.equal(g.file.tensor("output.weight"), undefined);
  assert.equal(g.weights.has("lm_head.weight"), false);
  assert.deepEqual(g.config, config);
  assert.equal(g.file.number("qwen2.attention.key_length"), 32);
  g.close();
});

test("RoPE scaling (linear, yarn) and sliding-window layouts survive the round trip; dynamic NTK is refused", async () => {
  const yarn = tinyConfig({
    rope_scaling: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 32, beta_fast: 32, beta_slow: 1 },
  });
  const linear = tinyConfig({ rope_scaling: { rope_type: "linear", factor: 2.5 } });
  const sliding = tinyConfig({
    num_hidden_layers: 4,
    use_sliding_window: true,
    sliding_window: 8,
    max_window_layers: 2,
    layer_types: ["full_attention", "full_attention", "sliding_attention", "sliding_attention"],
  });
  for (const [name, config] of [
    ["yarn", yarn],
    ["linear", linear],
    ["sliding", sliding],
  ] as const) {
    const { path } = await exportTiny(`${name}.gguf`, "f16", config);
    const g = await openQwen2GGUFPath(path);
    assert.deepEqual(g.config, config, name);
    g.close();
  }
  const yarnFile = await openGGUFPath(join(dir.path, "yarn.gguf"));
  assert.equal(yarnFile.string("qwen2.rope.scaling.type"), "yarn");
  assert.equal(yarnFile.number("qwen2.rope.scaling.original_context_length"), 32);
  yarnFile.close();
  const dynamic = tinyConfig({ rope_scaling: { rope_type: "dynamic", factor: 2 } });
  await assert.rejects(() => exportTiny("dynamic.gguf", "f16", dynamic), UnsupportedError);
  assert.ok(!existsSync(join(dir.path, "dynamic.gguf")));
});

test("the tokenizer is stored as convert_hf_to_gguf.py stores it and read back in Hugging Face's shapes", async () => {
  const tokDir = join(dir.path, "tok");
  mkdirSync(tokDir);
  const { vocabSize } = writeTinyTokenizer(tokDir, 8);
  const config = tinyConfig({ vocab_size: vocabSize + 4, bos_token_id: 7 }); // 4 padding rows, as real models have
  const { path } = await exportTiny("tok.gguf", "q8_0", config, tokDir);
  const raw = await openGGUFPath(path);
  assert.equal(raw.string("tokenizer.ggml.model"), "gpt2");
  assert.equal(raw.string("tokenizer.ggml.pre"), "qwen2");
  const tokens = raw.strings("tokenizer.ggml.tokens")!;
  const types = raw.numbers("tokenizer.ggml.token_type")!;
  assert.equal(tokens.length, config.vocab_size);
  assert.deepEqual(tokens.slice(-4), [`[PAD${vocabSize}]`, `[PAD${vocabSize + 1}]`, `[PAD${vocabSize + 2}]`, `[PAD${vocabSize + 3}]`]);
  assert.deepEqual(types.slice(vocabSize - 4), [3, 3, 3, 4, 5, 5, 5, 5]);
  assert.equal(types[0], TokenType.NORMAL);
  assert.equal(raw.number("tokenizer.ggml.eos_token_id"), vocabSize - 2); // <|im_end|>
  assert.equal(raw.number("tokenizer.ggml.padding_token_id"), vocabSize - 4); // <|endoftext|>
  assert.equal(raw.number("tokenizer.ggml.bos_token_id"), 7); // from config.json: tokenizer_config has none
  assert.equal(raw.bool("tokenizer.ggml.add_bos_token"), false);
  assert.equal(raw.string("tokenizer.chat_template"), "{{ messages }}");
  raw.close();

  const g = await openQwen2GGUFPath(path);
  const t = g.tokenizerData!;
  assert.equal(Object.keys(t.vocab).length, 256 + 8);
  assert.equal(t.vocab["aa"], 256);
  assert.equal(t.vocab["ab"], 257);
  assert.deepEqual(t.merges.slice(0, 2), ["a a", "a b"]);
  assert.deepEqual(
    t.addedTokens.map((a) => [a.id, a.content, a.special]),
    [
      [vocabSize - 4, "<|endoftext|>", true],
      [vocabSize - 3, "<|im_start|>", true],
      [vocabSize - 2, "<|im_end|>", true],
      [vocabSize - 1, "<tool>", false],
    ],
  );
  assert.equal(t.eosToken, "<|im_end|>");
  assert.equal(t.padToken, "<|endoftext|>");
  assert.equal(t.chatTemplate, "{{ messages }}");
  assert.deepEqual(g.config.eos_token_id, [vocabSize - 2]);
  assert.deepEqual(g.generationConfig, { eos_token_id: [vocabSize - 2], bos_token_id: 7, pad_token_id: vocabSize - 4 });
  g.close();
});

test("the Qwen2.5 tokenizer at the real vocabulary size: padding slots, and look-special tokens become CONTROL as convert_hf_to_gguf.py makes them", {
  skip: !existsSync(join(tokenizersDir, "qwen2.5")) && "shared tokenizers missing",
}, async () => {
  // A model of the real vocabulary size, tiny otherwise, so the whole vocabulary is written and read.
  const config = tinyConfig({
    vocab_size: 151936,
    hidden_size: 32,
    head_dim: 8,
    intermediate_size: 32,
    num_hidden_layers: 1,
    layer_types: ["full_attention"],
    max_window_layers: 1,
    tie_word_embeddings: true,
  });
  const { path } = await exportTiny("qwen2-vocab.gguf", "bf16", config, join(tokenizersDir, "qwen2.5"));
  const g = await openQwen2GGUFPath(path);
  const t = g.tokenizerData!;
  assert.equal(t.tokens.length, 151936);
  assert.equal(t.tokens[151664], "<|file_sep|>");
  assert.equal(t.tokens[151665], "[PAD151665]");
  const typeOf = (content: string): number => t.tokenTypes[t.tokens.indexOf(content)]!;
  assert.equal(typeOf("<|im_end|>"), TokenType.CONTROL);
  assert.equal(typeOf("<|fim_prefix|>"), TokenType.CONTROL); // not special in HF, but looks special
  assert.equal(typeOf("<tool_call>"), TokenType.USER_DEFINED);
  assert.equal(Object.keys(t.vocab).length, 151643);
  assert.equal(typeof t.vocab["Ġthe"], "number");
  assert.equal(t.merges.length, 151387);
  assert.equal(t.eosToken, "<|im_end|>");
  assert.ok(t.chatTemplate?.includes("tools"));
  g.close();
});

test("a tensor type we do not run is reported with its type and tensor; a non-qwen2 file is refused", async () => {
  const qwenHeader = (tensorType: number): Uint8Array => {
    const b = header(1, 1).str("general.architecture").u32(GGUFValueType.STRING).str("qwen2");
    b.str("blk.0.attn_q.weight").u32(2).u64(256).u64(2).u32(tensorType).u64(0);
    return b
      .pad(32)
      .raw(new Uint8Array(2 * 66))
      .build();
  };
  const k = dir.file("iq2xxs.gguf", qwenHeader(16)); // IQ2_XXS: 66 bytes per 256 weights
  await assert.rejects(
    () => openQwen2GGUFPath(k),
    (err: unknown) => {
      assert.ok(err instanceof UnsupportedError);
      assert.match(err.message, /'blk\.0\.attn_q\.weight' \(model\.layers\.0\.self_attn\.q_proj\.weight\) is stored as IQ2_XXS/);
      return true;
    },
  );
  const llama = header(0, 1).str("general.architecture").u32(GGUFValueType.STRING).str("llama").build();
  await assert.rejects(async () => await openQwen2GGUFPath(dir.file("llama.gguf", llama)), /architecture 'llama'/);
  const bare = header(0, 1).str("general.architecture").u32(GGUFValueType.STRING).str("qwen2").build();
  await assert.rejects(
    async () => await openQwen2GGUFPath(dir.file("bare.gguf", bare)),
    (err: unknown) => err instanceof FormatError && /token_embd\.weight/.test(err.message),
  );
});

test("missing hyperparameters are named", async () => {
  const { path } = await exportTiny("ok.gguf", "f32");
  const g = await openGGUFPath(path);
  const emb = g.tensor("token_embd.weight")!;
  g.close();
  // Rebuild a header without qwen2.block_count, pointing at the same kind of tensor.
  const b = header(1, 2).str("general.architecture").u32(GGUFValueType.STRING).str("qwen2");
  b.str("qwen2.embedding_length").u32(GGUFValueType.UINT32).u32(64);
  b.str("token_embd.weight").u32(2).u64(emb.dims[0]!).u64(emb.dims[1]!).u32(0).u64(0);
  b.pad(32).raw(new Uint8Array(emb.byteLength));
  await assert.rejects(
    async () => await openQwen2GGUFPath(dir.file("nolayers.gguf", b.build())),
    /missing metadata 'qwen2\.(attention\.head_count|block_count)'/,
  );
});
