/**
 * A request body's bytes to a JSON value: UTF-8 decoding, a nesting-depth check before
 * anything parses it, then JSON.parse. Pure (no I/O), so the same code runs on the event
 * loop for small bodies and in the body-parsing worker (json_parse_thread.ts) for large ones,
 * and both give the same value or the same error.
 */
import { StringDecoder } from "node:string_decoder";
import { errors } from "./errors.js";

/** JSON.parse behind a nesting-depth check, so no later recursion over the value can overflow the stack. */
export function parseJson(text: string, maxDepth: number): unknown {
  return parseScanned(text, jsonDepth(text), maxDepth);
}

/** The body's chunks decoded as UTF-8 (a character may span two), depth-checked, then parsed. */
export function parseJsonChunks(chunks: readonly Uint8Array[], maxDepth: number): unknown {
  const decoder = new StringDecoder("utf8");
  const scanner = new JsonDepthScanner();
  const parts: string[] = [];
  for (const chunk of chunks) {
    const text = decoder.write(chunk);
    scanner.push(text);
    parts.push(text);
  }
  const tail = decoder.end();
  scanner.push(tail);
  parts.push(tail);
  return parseScanned(parts.join(""), scanner.deepest, maxDepth);
}

function parseScanned(text: string, depth: number, maxDepth: number): unknown {
  if (text.trim() === "") throw errors.badJson("the body is empty");
  if (depth > maxDepth) throw errors.tooDeep(maxDepth);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.badJson((err as Error).message);
  }
}

/** Deepest nesting of `[`/`{` outside strings (of well-formed or not JSON text); one pass, no recursion. */
export function jsonDepth(text: string): number {
  const scanner = new JsonDepthScanner();
  scanner.push(text);
  return scanner.deepest;
}

/** {@link jsonDepth} over text that arrives in pieces (a string or escape may span two). */
export class JsonDepthScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  deepest = 0;

  push(text: string): void {
    let { depth, deepest, inString, escaped } = this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (++depth > deepest) deepest = depth;
      } else if (c === 0x5d || c === 0x7d) depth--;
    }
    this.depth = depth;
    this.deepest = deepest;
    this.inString = inString;
    this.escaped = escaped;
  }
}
