import { basename } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { createServer } from "../../server/server.js";
import { backendFlag, intFlag, loadModelFor, parseFlags, progressBar } from "../../server/model_loading.js";

const usage = `Usage: qwen2 serve --model DIR|FILE.gguf [options]

An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models, /tokenize, /detokenize, /health, and a web chat at / (open the URL it prints).

Options:
  --model PATH        Hugging Face model folder or .gguf file (required)
  --host HOST         address to bind (default 127.0.0.1: this machine only)
  --port N            port (default 8080; 0 picks a free one)
  --api-key KEY       require 'Authorization: Bearer KEY' (or set QWEN2_API_KEY)
  --parallel N        sequences decoded together in one batched step (default 4)
  --queue N           requests allowed to wait for a slot before 429 (default 64)
  --ctx N             context length per sequence (default: the model's, at most 4096)
  --name NAME         model id clients pass as "model" (default: the folder/file name)
  --body-limit BYTES  largest request body (default 4 MiB)
  --prefill-chunk N   longest piece of a prompt computed in one step (default 512)
  --backend NAME      compute backend (as for qwen2 generate)
  --threads N         worker threads of the backend
  --no-webui          serve the API only (no chat page at /)
`;

const command: Command = {
  summary: "OpenAI-compatible HTTP server (chat, completions, embeddings, tools, JSON mode)",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, flags } = parseFlags(args, ["model", "host", "port", "api-key", "parallel", "queue", "ctx", "name", "backend", "threads", "body-limit", "prefill-chunk"], ["no-webui"]);
    const path = values.get("model");
    if (!path) throw new UsageError("--model is required");
    const port = intFlag(values, "port", 0, 8080)!;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const host = values.get("host") ?? "127.0.0.1";
    const threads = intFlag(values, "threads", 1);
    const parallel = intFlag(values, "parallel", 1, 4)!;
    const maxQueue = intFlag(values, "queue", 0, 64)!;
    const ctx = intFlag(values, "ctx", 16);
    const bodyLimit = intFlag(values, "body-limit", 1024);
    const prefillChunk = intFlag(values, "prefill-chunk", 1);
    const loaded = await loadModelFor(path, {
      ...(values.get("backend") ? { backend: backendFlag(values.get("backend")!) } : {}),
      ...(threads !== undefined ? { threads } : {}),
      onProgress: progressBar(io.stderr, "loading"),
    });
    const apiKey = values.get("api-key") ?? process.env.QWEN2_API_KEY;
    const server = createServer({
      model: loaded.model,
      tokenizer: loaded.tokenizer,
      modelId: values.get("name") ?? basename(path.replace(/\/+$/, "")),
      eosIds: loaded.eosIds,
      generationConfig: loaded.generationConfig,
      parallel,
      maxQueue,
      ...(ctx !== undefined ? { contextLength: ctx } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(bodyLimit !== undefined ? { bodyLimit } : {}),
      ...(prefillChunk !== undefined ? { prefillChunk } : {}),
      log: (m) => io.stderr.write(m + "\n"),
      webui: !flags.has("no-webui"),
      randomWeights: loaded.randomWeights,
    });
    // Sort the vocabulary for JSON-constrained decoding now (about a second on 151k tokens)
    // rather than stalling every stream at the first JSON request.
    server.context.vocab();
    const url = await server.listen(port, host);
    io.stderr.write(`qwen2 serve: '${server.context.modelId}' on ${url} (parallel ${parallel}, context ${server.context.contextLength})${apiKey ? ", API key required" : ""}\n`);
    io.stdout.write(`${url}\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    io.stderr.write("qwen2 serve: shutting down\n");
    await server.close();
    await loaded.close();
    return 0;
  },
};

export default command;
