// @ts-check
/**
 * The chat page itself, shared by `qwen2 serve`'s web chat and the in-page example: a
 * sidebar of conversations (kept by {@link ChatStore}), the message list with replies
 * rendered as markdown while they stream, a composer (Enter sends, Shift+Enter is a new
 * line, Escape stops) and a settings dialog. Where the tokens come from is the caller's
 * business: `options.stream` yields text pieces for a list of messages and ends when the
 * signal aborts.
 *
 * Everything is built with `createElement`/`textContent` (see markdown.js), so the page
 * runs under a Content-Security-Policy without 'unsafe-inline'.
 *
 * @typedef {import("./store.js").Conversation} Conversation
 * @typedef {import("./store.js").StoredMessage} StoredMessage
 * @typedef {import("./store.js").Settings} Settings
 * @typedef {import("./store.js").ReplyStats} ReplyStats
 * @typedef {import("./openai_stream.js").ChatMessage} ChatMessage
 * @typedef {import("./openai_stream.js").Sampling} Sampling
 * @typedef {import("./openai_stream.js").StreamEvent} StreamEvent
 * @typedef {{
 *   storePrefix: string,
 *   brand: string,
 *   title: string,
 *   stream: (messages: ChatMessage[], settings: Settings, signal: AbortSignal) => AsyncIterable<StreamEvent>,
 *   askApiKey?: boolean,
 *   maxTokensLimit?: number,
 *   footer?: string,
 * }} ChatOptions
 */
import { renderMarkdown } from "./markdown.js";
import { ChatStore, DEFAULT_SETTINGS, newConversation, titleFrom } from "./store.js";

const ICONS = {
  menu: "M3 6h18M3 12h18M3 18h18",
  plus: "M12 5v14M5 12h14",
  settings:
    "M4 6h9M19 6h1M4 12h3M11 12h9M4 18h11M19 18h1M16 4a2 2 0 1 0 0 4a2 2 0 1 0 0-4M9 10a2 2 0 1 0 0 4a2 2 0 1 0 0-4M17 16a2 2 0 1 0 0 4a2 2 0 1 0 0-4",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  send: "M5 12h14M13 6l6 6-6 6",
  stop: "M7 7h10v10H7z",
  close: "M6 6l12 12M18 6L6 18",
};

/**
 * @param {keyof typeof ICONS} name
 * @returns {SVGSVGElement}
 */
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

/**
 * A small element builder: string children become text nodes, `on*` props listeners.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** @param {number} ms */
function seconds(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** @param {ReplyStats} s */
function statsText(s) {
  const parts = [`${s.estimated ? "~" : ""}${s.tokens} token${s.tokens === 1 ? "" : "s"}`];
  if (s.tokensPerSecond !== null) parts.push(`${s.tokensPerSecond.toFixed(1)} tok/s`);
  if (s.firstTokenMs !== null) parts.push(`first token ${seconds(s.firstTokenMs)}`);
  if (s.stopped) parts.push("stopped");
  return parts.join(" · ");
}

/**
 * Builds the chat in `root` and returns a handle for the page's own controls.
 * @param {HTMLElement} root
 * @param {ChatOptions} options
 */
export function mountChat(root, options) {
  const store = new ChatStore(options.storePrefix);
  let settings = store.settings();
  /** @type {Conversation} */
  let current = store.conversations()[0] ?? newConversation();
  /** @type {AbortController | null} */
  let running = null;
  let ready = true;
  let unavailableHint = "";

  // ---- layout -------------------------------------------------------------------------
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations" });
  const slot = h("div", { class: "sidebar-slot" });
  const sidebar = h(
    "aside",
    { class: "sidebar", id: "sidebar" },
    h(
      "div",
      { class: "sidebar-head" },
      h("span", { class: "brand" }, options.brand),
      h("button", { type: "button", class: "new-chat", onclick: () => startNew(), title: "New chat" }, icon("plus"), "New chat"),
    ),
    slot,
    h("nav", { class: "conversations" }, list),
    h("p", { class: "sidebar-foot" }, options.footer ?? "Conversations are kept in this browser's localStorage."),
  );
  const scrim = h("div", { class: "scrim", onclick: () => toggleSidebar(false) });
  const title = h("h1", { class: "model-name" }, options.title);
  const badge = h("span", { class: "badge", hidden: true });
  const menuButton = h(
    "button",
    {
      type: "button",
      class: "icon-button menu",
      "aria-label": "Conversations",
      "aria-controls": "sidebar",
      "aria-expanded": "false",
      onclick: () => toggleSidebar(),
    },
    icon("menu"),
  );
  const settingsButton = h(
    "button",
    { type: "button", class: "icon-button", "aria-label": "Settings", title: "Settings", onclick: () => openSettings() },
    icon("settings"),
  );
  const notice = h("div", { class: "notice", role: "status", hidden: true });
  const messages = h("section", { class: "messages", "aria-label": "Messages", "aria-live": "polite" });
  const input = h("textarea", { class: "input", rows: 1, placeholder: "Message", "aria-label": "Message", enterkeyhint: "send" });
  const sendButton = h("button", { type: "submit", class: "send", "aria-label": "Send" }, icon("send"));
  const composer = h(
    "form",
    {
      class: "composer",
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        if (running) stop();
        else void send();
      },
    },
    input,
    sendButton,
  );
  const main = h(
    "main",
    { class: "chat" },
    h("header", { class: "topbar" }, menuButton, h("div", { class: "title" }, title, badge), settingsButton),
    notice,
    messages,
    h("div", { class: "composer-wrap" }, composer, h("p", { class: "hint" }, "Enter sends · Shift+Enter new line · Esc stops")),
  );
  const dialog = buildSettingsDialog();
  root.classList.add("app");
  if (!navigator.clipboard) root.classList.add("no-clipboard");
  root.replaceChildren(sidebar, scrim, main, dialog.element);

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!running) void send();
    } else if (e.key === "Escape" && running) {
      e.preventDefault();
      stop();
    }
  });
  input.addEventListener("input", autoGrow);
  messages.addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button.copy");
    const code = button?.closest(".code-block")?.querySelector("code");
    if (!button || !code || !navigator.clipboard) return;
    void navigator.clipboard.writeText(code.textContent ?? "").then(() => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    });
  });

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
  }

  /** @param {boolean} [open] */
  function toggleSidebar(open) {
    const show = open ?? !root.classList.contains("sidebar-open");
    root.classList.toggle("sidebar-open", show);
    menuButton.setAttribute("aria-expanded", String(show));
  }

  // ---- conversations ------------------------------------------------------------------
  function renderList() {
    const convs = store.conversations();
    list.replaceChildren(
      ...convs.map((c) =>
        h(
          "li",
          { class: c.id === current.id ? "active" : "" },
          h(
            "button",
            { type: "button", class: "open", "aria-current": c.id === current.id ? "true" : undefined, onclick: () => select(c.id) },
            c.title,
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon-button delete",
              "aria-label": `Delete “${c.title}”`,
              title: "Delete",
              onclick: () => remove(c.id),
            },
            icon("trash"),
          ),
        ),
      ),
    );
    if (convs.length === 0) list.append(h("li", { class: "empty" }, "No conversations yet"));
  }

  /** @param {string} id */
  function select(id) {
    if (running) stop();
    current = store.conversations().find((c) => c.id === id) ?? newConversation();
    renderList();
    renderMessages();
    toggleSidebar(false);
    input.focus();
  }

  function startNew() {
    if (running) stop();
    current = newConversation();
    renderList();
    renderMessages();
    toggleSidebar(false);
    input.focus();
  }

  /** @param {string} id */
  function remove(id) {
    if (id === current.id && running) stop();
    store.remove(id);
    if (id === current.id) current = store.conversations()[0] ?? newConversation();
    renderList();
    renderMessages();
  }

  // ---- messages -----------------------------------------------------------------------
  /** @param {StoredMessage} m */
  function messageView(m) {
    const body = h("div", { class: "bubble" });
    const meta = h("footer", { class: "meta" });
    const view = h("article", { class: `msg ${m.role}` }, body, meta);
    const update = (/** @type {StoredMessage} */ msg, /** @type {boolean} */ streaming) => {
      if (msg.role === "assistant") body.replaceChildren(renderMarkdown(msg.content));
      else body.textContent = msg.content;
      if (msg.error) body.append(h("p", { class: "error", role: "alert" }, msg.error));
      view.classList.toggle("streaming", streaming);
      meta.textContent = msg.stats ? statsText(msg.stats) : "";
    };
    update(m, false);
    return { view, update };
  }

  function renderMessages() {
    if (current.messages.length === 0) {
      messages.replaceChildren(
        h(
          "div",
          { class: "empty-state" },
          h("h2", {}, ready ? `Chat with ${title.textContent}` : "No model loaded"),
          h("p", {}, ready ? "Replies stream as they are generated. Your conversations stay in this browser." : unavailableHint),
        ),
      );
      return;
    }
    messages.replaceChildren(...current.messages.map((m) => messageView(m).view));
    messages.scrollTop = messages.scrollHeight;
  }

  function nearBottom() {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  }

  async function send() {
    const text = input.value.trim();
    if (!text || running || !ready) return;
    input.value = "";
    autoGrow();
    if (current.messages.length === 0) {
      current.title = titleFrom(text);
      messages.replaceChildren();
    }
    /** @type {StoredMessage} */
    const user = { role: "user", content: text };
    current.messages.push(user);
    messages.append(messageView(user).view);
    /** @type {ChatMessage[]} */
    const history = current.messages.filter((m) => m.content !== "").map((m) => ({ role: m.role, content: m.content }));
    if (settings.systemPrompt.trim()) history.unshift({ role: "system", content: settings.systemPrompt });
    /** @type {StoredMessage} */
    const reply = { role: "assistant", content: "" };
    current.messages.push(reply);
    current.updated = Date.now();
    store.save(current);
    renderList();
    const view = messageView(reply);
    view.update(reply, true);
    messages.append(view.view);
    messages.scrollTop = messages.scrollHeight;

    const controller = new AbortController();
    running = controller;
    setBusy(true);
    const started = performance.now();
    let firstAt = 0;
    let pieces = 0;
    /** @type {number | null} */
    let reported = null;
    let frame = 0;
    const paint = () => {
      frame = 0;
      const stick = nearBottom();
      const elapsed = (performance.now() - firstAt) / 1000;
      reply.stats = {
        tokens: pieces,
        tokensPerSecond: pieces > 1 && elapsed > 0 ? (pieces - 1) / elapsed : null,
        firstTokenMs: firstAt ? firstAt - started : null,
        stopped: false,
        estimated: true,
      };
      view.update(reply, true);
      if (stick) messages.scrollTop = messages.scrollHeight;
    };
    try {
      for await (const ev of options.stream(history, settings, controller.signal)) {
        if (ev.text) {
          if (!firstAt) firstAt = performance.now();
          pieces++;
          reply.content += ev.text;
          if (!frame) frame = requestAnimationFrame(paint);
        }
        if (ev.usage) reported = ev.usage.completionTokens;
      }
    } catch (err) {
      if (!controller.signal.aborted) reply.error = err instanceof Error ? err.message : String(err);
    } finally {
      if (frame) cancelAnimationFrame(frame);
      const ended = performance.now();
      const tokens = reported ?? pieces;
      const decodeSeconds = (ended - firstAt) / 1000;
      reply.stats = {
        tokens,
        tokensPerSecond: firstAt && tokens > 1 && decodeSeconds > 0 ? (tokens - 1) / decodeSeconds : null,
        firstTokenMs: firstAt ? firstAt - started : null,
        stopped: controller.signal.aborted,
        estimated: reported === null,
      };
      const stick = nearBottom();
      view.update(reply, false);
      if (stick) messages.scrollTop = messages.scrollHeight;
      current.updated = Date.now();
      store.save(current);
      if (running === controller) {
        running = null;
        setBusy(false);
      }
    }
  }

  function stop() {
    running?.abort();
    running = null;
    setBusy(false);
  }

  /** @param {boolean} busy */
  function setBusy(busy) {
    root.classList.toggle("busy", busy);
    sendButton.replaceChildren(icon(busy ? "stop" : "send"));
    sendButton.setAttribute("aria-label", busy ? "Stop" : "Send");
    sendButton.title = busy ? "Stop (Esc)" : "Send (Enter)";
    sendButton.classList.toggle("stop", busy);
  }

  // ---- settings -----------------------------------------------------------------------
  function buildSettingsDialog() {
    /**
     * @param {string} label @param {string} name @param {Record<string, unknown>} attrs @param {string} [help]
     */
    const field = (label, name, attrs, help) =>
      h(
        "label",
        { class: "field" },
        h("span", {}, label),
        attrs.multiline ? h("textarea", { name, rows: 4 }) : h("input", { name, ...attrs }),
        help ? h("small", {}, help) : null,
      );
    const form = h(
      "form",
      { method: "dialog", class: "settings-form" },
      h("header", {}, h("h2", {}, "Settings"), h("button", { type: "submit", class: "icon-button", "aria-label": "Close" }, icon("close"))),
      field("System prompt", "systemPrompt", { multiline: true }),
      h(
        "div",
        { class: "grid" },
        field("Temperature", "temperature", { type: "number", min: 0, max: 2, step: 0.05, inputmode: "decimal" }, "0 = greedy"),
        field("Top p", "topP", { type: "number", min: 0, max: 1, step: 0.05, inputmode: "decimal" }),
        field("Max tokens", "maxTokens", { type: "number", min: 1, max: options.maxTokensLimit, step: 1, inputmode: "numeric" }),
        field("Seed", "seed", { type: "number", step: 1, placeholder: "random", inputmode: "numeric" }, "empty = random"),
      ),
      options.askApiKey
        ? field(
            "API key",
            "apiKey",
            { type: "password", autocomplete: "off", placeholder: "only if the server asks" },
            "Sent as a Bearer token; kept in localStorage.",
          )
        : null,
      h(
        "footer",
        {},
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              fill({ ...DEFAULT_SETTINGS, apiKey: settings.apiKey });
              read();
            },
          },
          "Reset",
        ),
        h("button", { type: "submit", class: "primary" }, "Done"),
      ),
    );
    const element = h("dialog", { class: "settings", "aria-label": "Settings" }, form);
    const named = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (form.elements.namedItem(n));
    /** @param {Settings} s */
    const fill = (s) => {
      named("systemPrompt").value = s.systemPrompt;
      named("temperature").value = String(s.sampling.temperature);
      named("topP").value = String(s.sampling.topP);
      named("maxTokens").value = String(s.sampling.maxTokens);
      named("seed").value = s.sampling.seed === null ? "" : String(s.sampling.seed);
      if (options.askApiKey) named("apiKey").value = s.apiKey;
    };
    const num = (/** @type {string} */ n, /** @type {number} */ lo, /** @type {number} */ hi, /** @type {number} */ fallback) => {
      const v = named(n).valueAsNumber;
      return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
    };
    const read = () => {
      const d = DEFAULT_SETTINGS.sampling;
      const seed = named("seed").valueAsNumber;
      settings = {
        systemPrompt: named("systemPrompt").value,
        sampling: {
          temperature: num("temperature", 0, 2, d.temperature),
          topP: num("topP", 0, 1, d.topP),
          maxTokens: Math.round(num("maxTokens", 1, options.maxTokensLimit ?? 1 << 20, d.maxTokens)),
          seed: Number.isSafeInteger(seed) ? seed : null,
        },
        apiKey: options.askApiKey ? named("apiKey").value.trim() : settings.apiKey,
      };
      store.saveSettings(settings);
    };
    form.addEventListener("change", read);
    element.addEventListener("close", () => {
      read();
      input.focus();
    });
    return { element, fill };
  }

  function openSettings() {
    dialog.fill(settings);
    dialog.element.showModal();
  }

  renderList();
  renderMessages();
  setBusy(false);
  input.focus();

  return {
    /** The sidebar's slot for page-specific controls (the example's model loader). */
    slot,
    /** @param {string} text */
    setTitle(text) {
      title.textContent = text;
      document.title = `${text} · ${options.brand}`;
      if (current.messages.length === 0) renderMessages();
    },
    /** @param {string | null} label @param {string} [tooltip] */
    setBadge(label, tooltip) {
      badge.hidden = label === null;
      badge.textContent = label ?? "";
      badge.title = tooltip ?? "";
    },
    /** @param {string | null} text @param {"warn" | "error"} [kind] */
    setNotice(text, kind = "warn") {
      notice.hidden = text === null;
      notice.textContent = text ?? "";
      notice.dataset.kind = kind;
    },
    /** Enables or disables sending (the example before a model is loaded). @param {boolean} on @param {string} [hint] */
    setReady(on, hint = "") {
      ready = on;
      unavailableHint = hint;
      input.disabled = !on;
      sendButton.disabled = !on;
      input.placeholder = on ? "Message" : hint;
      if (current.messages.length === 0) renderMessages();
      if (on) input.focus();
    },
    /** Shows or hides the sidebar drawer (phone-sized screens). @param {boolean} open */
    showSidebar(open) {
      toggleSidebar(open);
    },
    /** The current settings (read when a page needs them outside a stream). */
    settings: () => settings,
    /** Updates the settings dialog's max-tokens bound once the context length is known. @param {number} limit */
    setMaxTokensLimit(limit) {
      options.maxTokensLimit = limit;
      /** @type {HTMLInputElement} */ (dialog.element.querySelector("input[name=maxTokens]")).max = String(limit);
    },
  };
}
