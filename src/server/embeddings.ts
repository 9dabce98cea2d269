/**
 * POST /v1/embeddings: each input's final hidden state at its last token (last-token
 * pooling: with one unpadded sequence per input, the last position the mask keeps),
 * L2-normalised, as OpenAI returns them: float arrays or base64 of little-endian float32
 * (the openai SDK asks for base64 by default). The forward passes go through the scheduler
 * (Scheduler.exclusive) in batches, so a request of many inputs takes turns with running
 * streams instead of holding the model; `--max-embedding-inputs` bounds the inputs.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { checkModel, checkPromptFits, hasHiddenStates, type ServerContext } from "./context.js";
import { refuseAdapter } from "./adapters.js";
import { ApiError, errors, invalidField } from "./errors.js";
import { readPrompts } from "./completions.js";
import { sendJson } from "./http_util.js";
import { Fields, requireObject } from "./validate.js";

export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

/** Tokens of one batched hidden-states pass: about one prefill chunk, so streams wait no longer for it than for a long prompt. */
const BATCH_TOKENS = 512;

export async function handleEmbeddings(ctx: ServerContext, body: unknown, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const f = new Fields(requireObject(body, "body"));
  refuseAdapter(ctx, f.string("model"), "/v1/embeddings");
  checkModel(ctx, f.string("model"));
  const raw = f.raw("input");
  // Counted before anything is tokenized: a list of texts or of id lists (a flat list of ids is one input).
  const max = ctx.limits.maxEmbeddingInputs;
  if (Array.isArray(raw) && raw.length > max && !raw.every((x) => typeof x === "number"))
    throw errors.tooManyInputs("input", raw.length, max);
  const format = f.string("encoding_format") ?? "float";
  if (format !== "float" && format !== "base64") throw invalidField("encoding_format", `expected "float" or "base64", got '${format}'`);
  const model = ctx.model;
  if (!hasHiddenStates(model))
    throw new ApiError(
      501,
      "This model does not expose hidden states, so it cannot embed.",
      "invalid_request_error",
      null,
      "embeddings_unsupported",
    );
  const hidden = model.config.hidden_size;
  const dims = f.integer("dimensions", 1, hidden);
  const inputs = await readPrompts(ctx, raw, "input");
  inputs.forEach((p, i) => checkPromptFits(ctx, p.ids.length, inputs.length > 1 ? `input[${i}]` : "input"));
  // Batches of about BATCH_TOKENS tokens, each run by the scheduler between two decode steps
  // (so running streams keep going), each input in a throwaway cache of its own length.
  const pooled: Float32Array[] = [];
  for (let start = 0; start < inputs.length; ) {
    let end = start + 1;
    let tokens = inputs[start]!.ids.length;
    while (end < inputs.length && tokens + inputs[end]!.ids.length <= BATCH_TOKENS) tokens += inputs[end++]!.ids.length;
    const batch = inputs.slice(start, end);
    const states = await ctx.scheduler.exclusive(async () => {
      const caches = batch.map((p) => model.createCache(p.ids.length));
      try {
        return await model.hiddenStates(batch.map((p, i) => ({ ids: Int32Array.from(p.ids), cache: caches[i]! })));
      } finally {
        for (const c of caches) c.dispose();
      }
    });
    // Last-token pooling: the final-normed state of each input's last token (copied: the batch's states go).
    batch.forEach((p, i) => pooled.push(states[i]!.slice((p.ids.length - 1) * hidden, p.ids.length * hidden)));
    start = end;
  }
  let tokens = 0;
  const data = inputs.map((p, index) => {
    tokens += p.ids.length;
    let v = pooled[index]!;
    // OpenAI's `dimensions` shortens then renormalises (Matryoshka style).
    if (dims !== undefined) v = v.subarray(0, dims);
    const e = normalise(v);
    const embedding = format === "base64" ? Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString("base64") : Array.from(e);
    return { object: "embedding", index, embedding };
  });
  sendJson(res, 200, { object: "list", data, model: ctx.modelId, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}
