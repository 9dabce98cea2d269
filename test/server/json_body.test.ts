/**
 * Request bodies: a large one is decoded, depth-checked and parsed on the body-parsing
 * worker, so the event loop keeps turning meanwhile, and the worker's value or error is the
 * one the event loop's own parse gives.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ApiError } from "../../src/server/errors.js";
import { type BodyLimits, readJsonBody } from "../../src/server/http_util.js";
import { BODY_PARSER_NICE, OFF_THREAD_BYTES, jsonParseThread } from "../../src/server/json_parse_thread.js";
import { parseJson } from "../../src/server/json_text.js";
import { type Harness, errorOf, postRaw, startServer } from "./harness.js";
import { EventLoopTurns } from "../support/event_loop_turns.js";

const LIMITS: BodyLimits = { bodyLimit: 8 << 20, maxJsonDepth: 64, deadline: 0, readTimeoutSeconds: 600 };

/** A request stand-in that delivers `body` in 64 KiB chunks, then ends; `onEnd` runs after readJsonBody's own end handler. */
function fakeRequest(body: Buffer, onEnd: () => void = () => {}): IncomingMessage {
  const req = Object.assign(new PassThrough(), { headers: {}, complete: false });
  queueMicrotask(() => {
    req.once("end", () => {
      req.complete = true;
      onEnd();
    });
    for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
    req.end();
  });
  return req as unknown as IncomingMessage;
}

/** The value, or the error's status, code and message, of one body read with the given threshold. */
async function outcome(body: Buffer, offThreadBytes: number): Promise<unknown> {
  try {
    return { value: await readJsonBody(fakeRequest(body), { ...LIMITS, offThreadBytes }) };
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { status: err.status, code: err.code, message: err.message, type: err.type, param: err.param };
  }
}

it("a server starts the body-parsing worker when it listens, not on its first large body", async () => {
  assert.equal(jsonParseThread.running, false, "nothing started it yet in this process");
  const h = await startServer();
  try {
    assert.equal(jsonParseThread.running, true);
  } finally {
    await h.close();
  }
});

it("a body over OFF_THREAD_BYTES parses on the worker while the event loop keeps turning", async () => {
  const value = { input: Array.from({ length: 4000 }, (_, i) => `${i} `.padEnd(500, "lorem ipsum ")) };
  const body = Buffer.from(JSON.stringify(value));
  assert.ok(body.length > OFF_THREAD_BYTES);
  const loop = new EventLoopTurns();
  let ticksAtEnd = -1;
  const parsedBefore = jsonParseThread.parsed;
  const got = await readJsonBody(
    fakeRequest(body, () => (ticksAtEnd = loop.turns)),
    LIMITS,
  );
  const ticksAtValue = loop.stop();
  assert.deepEqual(got, value);
  assert.equal(jsonParseThread.parsed, parsedBefore + 1, "parsed by the worker");
  assert.ok(ticksAtEnd >= 0);
  // Parsed on the event loop, the value would come in the same turn as the body's end.
  assert.ok(ticksAtValue > ticksAtEnd, `event-loop turns between the body's end and its value: ${ticksAtValue - ticksAtEnd}`);
});

it("on Linux the body-parsing thread runs at a lower priority than the event loop", {
  skip: existsSync("/proc/self/task") ? false : "no /proc/self/task (not Linux)",
}, async (t) => {
  const nice = (task: string): number => Number(readFileSync(`/proc/self/task/${task}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);
  if (nice(String(process.pid)) !== 0) return t.skip("this process runs at a nice value other than 0");
  await jsonParseThread.parse([new TextEncoder().encode("[1]")], 64);
  const tasks = readdirSync("/proc/self/task");
  assert.equal(nice(String(process.pid)), 0, "the event loop's thread keeps its priority");
  assert.equal(tasks.filter((task) => nice(task) === BODY_PARSER_NICE).length, 1, "one thread (the parser) at the parser's nice value");
});

it("the worker gives the same value or error as the event loop, for every kind of body", async () => {
  const bodies = [
    '{"a": [1, 2.5e3, -0, true, null], "b": {"c": "d"}}',
    '{"__proto__": {"x": 1}, "constructor": 2}',
    '{"s": "\\ud800 é ✓ \\u0000 \\"q\\""}',
    '{"a": [1, 2,]}',
    '{"a": "unterminated',
    "   \n\t  ",
    "",
    `${"[".repeat(65)}${"]".repeat(65)}`,
    `${"[".repeat(64)}${"]".repeat(64)}`,
    '"just a string"',
  ].map((s) => Buffer.from(s));
  // A multi-byte character cut between two chunks, and a lone invalid byte.
  const split = Buffer.from(`{"t": "${"x".repeat(64 * 1024 - 8)}é✓"}`);
  bodies.push(split, Buffer.concat([Buffer.from('{"t": "'), Buffer.from([0xff, 0xc3]), Buffer.from('"}')]));
  for (const body of bodies) {
    const here = await outcome(body, Number.POSITIVE_INFINITY);
    const there = await outcome(body, 0);
    assert.deepEqual(there, here, body.toString().slice(0, 60));
  }
  const proto = (await outcome(bodies[1]!, 0)) as { value: object };
  assert.ok(Object.hasOwn(proto.value, "__proto__"), "__proto__ stays an own key");
});

describe("the server with a large body", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  it("answers a large valid body, and a large malformed one with the event loop's own message", async () => {
    const padding = "lorem ipsum ".repeat(30_000);
    const parsedBefore = jsonParseThread.parsed;
    const ok = await postRaw(
      h.url,
      "/v1/chat/completions",
      JSON.stringify({ model: "toy", messages: [{ role: "user", content: "say hello" }], temperature: 0, metadata: { padding } }),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.json).slice(0, 300));
    const broken = `{"model": "toy", "messages": [], "padding": "${padding}", }`;
    const bad = await postRaw(h.url, "/v1/chat/completions", broken);
    assert.equal(bad.status, 400);
    let want = "";
    try {
      parseJson(broken, 64);
    } catch (err) {
      want = (err as Error).message;
    }
    assert.equal(errorOf(bad.json).message, want);
    assert.equal(errorOf(bad.json).code, "invalid_json");
    assert.equal(jsonParseThread.parsed, parsedBefore + 2, "both parsed by the worker");
    assert.equal((await fetch(`${h.url}/health`)).status, 200);
  });
});
