import { readAll, UsageError, type CliIO, type Command } from "../command.js";
import { loadTokenizer } from "../../node/tokenizer.js";
import { parseFlags } from "../flags.js";

const usage = `Usage: qwen2 tokenize [--tokenizer DIR] [--jsonl] [--count] [--split-special] [text...]

Prints the token ids of the text as a JSON array (or their number with --count).
The text is the arguments joined by spaces, or else all of standard input, exactly as
given (a trailing newline is text too).

  --tokenizer DIR    a tokenizer folder (tokenizer.json, or vocab.json + merges.txt, with
                     tokenizer_config.json); default: the embedded Qwen2.5 tokenizer
  --jsonl            standard input holds one JSON string per line; each output line is
                     that line's JSON array of ids (or count)
  --count            print the number of tokens instead of the ids
  --split-special    treat special-token text such as <|im_end|> as ordinary text
`;

export interface TokenizeArgs {
  tokenizer?: string;
  jsonl: boolean;
  count: boolean;
  splitSpecial: boolean;
  text: string[];
}

export function parseTokenizeArgs(args: string[]): TokenizeArgs {
  const { values, positionals } = parseFlags(
    args,
    { tokenizer: { type: "string" }, jsonl: { type: "boolean" }, count: { type: "boolean" }, "split-special": { type: "boolean" } },
    true,
  );
  const out: TokenizeArgs = {
    ...(values.tokenizer !== undefined ? { tokenizer: values.tokenizer } : {}),
    jsonl: values.jsonl === true,
    count: values.count === true,
    splitSpecial: values["split-special"] === true,
    text: positionals,
  };
  if (out.jsonl && out.text.length > 0) throw new UsageError("--jsonl reads standard input; give no text arguments");
  return out;
}

/** Standard input, unless it is a terminal nobody is typing a document into: then say how to use the command. */
async function readInput(io: CliIO, what: string): Promise<string> {
  if ((io.stdin as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError(
      `give ${what} as arguments or pipe it on stdin, e.g. qwen2 tokenize "Hello world" or echo "Hello" | qwen2 tokenize`,
    );
  }
  return readAll(io.stdin);
}

const command: Command = {
  summary: "Text to token ids (JSON array), or a token count",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const opts = parseTokenizeArgs(args);
    const tok = await loadTokenizer(opts.tokenizer);
    const render = (text: string): string => {
      const ids = tok.encode(text, { splitSpecialTokens: opts.splitSpecial });
      return opts.count ? String(ids.length) : JSON.stringify(ids);
    };
    if (!opts.jsonl) {
      const text = opts.text.length > 0 ? opts.text.join(" ") : await readInput(io, "the text");
      io.stdout.write(render(text) + "\n");
      return 0;
    }
    const lines = (await readInput(io, "JSON lines")).split("\n");
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line.length === 0) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new UsageError(`stdin line ${i + 1}: not JSON (${(err as Error).message})`);
      }
      if (typeof value !== "string") throw new UsageError(`stdin line ${i + 1}: expected a JSON string`);
      out.push(render(value));
    }
    io.stdout.write(out.length > 0 ? out.join("\n") + "\n" : "");
    return 0;
  },
};

export default command;
