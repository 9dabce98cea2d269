/**
 * A `loadModel` for the web chat's screenshot (test/support/cli_with_loader.js runs `qwen2 serve` with it): the server
 * tests' toy model answering with a fixed markdown reply, a few milliseconds per token so
 * the page streams it. It stands in for a trained model, which the tests do not have, to
 * show the page's markdown rendering; docs/webui.md says the screenshot comes from it.
 */
import type { ForwardItem } from "../../src/models/causal_lm.js";
import type { LoadOptions, LoadedModel } from "../../src/runtime/load.js";
import { IM_END, ResponderModel, ServerToyTokenizer } from "../server/toy.js";

export const SCRIPTED_REPLY = [
  "Here is a small function that reverses the words of a sentence:",
  "",
  "```ts",
  "export function reverseWords(text: string): string {",
  '  return text.split(/\\s+/).reverse().join(" ");',
  "}",
  "```",
  "",
  "How it works:",
  "",
  "1. `split(/\\s+/)` cuts the text at runs of whitespace.",
  "2. `reverse()` flips the array **in place**.",
  '3. `join(" ")` glues the words back with single spaces.',
  "",
  'For example, `reverseWords("hello brave new world")` returns *"world new brave hello"*.',
].join("\n");

/** Answers by the last user turn: a greeting, a reply full of HTML that must stay text, or the markdown answer. */
export function scriptFor(prompt: string): string {
  const turn = prompt.slice(prompt.lastIndexOf("<|im_start|>user"));
  if (/hello/i.test(turn)) return "Hello! Bonjour ! ¡Hola! 👋";
  if (/html/i.test(turn)) return UNSAFE_REPLY;
  return SCRIPTED_REPLY;
}

/** Markup a reply might carry: the page must show it as text and run none of it. */
export const UNSAFE_REPLY =
  '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> [click](javascript:window.pwned=3) <b>bold?</b>';

export async function loadModel(_path: string, options: LoadOptions): Promise<LoadedModel> {
  options.onProgress?.({ phase: "ready", loaded: 1, total: 1 });
  const tokenizer = new ServerToyTokenizer();
  const model = new ResponderModel(tokenizer, scriptFor, 4096);
  const delay = Number(process.env.QWEN2_SCRIPTED_DELAY_MS ?? "4");
  const forward = model.forward.bind(model);
  model.forward = (items: readonly ForwardItem[]) => {
    const until = Date.now() + delay;
    while (Date.now() < until);
    return forward(items);
  };
  return {
    model,
    tokenizer,
    eosIds: [IM_END],
    generationConfig: {},
    config: {} as LoadedModel["config"],
    path: "scripted",
    format: "hf-folder",
    backend: "reference",
    randomWeights: false,
    close: () => {},
  };
}
