/**
 * Chat templates must render exactly what Python Jinja2 renders under transformers'
 * `apply_chat_template`. The vectors (inputs and expected strings) come from
 * tools/make-chat-vectors.py, which renders them with Jinja2 itself.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { renderChatTemplate, type RenderOptions } from "../../src/tokenizer/chat_template.js";
import type { ChatMessage } from "../../src/tokenizer/types.js";
import { repoRoot } from "../support/paths.js";

interface ChatVector {
  readonly name: string;
  readonly template: string;
  readonly messages?: ChatMessage[];
  readonly tools?: unknown[];
  readonly add_generation_prompt?: boolean;
  readonly special_tokens?: Record<string, string>;
  readonly extra?: Record<string, unknown>;
  /** Probe vectors give every template variable here instead. */
  readonly variables?: Record<string, unknown>;
  readonly expected?: string;
  /** Set where Python raises: the error Jinja2 gave. */
  readonly error?: string;
}

interface VectorFile {
  readonly templates: Record<string, string>;
  readonly vectors: ChatVector[];
}

const vectorFile = resolve(repoRoot, "test/tokenizer/data/chat_vectors.json");
const data = JSON.parse(readFileSync(vectorFile, "utf8")) as VectorFile;

function optionsOf(v: ChatVector): RenderOptions {
  if (v.variables !== undefined) return { extra: v.variables };
  const { bos_token, eos_token, ...otherTokens } = v.special_tokens ?? {};
  return {
    addGenerationPrompt: v.add_generation_prompt ?? false,
    tools: v.tools,
    bosToken: bos_token ?? null,
    eosToken: eos_token ?? null,
    extra: { ...otherTokens, ...(v.extra ?? {}) },
  };
}

function render(v: ChatVector): string {
  const template = data.templates[v.template];
  assert.ok(template !== undefined, `${v.name}: no template ${v.template}`);
  const messages = (v.messages ?? (v.variables?.messages as ChatMessage[] | undefined) ?? []) as ChatMessage[];
  return renderChatTemplate(template, messages, optionsOf(v));
}

test("chat vectors: every Jinja2-rendered vector is reproduced exactly", () => {
  assert.ok(data.vectors.length > 300, "the vector file looks truncated");
  const failures: string[] = [];
  for (const v of data.vectors) {
    if (v.error !== undefined) {
      try {
        const got = render(v);
        failures.push(`${v.name}: Python raises (${v.error}) but we rendered ${JSON.stringify(got.slice(0, 80))}`);
      } catch {
        // both refuse it
      }
      continue;
    }
    let got: string;
    try {
      got = render(v);
    } catch (e) {
      failures.push(`${v.name}: threw ${(e as Error).message}`);
      continue;
    }
    if (got !== v.expected) {
      const exp = v.expected ?? "";
      let i = 0;
      while (i < got.length && got[i] === exp[i]) i++;
      failures.push(
        `${v.name}: differs at ${i}: got ${JSON.stringify(got.slice(Math.max(0, i - 20), i + 40))} want ${JSON.stringify(exp.slice(Math.max(0, i - 20), i + 40))}`,
      );
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${data.vectors.length} vectors differ:\n${failures.join("\n")}`);
});
