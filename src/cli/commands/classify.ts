import { readAll, UsageError, type CliIO, type Command } from "../command.js";
import { intFlag, parseFlags } from "../flags.js";
import { loadAnyModelFor, MODEL_FLAGS, MODEL_FLAGS_USAGE, readModelFlags } from "../model_flags.js";
import { Qwen2ForQuestionAnswering, Qwen2ForSequenceClassification, Qwen2ForTokenClassification } from "../../models/qwen2_heads.js";
import type { LoadedModel, Qwen2TaskModel } from "../../runtime/load.js";
import {
  Qwen2ForQuestionAnswering as QuestionAnswering,
  Qwen2ForSequenceClassification as SequenceClassification,
  Qwen2ForTokenClassification as TokenClassification,
} from "../../runtime/pretrained.js";

const usage = `Usage: qwen2 classify --model DIR [options] [text...]

Runs a Qwen2 task-head folder (the class its config.json architectures names) on texts
given as arguments, or one per line on standard input, and prints one JSON line each:

  Qwen2ForSequenceClassification   {"text", "labels": [{"label", "index", "score"}, ...]} best first
    with --query Q (a one-label reranker): the texts are documents, printed best first as
                                   {"index", "relevance_score", "text"}
  Qwen2ForTokenClassification      {"text", "tokens": [{"index", "word", "entity", "score"}, ...]}
  Qwen2ForQuestionAnswering        with --question Q, each text is a context:
                                   {"text", "answer", "score", "start", "end"}

Options:
${MODEL_FLAGS_USAGE}
  --top-k N                labels per text (default: all), answers per context (default 1)
  --query Q                rerank the texts against Q
  --rerank-template T      pair format for --query: a text with {query} and {document}, or "qwen"
  --question Q             the question (question answering)
`;

const command: Command = {
  summary: "Sequence/token classification, reranking and question answering with a task-head model",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseFlags(
      args,
      {
        ...MODEL_FLAGS,
        "top-k": { type: "string" },
        query: { type: "string" },
        "rerank-template": { type: "string" },
        question: { type: "string" },
      },
      true,
    );
    const modelFlags = readModelFlags(values);
    const topK = intFlag(values, "top-k", { min: 1 });
    let texts = positionals;
    if (texts.length === 0) {
      if ((io.stdin as { isTTY?: boolean }).isTTY === true) throw new UsageError("give texts as arguments or one per line on stdin");
      texts = (await readAll(io.stdin)).split("\n").filter((l) => l.trim().length > 0);
    }
    const loaded = (await loadAnyModelFor(io, modelFlags, { quiet: true })) as LoadedModel<Qwen2TaskModel>;
    const out = (x: unknown): void => void io.stdout.write(`${JSON.stringify(x)}\n`);
    try {
      const m = loaded.model;
      if (m instanceof Qwen2ForSequenceClassification) {
        const clf = SequenceClassification.fromLoaded(loaded);
        if (values.query !== undefined) {
          if (clf.labels.length !== 1)
            throw new UsageError(
              `--query: rerank needs a one-label sequence classification model; this one has ${clf.labels.length} labels`,
            );
          const results = await clf.rerank(values.query, texts, {
            template: values["rerank-template"] ?? null,
            ...(topK !== undefined ? { topN: topK } : {}),
          });
          for (const r of results) out({ index: r.index, relevance_score: r.relevanceScore, text: texts[r.index] });
        } else {
          const ranked = await clf.classify(texts, topK !== undefined ? { topK } : {});
          ranked.forEach((labels, i) => out({ text: texts[i], labels }));
        }
      } else if (m instanceof Qwen2ForTokenClassification) {
        const tagger = TokenClassification.fromLoaded(loaded);
        for (const text of texts) out({ text, tokens: await tagger.classifyTokens(text, { ignoreLabels: [] }) });
      } else if (m instanceof Qwen2ForQuestionAnswering) {
        if (values.question === undefined) throw new UsageError("a question-answering model needs --question Q");
        const qa = QuestionAnswering.fromLoaded(loaded);
        for (const text of texts) {
          for (const a of await qa.answer(values.question, text, { topK: topK ?? 1 })) out({ text, ...a });
        }
      } else {
        throw new UsageError(
          `${modelFlags.path}: config.json architectures names ${loaded.architecture ?? "Qwen2ForCausalLM"}; classify runs Qwen2ForSequenceClassification, Qwen2ForTokenClassification or Qwen2ForQuestionAnswering`,
        );
      }
    } finally {
      loaded.close();
    }
    return 0;
  },
};

export default command;
