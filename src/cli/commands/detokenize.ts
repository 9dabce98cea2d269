import { readAll, UsageError, type CliIO, type Command } from "../command.js";
import { loadTokenizer } from "../../node/tokenizer.js";
import { parseFlags } from "../flags.js";

const usage = `Usage: qwen2 detokenize [--tokenizer DIR] [--skip-special] [--jsonl] [ids...]

Prints the text of token ids, given as arguments or on standard input, either as a JSON
array ([9707, 11, 1879]) or separated by spaces, commas or newlines. The text is written
exactly, without an added newline. Ids the tokenizer does not know are dropped; invalid
UTF-8 becomes U+FFFD, as Hugging Face's decode does.

  --tokenizer DIR    a tokenizer folder; default: the embedded Qwen2.5 tokenizer
  --skip-special     leave out special tokens (<|im_end|>, ...)
  --jsonl            standard input holds one JSON array of ids per line; each output
                     line is the decoded text as a JSON string
`;

/** Reads ids from "[1, 2, 3]" or "1 2 3" (also commas, newlines). */
export function parseIds(text: string, where: string): number[] {
  const trimmed = text.trim();
  if (trimmed.length === 0) return [];
  let parts: unknown[];
  if (trimmed.startsWith("[")) {
    try {
      parts = JSON.parse(trimmed) as unknown[];
    } catch (err) {
      throw new UsageError(`${where}: not a JSON array (${(err as Error).message})`);
    }
    if (!Array.isArray(parts)) throw new UsageError(`${where}: expected a JSON array of ids`);
  } else parts = trimmed.split(/[\s,]+/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return parts.map((p, i) => {
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0)
      throw new UsageError(`${where}: item ${i + 1} (${JSON.stringify(p)}) is not a token id`);
    return p;
  });
}

const command: Command = {
  summary: "Token ids to text",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals: rest } = parseFlags(
      args,
      { tokenizer: { type: "string" }, "skip-special": { type: "boolean" }, jsonl: { type: "boolean" } },
      true,
    );
    const dir = values.tokenizer;
    const skip = values["skip-special"] === true;
    const jsonl = values.jsonl === true;
    if (jsonl && rest.length > 0) throw new UsageError("--jsonl reads standard input; give no ids as arguments");
    if (rest.length === 0 && (io.stdin as { isTTY?: boolean }).isTTY === true) {
      throw new UsageError('give token ids as arguments or pipe them on stdin, e.g. qwen2 detokenize "[9707, 1879]"');
    }
    const tok = await loadTokenizer(dir);
    if (jsonl) {
      const out: string[] = [];
      (await readAll(io.stdin)).split("\n").forEach((line, i) => {
        if (line.trim().length === 0) return;
        out.push(JSON.stringify(tok.decode(parseIds(line, `stdin line ${i + 1}`), { skipSpecialTokens: skip })));
      });
      io.stdout.write(out.length > 0 ? out.join("\n") + "\n" : "");
      return 0;
    }
    const source = rest.length > 0 ? rest.join(" ") : await readAll(io.stdin);
    const ids = parseIds(source, rest.length > 0 ? "arguments" : "stdin");
    io.stdout.write(tok.decode(ids, { skipSpecialTokens: skip }));
    return 0;
  },
};

export default command;
