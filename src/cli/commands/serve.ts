import { basename } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { intFlag, parseFlags } from "../flags.js";
import { loadModelFor, MODEL_FLAGS, MODEL_FLAGS_USAGE, readModelFlags } from "../model_flags.js";
import { isReasoningFormat, REASONING_FORMATS } from "../../server/reasoning.js";
import { createServer } from "../../server/server.js";

const usage = `Usage: qwen2 serve --model DIR|FILE.gguf [options]

An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings,
/v1/models, /tokenize, /detokenize, /health, and a web chat at / (open the URL it prints).

Options:
${MODEL_FLAGS_USAGE}
  --host HOST         address to bind (default 127.0.0.1: this machine only)
  --port N            port (default 8080; 0 picks a free one)
  --api-key KEY       require 'Authorization: Bearer KEY' (or set QWEN2_API_KEY)
  --parallel N        sequences decoded together in one batched step (default 4)
  --queue N           requests allowed to wait for a slot before 429 (default 64)
  --ctx N             context length per sequence (default: the model's, at most 4096)
  --name NAME         model id clients pass as "model" (default: the folder/file name;
                      a request without "model" gets this model too)
  --model-alias NAME  another name clients may pass as "model" (repeatable)
  --accept-any-model  answer whatever "model" a request names (llama.cpp's behaviour;
                      default: an unknown name is a 404 naming the model served)
  --reasoning-format F  deepseek (default): <think>…</think> goes to reasoning_content;
                      none: it stays inline in content (a request's reasoning_format wins)
  --body-limit BYTES  largest request body (default 4 MiB)
  --prefill-chunk N   longest piece of a prompt computed in one step (default 512)
  --no-webui          serve the API only (no chat page at /)

Sampling defaults come from the folder's generation_config.json; each request field
overrides one (see docs/server.md).
`;

const command: Command = {
  summary: "OpenAI-compatible HTTP server (chat, completions, embeddings, tools, JSON mode)",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values } = parseFlags(args, {
      ...MODEL_FLAGS,
      host: { type: "string" },
      port: { type: "string" },
      "api-key": { type: "string" },
      parallel: { type: "string" },
      queue: { type: "string" },
      ctx: { type: "string" },
      name: { type: "string" },
      "model-alias": { type: "string", multiple: true },
      "accept-any-model": { type: "boolean" },
      "reasoning-format": { type: "string" },
      "body-limit": { type: "string" },
      "prefill-chunk": { type: "string" },
      "no-webui": { type: "boolean" },
    });
    // Every flag is checked here, before the model loads.
    const modelFlags = readModelFlags(values);
    const port = intFlag(values, "port", { min: 0, max: 65535 }) ?? 8080;
    const host = values.host ?? "127.0.0.1";
    const parallel = intFlag(values, "parallel", { min: 1 }) ?? 4;
    const maxQueue = intFlag(values, "queue", { min: 0 }) ?? 64;
    const ctx = intFlag(values, "ctx", { min: 16 });
    const bodyLimit = intFlag(values, "body-limit", { min: 1024 });
    const prefillChunk = intFlag(values, "prefill-chunk", { min: 1 });
    const reasoningFormat = values["reasoning-format"] ?? "deepseek";
    if (!isReasoningFormat(reasoningFormat))
      throw new UsageError(`--reasoning-format must be one of ${REASONING_FORMATS.join(", ")}, got '${reasoningFormat}'`);
    const loaded = await loadModelFor(io, modelFlags, { progress: true });
    const path = modelFlags.path;
    const apiKey = values["api-key"] ?? process.env.QWEN2_API_KEY;
    const server = createServer({
      model: loaded.model,
      tokenizer: loaded.tokenizer,
      modelId: values.name ?? basename(path.replace(/\/+$/, "")),
      modelAliases: values["model-alias"] ?? [],
      acceptAnyModel: values["accept-any-model"] === true,
      reasoningFormat,
      eosIds: loaded.eosIds,
      generationConfig: loaded.generationConfig,
      parallel,
      maxQueue,
      ...(ctx !== undefined ? { contextLength: ctx } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(bodyLimit !== undefined ? { bodyLimit } : {}),
      ...(prefillChunk !== undefined ? { prefillChunk } : {}),
      log: (m) => io.stderr.write(m + "\n"),
      webui: values["no-webui"] !== true,
      randomWeights: loaded.randomWeights,
    });
    // Sort the vocabulary for JSON-constrained decoding now (about a second on 151k tokens)
    // rather than stalling every stream at the first JSON request.
    server.context.vocab();
    const url = await server.listen(port, host);
    io.stderr.write(
      `qwen2 serve: '${server.context.modelId}' on ${url} (parallel ${parallel}, context ${server.context.contextLength})${apiKey ? ", API key required" : ""}\n`,
    );
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
