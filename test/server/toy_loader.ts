/**
 * A model loader for CLI tests (test/support/cli_with_loader.ts runs `qwen2` with it): the toy responder model
 * and tokenizer, with progress reports and a small delay per forward call so a test can
 * interrupt an answer midway.
 */
import type { ForwardItem, ForwardOptions } from "../../src/models/causal_lm.js";
import type { LoadOptions, LoadedModel } from "../../src/runtime/load.js";
import { respond } from "./harness.js";
import { ResponderModel, ServerToyTokenizer, IM_END } from "./toy.js";

export async function loadModel(_path: string, options: LoadOptions): Promise<LoadedModel> {
  for (let i = 0; i <= 4; i++) {
    options.onProgress?.({ phase: i === 4 ? "ready" : "weights", loaded: i, total: 4 });
    await new Promise((r) => setTimeout(r, 5));
  }
  const tokenizer = new ServerToyTokenizer();
  const model = new ResponderModel(tokenizer, respond, 4096);
  const delay = Number(process.env.QWEN2_TOY_DELAY_MS ?? "2");
  const forward = model.forward.bind(model);
  model.forward = (items: readonly ForwardItem[], opts?: ForwardOptions) => {
    const until = Date.now() + delay;
    while (Date.now() < until);
    return opts ? forward(items) : forward(items);
  };
  return {
    model,
    tokenizer,
    eosIds: [IM_END],
    generationConfig: { temperature: 0.7, top_p: 0.8 },
    config: {} as LoadedModel["config"],
    path: "toy",
    format: "hf-folder",
    backend: "reference",
    randomWeights: true,
    close: () => {},
  };
}
