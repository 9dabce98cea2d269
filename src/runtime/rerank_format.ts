/**
 * How a reranker sees a (query, document) pair: one token sequence, scored by a
 * one-label sequence-classification model.
 *
 * With no template, the pair is the query's tokens followed by the document's: what
 * llama.cpp's server builds (`[BOS]query[EOS][SEP]doc[EOS]`, each special token only where
 * the vocabulary adds it) for a Qwen2 vocabulary, which adds none. A template is a text with
 * `{query}` and `{document}` (and optionally `{instruction}`) filled in and then encoded with
 * its special tokens, as llama.cpp fills a model's `rerank` chat template. Qwen's rerankers
 * are trained on a chat prompt; `QWEN_RERANKER_TEMPLATE` is that prompt (the one Qwen3-Reranker
 * and its sequence-classification conversions use), selected by the name "qwen".
 */
import { InvalidArgumentError } from "../errors.js";
import type { TextTokenizer } from "../tokenizer/types.js";

/** The chat prompt of Qwen's rerankers (Qwen3-Reranker and its seq-cls conversions); the answer token's logit is the score. */
export const QWEN_RERANKER_TEMPLATE =
  "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
  'Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n' +
  "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

/** The instruction Qwen's reranker prompt uses when none is given. */
export const QWEN_RERANKER_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query";

/** Named templates: "qwen" is {@link QWEN_RERANKER_TEMPLATE}. */
export const RERANK_TEMPLATES: Readonly<Record<string, string>> = { qwen: QWEN_RERANKER_TEMPLATE };

export interface RerankFormat {
  /** A template text with {query} and {document}, or a name of RERANK_TEMPLATES; null/absent: query tokens then document tokens. */
  readonly template?: string | null;
  /** Fills {instruction} (default {@link QWEN_RERANKER_INSTRUCTION}). */
  readonly instruction?: string;
}

/** Resolves a template name or text, checking it has both placeholders. */
export function resolveRerankTemplate(template: string | null | undefined): string | null {
  if (template === null || template === undefined) return null;
  const text = RERANK_TEMPLATES[template] ?? template;
  for (const p of ["{query}", "{document}"]) {
    if (!text.includes(p))
      throw new InvalidArgumentError(
        `rerank template has no ${p} placeholder (give a text with {query} and {document}, or one of: ${Object.keys(RERANK_TEMPLATES).join(", ")})`,
      );
  }
  return text;
}

/** The token ids of one (query, document) pair. */
export function rerankPairIds(tokenizer: TextTokenizer, query: string, document: string, format: RerankFormat = {}): number[] {
  const template = resolveRerankTemplate(format.template);
  if (template === null) return [...tokenizer.encode(query), ...tokenizer.encode(document)];
  // One pass over the template, so a query containing "{document}" is not filled again.
  const values: Record<string, string> = { query, document, instruction: format.instruction ?? QWEN_RERANKER_INSTRUCTION };
  const text = template.replace(/\{(query|document|instruction)\}/g, (_, key: string) => values[key]!);
  return tokenizer.encode(text, { addSpecialTokens: false });
}
