/**
 * The body-parsing worker (json_parse_thread.ts): parses each body it is sent with the same
 * code the event loop uses for small bodies (json_text.ts) and answers the value, or the
 * ApiError's fields.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { ApiError } from "./errors.js";
import { BODY_PARSER_NICE, type ParseReply, type ParseRequest } from "./json_parse_thread.js";
import { parseJsonChunks } from "./json_text.js";

const port = parentPort;
if (!port) throw new Error("json_body_worker.js runs as a worker thread");

// On Linux the nice value is per thread: this one gives the cores to the event loop and the
// compute threads first, so a large body's parse does not slow /health or running streams
// on a busy machine (elsewhere it keeps the process's priority).
try {
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, BODY_PARSER_NICE);
} catch {
  // no /proc (not Linux), or not allowed: the default priority
}

port.on("message", (m: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id: m.id, value: parseJsonChunks(m.chunks, m.maxDepth) };
  } catch (err) {
    reply =
      err instanceof ApiError
        ? { id: m.id, error: { status: err.status, message: err.message, type: err.type, param: err.param, code: err.code } }
        : { id: m.id, failure: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
