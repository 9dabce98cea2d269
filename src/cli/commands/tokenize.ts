import { readAll, UsageError, type CliIO, type Command } from "../command.js";
import { loadTokenizer } from "../../node/tokenizer.js";

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
  const out: TokenizeArgs = { jsonl: false, count: false, splitSpecial: false, text: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.text.push(...args.slice(i + 1));
      break;
    } else if (a === "--tokenizer") {
      if (i + 1 >= args.length) throw new UsageError("--tokenizer needs a folder");
      out.tokenizer = args[++i];
    } else if (a.startsWith("--tokenizer=")) out.tokenizer = a.slice("--tokenizer=".length);
    else if (a === "--jsonl") out.jsonl = true;
    else if (a === "--count") out.count = true;
    else if (a === "--split-special") out.splitSpecial = true;
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else out.text.push(a);
  }
  if (out.jsonl && out.text.length > 0) throw new UsageError("--jsonl reads standard input; give no text arguments");
  return out;
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
      const text = opts.text.length > 0 ? opts.text.join(" ") : await readAll(io.stdin);
      io.stdout.write(render(text) + "\n");
      return 0;
    }
    const lines = (await readAll(io.stdin)).split("\n");
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
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
