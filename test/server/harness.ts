/** Starts a real server on 127.0.0.1 (random port) over the toy model, with an openai client. */
import OpenAI from "openai";
import { createServer, type QwenServer, type ServerOptions } from "../../src/server/server.js";
import { ResponderModel, ServerToyTokenizer, type Responder } from "./toy.js";

export const SCRIPTS = {
  hello: "Hello there, the world.",
  toolCall: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
  afterTool: "It is sunny in Paris.",
  json: '{"answer": 42} and more text',
  schema: '{"city": "Paris", "n": 12, "extra": true}',
  stop: "one two STOP three",
  broken: '<tool_call>\n{"name": oops}\n</tool_call>',
  twoCalls: '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {"x": 1}}\n</tool_call>',
  unicode: "héllo wörld ✓",
  /** A long answer to interrupt: "1 2 3 ... 400". */
  count: Array.from({ length: 400 }, (_, i) => String(i + 1)).join(" "),
};

/** The answer to "client N: who am I?": each load-test client checks it got its own. */
export function whoAmI(client: number): string {
  return `You are client number ${client}.`;
}

/** Answers by the last user turn (tool results first), so multi-turn prompts get the right script. */
export const respond: Responder = (prompt) => {
  const lastUser = prompt.lastIndexOf("<|im_start|>user");
  const turn = lastUser >= 0 ? prompt.slice(lastUser) : prompt;
  if (turn.includes("<tool_response>")) return SCRIPTS.afterTool;
  if (turn.includes("weather") && prompt.includes("# Tools")) return SCRIPTS.toolCall;
  if (turn.includes("two calls")) return SCRIPTS.twoCalls;
  if (turn.includes("broken call")) return SCRIPTS.broken;
  if (turn.includes("say hello")) return SCRIPTS.hello;
  if (turn.includes("json please")) return SCRIPTS.json;
  if (turn.includes("schema please")) return SCRIPTS.schema;
  if (turn.includes("stop test")) return SCRIPTS.stop;
  if (turn.includes("unicode")) return SCRIPTS.unicode;
  if (turn.includes("count slowly")) return SCRIPTS.count;
  const client = /client (\d+): who am I\?/.exec(turn);
  if (client) return whoAmI(Number(client[1]));
  return null;
};

export interface Harness {
  readonly server: QwenServer;
  readonly model: ResponderModel;
  readonly tokenizer: ServerToyTokenizer;
  readonly url: string;
  readonly client: OpenAI;
  close(): Promise<void>;
}

export async function startServer(options: Partial<ServerOptions> = {}, maxContext = 2048): Promise<Harness> {
  const tokenizer = new ServerToyTokenizer();
  const model = new ResponderModel(tokenizer, respond, maxContext);
  // Caches on demand (not reserved up front), so a test can tell a leaked cache from `model.live`.
  const server = createServer({ model, tokenizer, modelId: "toy", parallel: 4, reserveKvCaches: false, ...options });
  const url = await server.listen(0, "127.0.0.1");
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: options.apiKey ?? "none", maxRetries: 0, timeout: 30_000 });
  return { server, model, tokenizer, url, client, close: () => server.close() };
}

/** POSTs raw text (for malformed bodies the SDK would never send). */
export async function postRaw(
  url: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export function errorOf(json: unknown): { message: string; type: string; param: string | null; code: string | null } {
  return (json as { error: { message: string; type: string; param: string | null; code: string | null } }).error;
}

/** Makes every forward call take at least `ms`, so a generation lasts long enough to overlap or interrupt another. */
export function slowDown(h: Harness, ms: number): void {
  const forward = h.model.forward.bind(h.model);
  h.model.forward = ((...args: Parameters<typeof forward>) => {
    const until = Date.now() + ms;
    while (Date.now() < until);
    return forward(...args);
  }) as typeof h.model.forward;
}
