/**
 * A page built with Vite that runs a model through the published package: WorkerEngine loads
 * it in a module worker, and the wasm backend starts its compute workers from there (several
 * threads when the page is cross-origin isolated). The result is written to #out as JSON.
 *
 *   ?model=URL        a Hugging Face folder (ending in "/") or a .gguf file
 *   ?prompt=TEXT      text to continue (needs the model's tokenizer), or
 *   ?ids=1,2,3        token ids
 *   ?max=N            new tokens (default 16); ?threads=N (default: the machine's cores)
 */
import { WorkerEngine } from "qwen2-ts";

const out = document.querySelector("#out");
const params = new URLSearchParams(location.search);

async function main() {
  const model = params.get("model");
  if (!model) throw new Error("give the model's URL as ?model=URL");
  const threads = Number(params.get("threads") ?? navigator.hardwareConcurrency);
  const ids = params.get("ids");
  const input = ids ? { ids: ids.split(",").map(Number) } : (params.get("prompt") ?? "Hello");
  const engine = await WorkerEngine.create({ model: new URL(model, location.href).href, threads });
  try {
    const result = await engine.generate(input, { maxNewTokens: Number(params.get("max") ?? 16), temperature: 0 });
    return { backend: engine.info.backend, crossOriginIsolated, ids: result.ids, text: result.text };
  } finally {
    engine.dispose();
  }
}

main().then(
  (result) => {
    out.textContent = JSON.stringify(result);
    out.dataset.state = "done";
  },
  (err) => {
    out.textContent = `${err.name}: ${err.message}`;
    out.dataset.state = "failed";
  },
);
