import { test } from "node:test";
import assert from "node:assert/strict";
import { runGenerate } from "../../src/cli/commands/generate.js";
import { UsageError, type ModelLoader } from "../../src/cli/command.js";
import type { Qwen2Config, GenerationConfig } from "../../src/formats/config.js";
import type { LoadedModel } from "../../src/runtime/load.js";
import { ToyTokenizer, scriptedModel, hashModel, IM_END, type ToyModel } from "../generation/toy.js";
import { captureIO as io } from "../support/cli_io.js";
import { main } from "../../src/cli/main.js";

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
  assert.equal(await runGenerate(["--model", "m", "Say", "hi"], { ...t.io, loadModel: load }), 0);
  assert.equal(t.out(), "Hello there\n");
  assert.match(t.err(), /finish: stop/);
  assert.deepEqual(calls, [{ path: "m", closed: true }]);
});

test("--chat renders the chat template with the system message", async () => {
  const model = scriptedModel("ok");
  const t = io();
  await runGenerate(["--model", "m", "--system", "Be brief.", "Hi"], { ...t.io, loadModel: toyLoader(model).load });
  const tok = new ToyTokenizer();
  assert.equal(
    tok.decode(model.calls[0]![0]!),
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
  );
});

test("--json prints one object with ids, text, finish reason, usage and timings", async () => {
  const t = io();
  await runGenerate(["--model", "m", "--json", "--max-new-tokens", "4", "x"], {
    ...t.io,
    loadModel: toyLoader(scriptedModel("abcdef")).load,
  });
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
  await runGenerate(["--model", "m", "--stop", "two", "--quiet"], { ...t.io, loadModel: toyLoader(model).load });
  assert.equal(t.out(), "one. \n");
  assert.equal(t.err(), "");
  assert.equal(new ToyTokenizer().decode(model.calls[0]![0]!), "piped prompt");
});

test("random weights are announced on stderr", async () => {
  const t = io();
  await runGenerate(["--model", "rnd", "x"], { ...t.io, loadModel: toyLoader(scriptedModel("a"), { randomWeights: true }).load });
  assert.match(t.err(), /RANDOM weights/);
});

test("same --seed, same text; generation_config sampling defaults apply and flags override them", async () => {
  const run = async (args: string[], gc?: GenerationConfig) => {
    const t = io();
    await runGenerate(["--model", "m", "--json", "--max-new-tokens", "16", ...args, "x"], {
      ...t.io,
      loadModel: toyLoader(hashModel(), gc ? { generationConfig: gc } : {}).load,
    });
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
  await assert.rejects(
    runGenerate(["x"], { ...io().io, loadModel: load }),
    (e: unknown) => e instanceof UsageError && /--model/.test(e.message),
  );
  await assert.rejects(
    runGenerate(["--model", "m", "--top-k", "2.5", "x"], { ...io().io, loadModel: load }),
    /--top-k must be an integer >= 0, got "2.5"/,
  );
  await assert.rejects(runGenerate(["--model", "m", "--backend", "gpu", "x"], { ...io().io, loadModel: load }), /--backend/);
  await assert.rejects(runGenerate(["--model", "m", "--nope", "x"], { ...io().io, loadModel: load }), UsageError);
});

test("flags are checked before the model loads: out-of-range values exit 2 with no load", async () => {
  const { load, calls } = toyLoader(scriptedModel("a"));
  for (const [args, message] of [
    [["--top-p", "2"], /--top-p must be a number in \[0, 1\], got "2"/],
    [["--threads", "0"], /--threads must be an integer >= 1, got "0"/],
    [["--min-p=-0.1"], /--min-p must be a number in \[0, 1\]/],
    [["--min-p", "-0.1"], /--min-p needs a value; write one that starts with "-" as --min-p=-1/],
    [["--repetition-penalty", "0"], /--repetition-penalty must be a number > 0/],
    [["--max-new-tokens", "many"], /--max-new-tokens must be an integer >= 1, got "many"/],
    [["--temperature"], /--temperature needs a value/],
  ] as const) {
    const t = io();
    const code = await main(["generate", "--model", "m", "x", ...args], { ...t.io, loadModel: load });
    assert.equal(code, 2, args.join(" "));
    assert.match(t.err(), message);
  }
  assert.equal(calls.length, 0, "nothing was loaded");
});

test("a mistyped flag gets a suggestion", async () => {
  const { load } = toyLoader(scriptedModel("a"));
  const suggest = async (flag: string) => {
    const t = io();
    assert.equal(await main(["generate", "--model", "m", flag, "1", "x"], { ...t.io, loadModel: load }), 2);
    return t.err();
  };
  assert.match(await suggest("--temprature"), /unknown option --temprature; did you mean --temperature\?/);
  assert.match(await suggest("--max-tokens"), /did you mean --max-new-tokens\?/);
  assert.match(await suggest("--top_p"), /did you mean --top-p\?/);
  assert.doesNotMatch(await suggest("--completely-else"), /did you mean/);
});

test("Ctrl-C stops generating and exits 130", async () => {
  const t = io();
  const model = hashModel();
  const forward = model.forward.bind(model);
  let steps = 0;
  model.forward = (items: Parameters<typeof forward>[0]) => {
    // The third step is interrupted, as a Ctrl-C between tokens would.
    if (++steps === 3) process.emit("SIGINT");
    return forward(items);
  };
  const code = await runGenerate(["--model", "m", "--max-new-tokens", "50", "--json", "x"], { ...t.io, loadModel: toyLoader(model).load });
  assert.equal(code, 130);
  assert.equal((JSON.parse(t.out()) as { finish_reason: string }).finish_reason, "abort");
});
