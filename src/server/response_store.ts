/**
 * What `store: true` (the Responses API default) keeps: the last few responses, in memory,
 * so a client can continue from one (`previous_response_id`) or point at one of its output
 * items (`{type: "item_reference", id}`, which @ai-sdk/openai sends for earlier assistant
 * text), or fetch it again (GET /v1/responses/ID), or delete it (DELETE /v1/responses/ID). Nothing is written to disk; a restart forgets everything, and the oldest response
 * goes once `capacity` are kept. A miss is a 400 that says so.
 */
import type { JsonObject } from "./validate.js";

export interface StoredResponse {
  /** The conversation the response answered, as input items (its own instructions excluded). */
  readonly input: readonly JsonObject[];
  /** Its output items (message, function_call, reasoning), as returned. */
  readonly output: readonly JsonObject[];
  /** The whole response object, for GET /v1/responses/ID. */
  readonly response: JsonObject;
}

export class ResponseStore {
  private readonly responses = new Map<string, StoredResponse>();
  private readonly items = new Map<string, JsonObject>();

  constructor(readonly capacity = 256) {}

  get size(): number {
    return this.responses.size;
  }

  put(id: string, response: StoredResponse): void {
    this.responses.set(id, response);
    for (const item of response.output) if (typeof item.id === "string") this.items.set(item.id, item);
    while (this.responses.size > this.capacity) {
      const [oldest, r] = this.responses.entries().next().value as [string, StoredResponse];
      this.responses.delete(oldest);
      for (const item of r.output) if (typeof item.id === "string") this.items.delete(item.id);
    }
  }

  response(id: string): StoredResponse | undefined {
    return this.responses.get(id);
  }

  /** Forgets a response and its output items; false when it was not kept. */
  delete(id: string): boolean {
    const r = this.responses.get(id);
    if (!r) return false;
    this.responses.delete(id);
    for (const item of r.output) if (typeof item.id === "string") this.items.delete(item.id);
    return true;
  }

  item(id: string): JsonObject | undefined {
    return this.items.get(id);
  }
}
