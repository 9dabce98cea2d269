/**
 * LoRA adapters served next to the base model, chosen per request by the OpenAI `model`
 * field (as vLLM serves LoRA modules): `"sql"` (the adapter's name) or `"qwen2:sql"` (the
 * base's id or an alias, a colon, the adapter's name); the base's own id means no adapter.
 * Each adapter is listed in `/v1/models` with `parent` (the base id) and `root` (its folder).
 *
 * Requests with different adapters run in the same batched step (each sequence's rows get its
 * own adapter: models/lora.ts). A finished sequence's cache is reused only by a request with
 * the same adapter (prefix_pool.ts), since its keys and values depend on the adapter.
 */
import { InvalidArgumentError } from "../errors.js";
import type { AdapterChoice, LoraAdapter } from "../models/lora.js";
import { ApiError, errors } from "./errors.js";
import { servesModel, type ServerContext } from "./context.js";

export interface ServedAdapter {
  /** What requests pass as `model` (or after `base:`). */
  readonly name: string;
  readonly adapter: LoraAdapter;
  /** Multiplier of the adapter's trained scale (default 1). */
  readonly scale?: number;
  /** Where it was loaded from, for /v1/models (`root`). */
  readonly source?: string;
}

/** The adapters by name, checked: names unique, non-empty, without ':' and unlike the base id. */
export function adapterTable(list: readonly ServedAdapter[], modelId: string): ReadonlyMap<string, ServedAdapter> {
  const map = new Map<string, ServedAdapter>();
  for (const a of list) {
    if (a.name === "" || a.name.includes(":"))
      throw new InvalidArgumentError(`LoRA adapter name ${JSON.stringify(a.name)}: expected a non-empty name without ':'`);
    if (a.name === modelId) throw new InvalidArgumentError(`LoRA adapter name ${JSON.stringify(a.name)} is the base model's id`);
    if (map.has(a.name)) throw new InvalidArgumentError(`two LoRA adapters are named ${JSON.stringify(a.name)}`);
    map.set(a.name, a);
  }
  return map;
}

/** The adapter a `model` value names, or null when it names none. */
function adapterNamed(ctx: ServerContext, model: string): ServedAdapter | null {
  const direct = ctx.adapters.get(model);
  if (direct) return direct;
  const colon = model.lastIndexOf(":");
  if (colon <= 0) return null;
  const a = ctx.adapters.get(model.slice(colon + 1));
  if (!a) return null;
  const base = model.slice(0, colon);
  if (!servesModel(ctx, base)) throw errors.unknownModel(base, ctx.modelId);
  return a;
}

/**
 * The adapters a generation request's `model` field chooses: none for the base model's
 * names (or no `model`), one for an adapter's. Anything else is the usual 404.
 */
export function requestAdapters(ctx: ServerContext, model: string | undefined): readonly AdapterChoice[] {
  if (model === undefined) return [];
  const a = adapterNamed(ctx, model);
  if (a) return [{ adapter: a.adapter, scale: a.scale ?? 1 }];
  if (servesModel(ctx, model)) return [];
  const names = [...ctx.adapters.keys()];
  throw new ApiError(
    404,
    `The model '${model}' does not exist; this server serves '${ctx.modelId}'${names.length > 0 ? ` with LoRA adapters ${names.map((n) => `'${n}'`).join(", ")}` : ""}.`,
    "not_found_error",
    "model",
    "model_not_found",
  );
}

/** Refuses an adapter name where only the base model serves (embeddings). */
export function refuseAdapter(ctx: ServerContext, model: string | undefined, route: string): void {
  if (model === undefined || ctx.adapters.size === 0) return;
  if (adapterNamed(ctx, model) !== null) {
    throw new ApiError(
      400,
      `'${model}' is a LoRA adapter; ${route} runs the base model only (pass model '${ctx.modelId}')`,
      "invalid_request_error",
      "model",
      "invalid_value",
    );
  }
}

/** A key naming a request's adapter choice, for caches that must not mix them ("" for none). */
export function adapterKey(adapters: readonly AdapterChoice[] | undefined): string {
  if (!adapters || adapters.length === 0) return "";
  return adapters.map((c) => `${c.adapter.id}*${c.scale ?? 1}`).join("+");
}

/** /v1/models entries for the adapters (vLLM's shape: `parent` is the base model). */
export function adapterCards(ctx: ServerContext): unknown[] {
  return [...ctx.adapters.values()].map((a) => ({
    id: a.name,
    object: "model",
    created: ctx.created,
    owned_by: "qwen2-ts",
    root: a.source ?? a.name,
    parent: ctx.modelId,
    context_length: ctx.contextLength,
  }));
}

/** The /v1/models/ID card of an adapter, or null. */
export function adapterCard(ctx: ServerContext, id: string): unknown | null {
  return ctx.adapters.has(id) ? adapterCards(ctx).find((c) => (c as { id: string }).id === id)! : null;
}
