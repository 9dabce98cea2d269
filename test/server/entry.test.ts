/** `qwen2-ts/server` resolves through package.json `exports` to the server entry. */
import assert from "node:assert/strict";
import { it } from "node:test";

it("qwen2-ts/server exports createServer, QwenServer, ApiError, DEFAULT_LIMITS and noLanguageModel", async () => {
  const entry = (await import("qwen2-ts/server")) as Record<string, unknown>;
  assert.deepEqual(Object.keys(entry).sort(), ["ApiError", "DEFAULT_LIMITS", "QwenServer", "createServer", "noLanguageModel"]);
});
