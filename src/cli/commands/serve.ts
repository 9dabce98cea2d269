import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { UsageError, type CliIO, type Command } from "../command.js";
import { intFlag, numberFlag, parseFlags, type FlagValues } from "../flags.js";
import { loadAnyModelFor, MODEL_FLAGS, MODEL_FLAGS_USAGE, readModelFlags } from "../model_flags.js";
import { servedModel } from "../served_model.js";
import { isReasoningFormat, REASONING_FORMATS } from "../../server/reasoning.js";
import { parseApiKeyFile } from "../../server/access.js";
import type { ServerLimits } from "../../server/limits.js";
import { createServer } from "../../server/server.js";
import { LORA_FLAG, loadLoraFlags, readLoraFlags } from "../lora_flags.js";
import type { LoadedModel } from "../../runtime/load.js";

const usage = `Usage: qwen2 serve --model DIR|FILE.gguf [options]

An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings,
/v1/models, /tokenize, /detokenize, /health, and a web chat at / (open the URL it prints).
A folder whose config.json names Qwen2ForSequenceClassification is served at /v1/classify
and /v1/rerank (a one-label reranker) instead.

Options:
${MODEL_FLAGS_USAGE}
  --host HOST         address to bind (default 127.0.0.1: this machine only)
  --port N            port (default 8080; 0 picks a free one)
  --api-key KEY       require 'Authorization: Bearer KEY' (or set QWEN2_API_KEY)
  --api-key-file PATH accept any key of this file (one per line, # comments)
  --parallel N        sequences decoded together in one batched step (default 4)
  --queue N           requests allowed to wait for a slot before 429 (default 64)
  --ctx N             context length per sequence (default: the model's, at most 4096)
  --name NAME         model id clients pass as "model" (default: the folder/file name;
                      a request without "model" gets this model too)
  --model-alias NAME  another name clients may pass as "model" (repeatable)
  --accept-any-model  answer whatever "model" a request names (llama.cpp's behaviour;
                      default: an unknown name is a 404 naming the model served)
  --lora NAME=DIR[:SCALE]  PEFT LoRA adapter (repeatable): a request's "model" NAME (or
                      "<name>:NAME") gets it, unmerged, batched with the others; listed
                      in /v1/models with "parent". SCALE multiplies its alpha / r
  --reasoning-format F  deepseek (default): <think>…</think> goes to reasoning_content;
                      none: it stays inline in content (a request's reasoning_format wins)
  --prefill-chunk N   longest piece of a prompt computed in one step (default 512)
  --shared-choice-slots N  slots a request's n choices may decode in at once while
                      other requests are active or waiting (default 1; alone, every slot)
  --ahead-tokens N    tokens a request may have generated beyond the least-served decoding
                      one before it is demoted (default 0)
  --ahead-step-interval N  a demoted request joins one batched step in N (default 4; 1: never
                      demote, batch every running sequence every step)
  --kv-caches N       most K/V caches (each --ctx tokens) held at once: running, paused and
                      waiting sequences and prompt prefixes kept (default --parallel + 1);
                      all allocated at startup, so no load grows memory; past it, a sequence
                      takes a paused or waiting one's cache (recomputed later) or waits
  --no-kv-reserve     create K/V caches on demand (up to --kv-caches) instead of at startup
  --no-webui          serve the API only (no chat page at /)
  --rerank-template T how /v1/rerank writes a (query, document) pair: a text with {query} and
                      {document} ({instruction} optional), or "qwen" (Qwen's reranker prompt);
                      default: the query's tokens then the document's, as llama.cpp does

Operations (docs/server.md#operations):
  --body-limit BYTES        largest request body (default 4 MiB; more: 413)
  --read-timeout S          headers and body must arrive within S seconds (default 600; 0: none)
  --idle-timeout S          close keep-alive connections idle this long (default 5)
  --request-timeout S       end a request still running after S seconds with 408 (default 600; 0: none)
  --max-connections N       open connections at once; more get 503 (default 512)
  --max-embedding-inputs N  inputs per /v1/embeddings request (default 2048)
  --max-tokenize-tokens N   tokens one /tokenize answer may hold (default 131072)
  --max-schema-bytes BYTES  largest JSON schema (response_format, text.format, a tool's
                            parameters) as canonical JSON (default 4 MiB; more: 400)
  --max-schema-enum N       enum/const values one schema may list (default 200000)
  --max-schema-properties N object properties one schema may declare (default 200000)
  --max-schema-states N     automaton states one schema may compile to (default 1000000)
  --max-schema-compile-time S  work time one schema's compilation may take (default 5)
  --schema-cache-bytes BYTES   compiled schemas kept for reuse (default 32 MiB)
  --mask-cache-bytes BYTES     token masks of constrained decoding kept (default 64 MiB)
  --cors-origin ORIGIN      let browser pages from ORIGIN call the API (repeatable; * for any)
  --allowed-host HOST       a Host name to answer besides localhost/127.0.0.1/[::1] (repeatable;
                            * switches the check off; on by default for loopback binds)
  --tls-cert PEM --tls-key PEM  serve HTTPS
  --shutdown-timeout S      on SIGTERM/SIGINT, let running requests finish this long (default 30)

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
      "api-key-file": { type: "string" },
      parallel: { type: "string" },
      queue: { type: "string" },
      ctx: { type: "string" },
      name: { type: "string" },
      "model-alias": { type: "string", multiple: true },
      "accept-any-model": { type: "boolean" },
      ...LORA_FLAG,
      "reasoning-format": { type: "string" },
      "body-limit": { type: "string" },
      "prefill-chunk": { type: "string" },
      "shared-choice-slots": { type: "string" },
      "ahead-tokens": { type: "string" },
      "ahead-step-interval": { type: "string" },
      "no-webui": { type: "boolean" },
      "kv-caches": { type: "string" },
      "no-kv-reserve": { type: "boolean" },
      "rerank-template": { type: "string" },
      "read-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "request-timeout": { type: "string" },
      "max-connections": { type: "string" },
      "max-embedding-inputs": { type: "string" },
      "max-tokenize-tokens": { type: "string" },
      "max-schema-bytes": { type: "string" },
      "max-schema-enum": { type: "string" },
      "max-schema-properties": { type: "string" },
      "max-schema-states": { type: "string" },
      "max-schema-compile-time": { type: "string" },
      "schema-cache-bytes": { type: "string" },
      "mask-cache-bytes": { type: "string" },
      "cors-origin": { type: "string", multiple: true },
      "allowed-host": { type: "string", multiple: true },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "shutdown-timeout": { type: "string" },
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
    const sharedChoiceSlots = intFlag(values, "shared-choice-slots", { min: 1 });
    const aheadTokens = intFlag(values, "ahead-tokens", { min: 0 });
    const aheadStepInterval = intFlag(values, "ahead-step-interval", { min: 1 });
    const kvCaches = intFlag(values, "kv-caches", { min: 1 });
    const reasoningFormat = values["reasoning-format"] ?? "deepseek";
    if (!isReasoningFormat(reasoningFormat))
      throw new UsageError(`--reasoning-format must be one of ${REASONING_FORMATS.join(", ")}, got '${reasoningFormat}'`);
    const limits = readLimitFlags(values);
    const shutdownMs = (numberFlag(values, "shutdown-timeout", { min: 0 }) ?? 30) * 1000;
    const apiKeys = values["api-key-file"] ? readKeyFile(values["api-key-file"]) : [];
    const tls = readTls(values["tls-cert"], values["tls-key"]);
    const loraFlags = readLoraFlags(values, true);
    const loaded = await loadAnyModelFor(io, modelFlags, { progress: true });
    const served = servedModel(loaded, modelFlags.path, values["rerank-template"]);
    if (served.classifier && loraFlags.length > 0) {
      loaded.close();
      throw new UsageError("--lora: adapters apply to a causal LM; this folder is a sequence classification model");
    }
    const loras = served.classifier ? [] : await loadLoraFlags(io, loaded as LoadedModel, loraFlags);
    const path = modelFlags.path;
    const apiKey = values["api-key"] ?? process.env.QWEN2_API_KEY;
    const server = createServer({
      model: served.model,
      ...(served.classifier ? { classifier: served.classifier, rerankTemplate: served.rerankTemplate } : {}),
      tokenizer: loaded.tokenizer,
      modelId: values.name ?? basename(path.replace(/\/+$/, "")),
      modelAliases: values["model-alias"] ?? [],
      acceptAnyModel: values["accept-any-model"] === true,
      adapters: loras.map((l) => ({ name: l.flag.name!, adapter: l.adapter, scale: l.flag.scale, source: l.flag.path })),
      reasoningFormat,
      eosIds: loaded.eosIds,
      generationConfig: loaded.generationConfig,
      parallel,
      maxQueue,
      ...(ctx !== undefined ? { contextLength: ctx } : {}),
      ...(apiKey ? { apiKey } : {}),
      apiKeys,
      ...(bodyLimit !== undefined ? { bodyLimit } : {}),
      limits,
      corsOrigins: values["cors-origin"] ?? [],
      allowedHosts: values["allowed-host"] ?? [],
      ...(tls ? { tls } : {}),
      ...(prefillChunk !== undefined ? { prefillChunk } : {}),
      ...(sharedChoiceSlots !== undefined ? { sharedChoiceSlots } : {}),
      ...(aheadTokens !== undefined ? { aheadTokens } : {}),
      ...(aheadStepInterval !== undefined ? { aheadStepInterval } : {}),
      ...(kvCaches !== undefined ? { kvCaches } : {}),
      reserveKvCaches: values["no-kv-reserve"] !== true,
      log: (m) => io.stderr.write(m + "\n"),
      webui: values["no-webui"] !== true,
      randomWeights: loaded.randomWeights,
    });
    await server.warmUp();
    const url = await server.listen(port, host);
    io.stderr.write(
      `qwen2 serve: '${server.context.modelId}' on ${url} (parallel ${parallel}, context ${server.context.contextLength})${apiKey || apiKeys.length > 0 ? ", API key required" : ""}\n`,
    );
    io.stdout.write(`${url}\n`);
    const signal = await new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    io.stderr.write(`qwen2 serve: ${signal}: no new connections; finishing running requests (up to ${shutdownMs / 1000} s)\n`);
    // A second signal stops at once.
    const hurry = (): void => void server.shutdown(0);
    process.once("SIGINT", hurry).once("SIGTERM", hurry);
    const cut = await server.shutdown(shutdownMs);
    process.off("SIGINT", hurry).off("SIGTERM", hurry);
    io.stderr.write(`qwen2 serve: stopped${cut > 0 ? ` (${cut} unfinished requests ended)` : ""}\n`);
    for (const l of loras) l.adapter.dispose();
    await loaded.close();
    return 0;
  },
};

/** The --*-timeout, size and schema-budget flags as ServerLimits (seconds become milliseconds). */
function readLimitFlags(values: FlagValues): Partial<ServerLimits> {
  const seconds = (name: string, min: number): number | undefined => {
    const s = numberFlag(values, name, { min });
    return s === undefined ? undefined : Math.round(s * 1000);
  };
  const out: { -readonly [K in keyof ServerLimits]?: number } = {
    readTimeoutMs: seconds("read-timeout", 0),
    idleTimeoutMs: seconds("idle-timeout", 0.001),
    requestDeadlineMs: seconds("request-timeout", 0),
    maxConnections: intFlag(values, "max-connections", { min: 1 }),
    maxEmbeddingInputs: intFlag(values, "max-embedding-inputs", { min: 1 }),
    maxTokenizeTokens: intFlag(values, "max-tokenize-tokens", { min: 1 }),
    maxSchemaBytes: intFlag(values, "max-schema-bytes", { min: 1 }),
    maxSchemaEnum: intFlag(values, "max-schema-enum", { min: 0 }),
    maxSchemaProperties: intFlag(values, "max-schema-properties", { min: 0 }),
    maxSchemaStates: intFlag(values, "max-schema-states", { min: 1 }),
    maxSchemaCompileMs: seconds("max-schema-compile-time", 0.001),
    schemaCacheBytes: intFlag(values, "schema-cache-bytes", { min: 0 }),
    maskCacheBytes: intFlag(values, "mask-cache-bytes", { min: 0 }),
  };
  for (const k of Object.keys(out) as (keyof ServerLimits)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function readKeyFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`--api-key-file: cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return parseApiKeyFile(text, path);
  } catch (err) {
    throw new UsageError(`--api-key-file: ${(err as Error).message}`);
  }
}

function readTls(cert: string | undefined, key: string | undefined): { cert: Buffer; key: Buffer } | null {
  if (cert === undefined && key === undefined) return null;
  if (cert === undefined || key === undefined) throw new UsageError("--tls-cert and --tls-key go together");
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return { cert: read("tls-cert", cert), key: read("tls-key", key) };
}

export default command;
