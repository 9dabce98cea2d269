/**
 * The worker behind a WorkerEngine: loads the model here, off the page's main thread, and
 * runs generation for the messages of protocol.ts. Computation is synchronous (and blocks
 * this thread while the wasm pool works); between tokens `stream` yields to the event loop,
 * which is when "abort" messages arrive.
 */
import { parentPort } from "#platform";
import { stream } from "../../generation/generate.js";
import type { LoadedModel } from "../load.js";
import { loadForEngine } from "./load_model.js";
import { serializeError, type FromWorker, type TokenizerCall, type ToWorker } from "./protocol.js";

const port = parentPort();
const post = (message: FromWorker): void => port.postMessage(message);
const loading = new AbortController();
const generations = new Map<number, AbortController>();
let loaded: LoadedModel | null = null;

port.onMessage((data) => {
  const message = data as ToWorker;
  switch (message.type) {
    case "load":
      void load(message.source, message.options);
      return;
    case "abort-load":
      loading.abort();
      return;
    case "generate":
      void generate(message.id, message);
      return;
    case "abort":
      generations.get(message.id)?.abort();
      return;
    case "call":
      try {
        post({ type: "result", id: message.id, value: call(message.call) });
      } catch (err) {
        post({ type: "failed", id: message.id, error: serializeError(err) });
      }
      return;
    case "dispose":
      for (const g of generations.values()) g.abort();
      loaded?.close();
      loaded = null;
      return;
  }
});

async function load(
  source: Extract<ToWorker, { type: "load" }>["source"],
  options: Extract<ToWorker, { type: "load" }>["options"],
): Promise<void> {
  try {
    const m = await loadForEngine(source, options, (progress) => post({ type: "progress", progress }), loading.signal);
    if (loading.signal.aborted) {
      m.close();
      return;
    }
    loaded = m;
    post({
      type: "loaded",
      info: {
        backend: m.engine ?? m.backend,
        config: m.config,
        generationConfig: m.generationConfig,
        eosIds: m.eosIds,
        warnings: m.warnings ?? [],
      },
    });
  } catch (err) {
    post({ type: "load-failed", error: serializeError(err) });
  }
}

async function generate(id: number, message: Extract<ToWorker, { type: "generate" }>): Promise<void> {
  const controller = new AbortController();
  generations.set(id, controller);
  try {
    if (!loaded) throw new Error("WorkerEngine: no model is loaded");
    const it = stream(loaded.model, loaded.tokenizer, message.input, {
      eosIds: loaded.eosIds,
      ...message.options,
      signal: controller.signal,
    });
    for (;;) {
      const step = await it.next();
      if (step.done) {
        post({ type: "done", id, result: step.value });
        return;
      }
      post({ type: "text", id, text: step.value });
    }
  } catch (err) {
    post({ type: "failed", id, error: serializeError(err) });
  } finally {
    generations.delete(id);
  }
}

function call(c: TokenizerCall): unknown {
  if (!loaded) throw new Error("WorkerEngine: no model is loaded");
  const t = loaded.tokenizer;
  switch (c.method) {
    case "encode":
      return t.encode(c.text, c.options);
    case "decode":
      return t.decode(c.ids, c.options);
    case "applyChatTemplate":
      return t.applyChatTemplate(c.messages, c.options);
  }
}
