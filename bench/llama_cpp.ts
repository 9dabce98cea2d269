/**
 * The part of node-llama-cpp (3.21.1, an opt-in peer) that tests and benchmarks use, typed
 * here so that the build never needs the peer's own type files, and loaded one way: the CPU
 * build, no download, no compile, quiet.
 */
import { importPeer } from "./peers.js";

export type GenerateNext = {
  generateNext: { probabilities: true; options: { temperature: number; topK: number; topP: number; minP: number } };
};
/** A token to evaluate, or a token followed by a request for the distribution after it. */
export type ControlledItem = number | readonly [number, GenerateNext];

export interface LlamaSequence {
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  /** Yields generated tokens until the caller stops iterating. */
  evaluate(tokens: number[], options: { temperature: number }): AsyncIterable<number>;
  /** Per input item; `next.probabilities` (token → probability) where asked for. */
  controlledEvaluate(items: readonly ControlledItem[]): Promise<Array<{ next: { probabilities?: Map<number, number> } } | undefined>>;
  /** Forgets every token of the sequence, keeping its slot in the context. */
  clearHistory(): Promise<void>;
  dispose(): void;
}

export interface LlamaContextOptions {
  contextSize: number;
  sequences?: number;
  batchSize?: number;
  threads?: number | { ideal: number; min: number };
  flashAttention?: boolean;
  experimentalKvCacheKeyType?: "F32" | "F16";
  experimentalKvCacheValueType?: "F32" | "F16";
}

export interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}

export interface LlamaModel {
  createContext(options: LlamaContextOptions): Promise<LlamaContext>;
  dispose(): Promise<void>;
}

export interface Llama {
  loadModel(options: { modelPath: string; gpuLayers: number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

/** llama.cpp's prebuilt CPU binary; rejects when the peer or its binary is missing. */
export async function loadLlamaCpp(): Promise<Llama> {
  const { getLlama } = await importPeer<{ getLlama(options: object): Promise<Llama> }>("node-llama-cpp");
  return getLlama({ gpu: false, build: "never", logLevel: "error", progressLogs: false, skipDownload: true });
}
