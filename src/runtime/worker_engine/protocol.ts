/**
 * The messages between a WorkerEngine (the page's side) and its worker (engine_worker.ts).
 * Everything here is structured-cloneable: errors travel as { name, message } and become
 * Errors again on arrival; URLs travel as their href.
 */
import type { GenerateInput } from "../../generation/generate.js";
import type { GenerationResult } from "../../generation/sequence_generator.js";
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions } from "../../tokenizer/types.js";
import type { Qwen2Config, GenerationConfig } from "../../formats/config.js";
import type { EngineLoadOptions, EngineLoadProgress, EngineModelSource, RemoteGenerateOptions } from "./load_model.js";

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** What the worker reports once the model is ready. */
export interface EngineInfo {
  /** The compute backend that runs the model, e.g. "wasm-relaxed", "wasm-simd", "reference". */
  readonly backend: string;
  readonly config: Qwen2Config;
  readonly generationConfig: GenerationConfig | null;
  /** Union of EOS ids from generation_config.json, config.json and the tokenizer. */
  readonly eosIds: readonly number[];
  /** Odd but legal things found while loading. */
  readonly warnings: readonly string[];
}

/** A tokenizer call run in the worker. */
export type TokenizerCall =
  | { readonly method: "encode"; readonly text: string; readonly options?: EncodeOptions }
  | { readonly method: "decode"; readonly ids: readonly number[]; readonly options?: DecodeOptions }
  | { readonly method: "applyChatTemplate"; readonly messages: readonly ChatMessage[]; readonly options?: ChatTemplateOptions };

export type ToWorker =
  | { readonly type: "load"; readonly source: EngineModelSource; readonly options: EngineLoadOptions }
  | { readonly type: "abort-load" }
  | { readonly type: "generate"; readonly id: number; readonly input: GenerateInput; readonly options: RemoteGenerateOptions }
  | { readonly type: "abort"; readonly id: number }
  | { readonly type: "call"; readonly id: number; readonly call: TokenizerCall }
  | { readonly type: "dispose" };

export type FromWorker =
  | { readonly type: "progress"; readonly progress: EngineLoadProgress }
  | { readonly type: "loaded"; readonly info: EngineInfo }
  | { readonly type: "load-failed"; readonly error: SerializedError }
  | { readonly type: "text"; readonly id: number; readonly text: string }
  | { readonly type: "done"; readonly id: number; readonly result: GenerationResult }
  | { readonly type: "result"; readonly id: number; readonly value: unknown }
  | { readonly type: "failed"; readonly id: number; readonly error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) };
  return { name: "Error", message: String(err) };
}

/** An Error with the worker's name and message; the stack is the worker's, where it had one. */
export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
