import { defineConfig } from "vite";

// Cross-origin isolation: without these headers the page has no SharedArrayBuffer and the
// model runs on one thread. Whatever serves the `vite build` output must send them too.
const crossOriginIsolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  // A missing file is a 404, not index.html: the loader probes for optional files
  // (model.safetensors.index.json, tokenizer files) of models served from public/.
  appType: "mpa",
  // Module workers keep the engine worker's lazily imported chunks (the embedded tokenizers,
  // 1.2 MB, fetched only for a model without tokenizer files) out of its start-up script.
  worker: { format: "es" },
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
});
