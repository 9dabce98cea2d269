/**
 * LoRA adapters served next to the base model, chosen per request by the OpenAI `model`
 * field (as vLLM serves LoRA modules): `"sql"` (the adapter's name) or `"qwen2:sql"` (the
 * base's id or an alias, a colon, the adapter's name); the base's own id means no adapter.
 * Each adapter is listed in `/v1/models` with `parent` (the base id) and `root` (its folder).
 *
 * A request may instead set adapters and their scales itself with llama.cpp's per-request
 * field `lora: [{id, scale}, …]`: `id` indexes the adapters in the order served (GET
 * /lora-adapters lists them), `scale` replaces the served scale, and an adapter left out (or
 * at scale 0) is not applied. (vLLM's LoRA request has no scale; llama.cpp's server is the
 * precedent.)
 *
 * Requests with different adapters run in the same batched step (each sequence's rows get its
 * own adapter: models/lora.ts). A finished sequence's cache is reused only by a request with
 * the same adapter (prefix_pool.ts), since its keys and values depend on the adapter.
 */
import { InvalidArgumentError } from "../errors.js";
import type { AdapterChoice, LoraAdapter } from "../models/lora.js";
import { ApiError, errors, invalidField } from "./errors.js";
import { describe, isObject } from "./validate.js";
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
 * The adapters a generation request chooses: by `model`, none for the base model's names (or
 * no `model`), one for an adapter's (anything else is the usual 404); or by `lora` (llama.cpp's
 * `[{id, scale}]`), with `model` naming the base.
 */
export function requestAdapters(ctx: ServerContext, model: string | undefined, lora?: unknown): readonly AdapterChoice[] {
  if (lora !== undefined) return loraField(ctx, model, lora);
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

/** llama.cpp's per-request `lora: [{id, scale}]`, each entry checked (400 naming it). */
function loraField(ctx: ServerContext, model: string | undefined, lora: unknown): readonly AdapterChoice[] {
  const served = [...ctx.adapters.values()];
  if (model !== undefined && adapterNamed(ctx, model) !== null)
    throw invalidField("lora", `'${model}' already chooses a LoRA adapter: choose adapters by model or by lora, not both`);
  if (model !== undefined && !servesModel(ctx, model)) throw errors.unknownModel(model, ctx.modelId);
  if (!Array.isArray(lora)) throw invalidField("lora", `expected a list of {id, scale}, got ${describe(lora)}`, "invalid_type");
  const seen = new Set<number>();
  const out: AdapterChoice[] = [];
  lora.forEach((entry, i) => {
    const p = `lora[${i}]`;
    if (!isObject(entry)) throw invalidField(p, `expected an object {id, scale}, got ${describe(entry)}`, "invalid_type");
    const { id, scale } = entry as { id?: unknown; scale?: unknown };
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= served.length)
      throw invalidField(
        `${p}.id`,
        served.length === 0
          ? "this server serves no LoRA adapters"
          : `expected an adapter index from 0 to ${served.length - 1} (GET /lora-adapters lists them), got ${describe(id)}`,
      );
    if (typeof scale !== "number" || !Number.isFinite(scale))
      throw invalidField(`${p}.scale`, `expected a finite number, got ${describe(scale)}`);
    if (seen.has(id)) throw invalidField(`${p}.id`, `adapter ${id} is listed twice`);
    seen.add(id);
    if (scale !== 0) out.push({ adapter: served[id]!.adapter, scale });
  });
  return out;
}

/** llama.cpp's GET /lora-adapters: each served adapter's index (what `lora[].id` names), source and scale. */
export function loraAdapterList(ctx: ServerContext): unknown[] {
  return [...ctx.adapters.values()].map((a, id) => ({ id, name: a.name, path: a.source ?? a.name, scale: a.scale ?? 1 }));
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
