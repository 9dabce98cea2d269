/**
 * `qwen2 chat` driven through a real pseudo-terminal (python3's pty module), with the toy
 * model loader: streaming answers, tokens/s, Ctrl-C stopping an answer without quitting,
 * /save, /system, /reset, and the history trimmed to the context with a notice.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { it } from "node:test";
import { repoRoot } from "../support/paths.js";

// Runs argv in a pty; steps: ["send", text] | ["expect", regex, seconds] | ["sleep", seconds].
const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
argv, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(argv[0], argv, os.environ)
buf = b""
def read(t):
    global buf
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        buf += data
    return True
mark = 0
for step in steps:
    if step[0] == "send":
        os.write(fd, step[1].encode())
    elif step[0] == "sleep":
        end = time.time() + step[1]
        while time.time() < end and read(0.05):
            pass
    else:
        pat, end = re.compile(step[1].encode()), time.time() + step[2]
        while True:
            m = pat.search(buf, mark)
            if m:
                mark = m.end()
                break
            if time.time() > end or not read(0.1):
                sys.stdout.write(buf.decode("utf-8", "replace"))
                sys.stderr.write("TIMEOUT waiting for %r\n" % step[1])
                sys.exit(3)
end = time.time() + 10
while time.time() < end and read(0.1):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 4)
`;

function hasPython(): boolean {
  return spawnSync("python3", ["-c", "import pty"], { stdio: "ignore" }).status === 0;
}

it("chat through a pseudo-terminal: stream, Ctrl-C, /save, /system, /reset, trimmed history", {
  skip: !hasPython(),
  timeout: 60_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2-chat-"));
  const saved = join(dir, "chat.json");
  try {
    const argv = [
      process.execPath,
      resolve(repoRoot, "dist/test/support/cli_with_loader.js"),
      resolve(repoRoot, "dist/test/server/toy_loader.js"),
      "chat",
      "--model",
      "toy-model",
      "--ctx",
      "160",
      "--system",
      "Hi.",
      "--max-new-tokens",
      "3000",
      "--temperature",
      "0",
    ];
    const steps: unknown[] = [
      ["expect", "\\] 100%", 20],
      ["expect", "> ", 20],
      ["send", "say hello\r"],
      ["expect", "Hello there, the world\\.", 20],
      ["expect", "tok/s", 20],
      ["expect", "> ", 20],
      ["send", "count slowly\r"],
      ["expect", "1 2 3 4 5 ", 20],
      ["send", "\x03"],
      ["expect", "\\(stopped\\)", 20],
      ["expect", "> ", 20],
      ["send", `/save ${saved}\r`],
      ["expect", "saved 2 turns", 20],
      ["send", "/system Be terse.\r"],
      ["expect", "system prompt set", 20],
      ["send", "say hello\r"],
      ["expect", "tok/s", 20],
      ["send", "say hello\r"],
      ["expect", "tok/s", 20],
      ["send", "say hello\r"],
      ["expect", "tok/s", 20],
      ["send", "say hello\r"],
      ["expect", "tok/s", 20],
      ["send", "/reset\r"],
      ["expect", "conversation cleared", 20],
      ["send", "/exit\r"],
    ];
    const r = spawnSync("python3", ["-c", DRIVER, JSON.stringify(argv), JSON.stringify(steps)], {
      env: { ...process.env, QWEN2_TOY_DELAY_MS: "20" },
      encoding: "utf8",
      timeout: 55_000,
    });
    assert.equal(r.status, 0, `transcript:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /dropped the \d+ oldest turns? to stay within the 160-token context/);
    assert.match(r.stdout, /toy-model holds RANDOM weights/, "chat says the weights are random, as generate does");
    assert.ok(existsSync(saved));
    const conv = JSON.parse(readFileSync(saved, "utf8")) as { messages: { role: string; content: string }[] };
    assert.deepEqual(
      conv.messages.map((m) => m.role),
      ["system", "user", "assistant", "user", "assistant"],
    );
    assert.equal(conv.messages[2]!.content, "Hello there, the world.");
    const partial = conv.messages[4]!.content;
    assert.ok(
      partial.startsWith("1 2 3 4 5 ") && partial.length < 1400,
      `the interrupted answer keeps what was shown: ${partial.length} chars`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
