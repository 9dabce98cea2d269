// @ts-check
/**
 * Conversations and settings in `localStorage`, under one prefix per page (so the server
 * chat and the in-page example keep separate histories). Storage is per origin: another
 * host or port starts empty. A full or unavailable storage degrades to memory, never to
 * an exception in the middle of a chat.
 *
 * @typedef {{ temperature: number, topP: number, maxTokens: number, seed: number | null }} Sampling
 * @typedef {{ tokens: number, tokensPerSecond: number | null, firstTokenMs: number | null, stopped: boolean, estimated: boolean }} ReplyStats
 * @typedef {{ role: "user" | "assistant", content: string, stats?: ReplyStats, error?: string }} StoredMessage
 * @typedef {{ id: string, title: string, created: number, updated: number, messages: StoredMessage[] }} Conversation
 * @typedef {{ systemPrompt: string, sampling: Sampling, apiKey: string }} Settings
 */

/** @type {Settings} */
export const DEFAULT_SETTINGS = {
  systemPrompt: "You are a helpful assistant.",
  sampling: { temperature: 0.7, topP: 0.9, maxTokens: 1024, seed: null },
  apiKey: "",
};

export class ChatStore {
  /** @param {string} prefix e.g. "qwen2-webui" @param {Storage | null} [storage] */
  constructor(prefix, storage = safeLocalStorage()) {
    this.prefix = prefix;
    this.storage = storage;
    /** @type {Map<string, string>} what could not be written (storage full or off) */
    this.memory = new Map();
  }

  /** @param {string} key */
  read(key) {
    const k = `${this.prefix}:${key}`;
    try {
      // What could not be written is newer than what storage still holds.
      const text = this.memory.get(k) ?? this.storage?.getItem(k) ?? null;
      return text === null ? null : JSON.parse(text);
    } catch {
      return null;
    }
  }

  /** @param {string} key @param {unknown} value */
  write(key, value) {
    const k = `${this.prefix}:${key}`;
    const text = JSON.stringify(value);
    try {
      if (!this.storage) throw new Error("no storage");
      this.storage.setItem(k, text);
      this.memory.delete(k);
    } catch {
      this.memory.set(k, text);
    }
  }

  /** @returns {Settings} */
  settings() {
    const s = this.read("settings") ?? {};
    return {
      systemPrompt: typeof s.systemPrompt === "string" ? s.systemPrompt : DEFAULT_SETTINGS.systemPrompt,
      sampling: { ...DEFAULT_SETTINGS.sampling, ...(typeof s.sampling === "object" && s.sampling ? s.sampling : {}) },
      apiKey: typeof s.apiKey === "string" ? s.apiKey : "",
    };
  }

  /** @param {Settings} settings */
  saveSettings(settings) {
    this.write("settings", settings);
  }

  /** Newest first. @returns {Conversation[]} */
  conversations() {
    const list = this.read("conversations");
    if (!Array.isArray(list)) return [];
    return list.filter((c) => c && typeof c.id === "string" && Array.isArray(c.messages)).sort((a, b) => b.updated - a.updated);
  }

  /** @param {Conversation} conversation */
  save(conversation) {
    const rest = this.conversations().filter((c) => c.id !== conversation.id);
    this.write("conversations", [conversation, ...rest]);
  }

  /** @param {string} id */
  remove(id) {
    this.write(
      "conversations",
      this.conversations().filter((c) => c.id !== id),
    );
  }
}

/** @returns {Conversation} */
export function newConversation() {
  const now = Date.now();
  return {
    id: `c${now.toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    title: "New chat",
    created: now,
    updated: now,
    messages: [],
  };
}

/** A title from the first user message: its first line, shortened. @param {string} text */
export function titleFrom(text) {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || "New chat";
}

/** @returns {Storage | null} */
function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // blocked by the browser's privacy settings
  }
}
