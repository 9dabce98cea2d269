/**
 * What `qwen2 serve` serves from a loaded folder: a causal LM (chat, completions, embeddings)
 * or a sequence classifier (/v1/classify, /v1/rerank), by the class config.json names.
 */
import type { CausalLM } from "../models/causal_lm.js";
import { Qwen2ForSequenceClassification } from "../models/qwen2_heads.js";
import type { LoadedModel, Qwen2TaskModel } from "../runtime/load.js";
import { resolveRerankTemplate } from "../runtime/rerank_format.js";
import { noLanguageModel, type ServedClassifier } from "../server/classifier.js";
import { UsageError } from "./command.js";

export interface ServedModel {
  readonly model: CausalLM;
  readonly classifier?: ServedClassifier;
  readonly rerankTemplate?: string | null;
}

function isCausalLM(m: unknown): m is CausalLM {
  return typeof (m as CausalLM).forward === "function" && typeof (m as CausalLM).createCache === "function" && "vocabSize" in (m as object);
}

/** The server's model (and classifier) for a loaded folder; a UsageError for classes serve does not run. */
export function servedModel(loaded: LoadedModel<Qwen2TaskModel | CausalLM>, path: string, rerankTemplate: string | undefined): ServedModel {
  const m = loaded.model;
  if (m instanceof Qwen2ForSequenceClassification) {
    // Checked before the server starts, so a bad template is a usage error, not a failed request.
    const template = rerankTemplate === undefined ? null : checkedTemplate(rerankTemplate, loaded);
    return { model: noLanguageModel(loaded.config), classifier: m, rerankTemplate: template };
  }
  if (rerankTemplate !== undefined) {
    loaded.close();
    throw new UsageError("--rerank-template applies to a sequence classification model (a reranker); this folder is a causal LM");
  }
  if (isCausalLM(m)) return { model: m };
  loaded.close();
  throw new UsageError(
    `${path}: config.json architectures names ${loaded.architecture}; serve runs a causal LM (Qwen2ForCausalLM) or a sequence classifier (Qwen2ForSequenceClassification)`,
  );
}

function checkedTemplate(text: string, loaded: { close(): void }): string | null {
  try {
    return resolveRerankTemplate(text);
  } catch (err) {
    loaded.close();
    throw new UsageError(`--rerank-template: ${(err as Error).message}`);
  }
}
