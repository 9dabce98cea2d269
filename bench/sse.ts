/**
 * The events of a server-sent-events body as the OpenAI-compatible server streams them
 * (`data: <json>` blocks separated by a blank line, ending with `data: [DONE]`), parsed as
 * they arrive, for the benchmarks' streaming clients.
 */
export async function* sseEvents<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  let buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, at).replace(/^data: /, "");
      buf = buf.slice(at + 2);
      if (line !== "[DONE]") yield JSON.parse(line) as T;
    }
  }
}
