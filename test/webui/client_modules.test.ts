/** The web chat's storage (assets/webui/store.js) and event-stream reader (openai_stream.js), in Node. */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../support/paths.js";

interface Conversation {
  id: string;
  title: string;
  created: number;
  updated: number;
  messages: { role: string; content: string }[];
}
interface ChatStore {
  conversations(): Conversation[];
  save(c: Conversation): void;
  remove(id: string): void;
  settings(): {
    systemPrompt: string;
    sampling: { temperature: number; topP: number; maxTokens: number; seed: number | null };
    apiKey: string;
  };
  saveSettings(s: ReturnType<ChatStore["settings"]>): void;
}
interface StorageLike {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}
const store = (await import(pathToFileURL(resolve(repoRoot, "assets/webui/store.js")).href)) as {
  ChatStore: new (prefix: string, storage: StorageLike | null) => ChatStore;
  newConversation(): Conversation;
  titleFrom(text: string): string;
};
const sse = (await import(pathToFileURL(resolve(repoRoot, "assets/webui/openai_stream.js")).href)) as {
  sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string>;
};

class MapStorage implements StorageLike {
  readonly map = new Map<string, string>();
  full = false;
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    if (this.full) throw new Error("QuotaExceededError");
    this.map.set(k, v);
  }
}

describe("web chat storage", () => {
  it("keeps conversations newest first under its prefix, and removes them", () => {
    const storage = new MapStorage();
    const s = new store.ChatStore("qwen2-webui", storage);
    const a = { ...store.newConversation(), title: "a", updated: 1 };
    const b = { ...store.newConversation(), title: "b", updated: 2 };
    s.save(a);
    s.save(b);
    assert.deepEqual(
      s.conversations().map((c) => c.title),
      ["b", "a"],
    );
    assert.deepEqual([...storage.map.keys()], ["qwen2-webui:conversations"]);
    const other = new store.ChatStore("qwen2-browser-chat", storage);
    assert.deepEqual(other.conversations(), []);
    s.remove(b.id);
    assert.deepEqual(
      s.conversations().map((c) => c.title),
      ["a"],
    );
  });

  it("fills settings from defaults, ignores garbage, and keeps working in memory when storage is full or absent", () => {
    const storage = new MapStorage();
    storage.setItem("p:settings", '{"sampling": {"temperature": 0}, "systemPrompt": 5}');
    storage.setItem("p:conversations", "not json");
    const s = new store.ChatStore("p", storage);
    const settings = s.settings();
    assert.equal(settings.sampling.temperature, 0);
    assert.equal(settings.sampling.maxTokens, 1024);
    assert.equal(settings.systemPrompt, "You are a helpful assistant.");
    assert.deepEqual(s.conversations(), []);
    storage.full = true;
    const c = { ...store.newConversation(), title: "kept" };
    s.save(c);
    assert.deepEqual(
      s.conversations().map((x) => x.title),
      ["kept"],
    );
    const none = new store.ChatStore("p", null);
    none.save(c);
    assert.equal(none.conversations().length, 1);
  });

  it("titles a conversation by the first line of its first message", () => {
    assert.equal(store.titleFrom("  Hello there\nsecond line"), "Hello there");
    assert.equal(store.titleFrom("x".repeat(60)), `${"x".repeat(47)}…`);
    assert.equal(store.titleFrom("   "), "New chat");
  });
});

describe("web chat event-stream reader", () => {
  it("yields each event's data, across chunk boundaries, CRLF lines and multi-byte characters", async () => {
    const text = 'data: {"a":1}\r\n\r\n: a comment\ndata: first\ndata: second\n\nevent: x\ndata:[DONE]\n\n';
    const bytes = new TextEncoder().encode(text.replace("first", "fïrst ✓"));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.slice(i, i + 3));
        controller.close();
      },
    });
    const out: string[] = [];
    for await (const d of sse.sseData(body)) out.push(d);
    assert.deepEqual(out, ['{"a":1}', "fïrst ✓\nsecond", "[DONE]"]);
  });
});
