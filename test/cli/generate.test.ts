import { test } from "node:test";
import assert from "node:assert/strict";
import { runGenerate, type ModelLoader } from "../../src/cli/commands/generate.js";
import { UsageError } from "../../src/cli/command.js";
import type { Qwen2Config, GenerationConfig } from "../../src/formats/config.js";
import type { LoadedModel } from "../../src/runtime/load.js";
import { ToyTokenizer, scriptedModel, hashModel, IM_END, type ToyModel } from "../generation/toy.js";
import { captureIO as io } from "../support/cli_io.js";


/** A loader that hands out a toy model and records what it was asked for. */
function toyLoader(model: ToyModel, extra: { randomWeights?: boolean; generationConfig?: GenerationConfig } = {}) {
  const calls: { path: string; closed: boolean }[] = [];
  const load: ModelLoader = async (path) => {
    const call = { path, closed: false };
    calls.push(call);
    const loaded: LoadedModel = {
      model,
      tokenizer: new ToyTokenizer(),
      config: { eos_token_id: [IM_END] } as unknown as Qwen2Config,
      generationConfig: extra.generationConfig ?? null,
      eosIds: [IM_END],
      path,
      format: "hf-folder",
      backend: "reference",
      randomWeights: extra.randomWeights ?? false,
      close: () => {
        call.closed = true;
      },
    };
    return loaded;
  };
  return { load, calls };
}

test("generate streams the completion to stdout and closes the model", async () => {
  const t = io();
  const { load, calls } = toyLoader(scriptedModel("Hello there"));
  assert.equal(await runGenerate(["--model", "m", "Say", "hi"], t.io, load), 0);
  assert.equal(t.out(), "Hello there\n");
  assert.match(t.err(), /finish: stop/);
  assert.deepEqual(calls, [{ path: "m", closed: true }]);
});

test("--chat renders the chat template with the system message", async () => {
  const model = scriptedModel("ok");
  const t = io();
  await runGenerate(["--model", "m", "--system", "Be brief.", "Hi"], t.io, toyLoader(model).load);
  const tok = new ToyTokenizer();
  assert.equal(tok.decode(model.calls[0]![0]!), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
});

test("--json prints one object with ids, text, finish reason, usage and timings", async () => {
  const t = io();
  await runGenerate(["--model", "m", "--json", "--max-new-tokens", "4", "x"], t.io, toyLoader(scriptedModel("abcdef")).load);
  const obj = JSON.parse(t.out()) as Record<string, unknown>;
  assert.equal(obj.text, "abcd");
  assert.deepEqual(obj.ids, [97, 98, 99, 100]);
  assert.equal(obj.finish_reason, "length");
  assert.deepEqual(obj.usage, { prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 });
  assert.equal(typeof (obj.timings as Record<string, unknown>).decode_tokens_per_second, "number");
});

test("the prompt can come from stdin; --stop trims output", async () => {
  const t = io("piped prompt\n");
  const model = scriptedModel("one. two. three.");
  await runGenerate(["--model", "m", "--stop", "two", "--quiet"], t.io, toyLoader(model).load);
  assert.equal(t.out(), "one. \n");
  assert.equal(t.err(), "");
  assert.equal(new ToyTokenizer().decode(model.calls[0]![0]!), "piped prompt");
});

test("random weights are announced on stderr", async () => {
  const t = io();
  await runGenerate(["--model", "rnd", "x"], t.io, toyLoader(scriptedModel("a"), { randomWeights: true }).load);
  assert.match(t.err(), /RANDOM weights/);
});

test("same --seed, same text; generation_config sampling defaults apply and flags override them", async () => {
  const run = async (args: string[], gc?: GenerationConfig) => {
    const t = io();
    await runGenerate(["--model", "m", "--json", "--max-new-tokens", "16", ...args, "x"], t.io, toyLoader(hashModel(), gc ? { generationConfig: gc } : {}).load);
    return JSON.parse(t.out()) as { ids: number[]; seed: number };
  };
  const a = await run(["--temperature", "1", "--seed", "7"]);
  const b = await run(["--temperature", "1", "--seed", "7"]);
  const c = await run(["--temperature", "1", "--seed", "8"]);
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, c.ids);
  const greedy = await run([]);
  const sampledByConfig = await run(["--seed", "7"], { do_sample: true, temperature: 1, top_k: 0 });
  assert.deepEqual(sampledByConfig.ids, a.ids, "do_sample from generation_config.json samples like --temperature 1");
  const forcedGreedy = await run(["--temperature", "0", "--seed", "7"], { do_sample: true, temperature: 1 });
  assert.deepEqual(forcedGreedy.ids, greedy.ids, "--temperature 0 overrides do_sample");
});

test("bad flags are usage errors naming the flag", async () => {
  const { load } = toyLoader(scriptedModel("a"));
  await assert.rejects(runGenerate(["x"], io().io, load), (e: unknown) => e instanceof UsageError && /--model/.test(e.message));
  await assert.rejects(runGenerate(["--model", "m", "--top-k", "2.5", "x"], io().io, load), /--top-k expects an integer/);
  await assert.rejects(runGenerate(["--model", "m", "--backend", "gpu", "x"], io().io, load), /--backend/);
  await assert.rejects(runGenerate(["--model", "m", "--nope", "x"], io().io, load), UsageError);
});
