// @ts-check
/**
 * A chat where the model runs inside this page: WorkerEngine loads it in a dedicated worker
 * (which spreads the compute over Web Workers when the page is cross-origin isolated), and
 * the shared chat page (assets/webui/chat_ui.js) streams its tokens. Nothing leaves the
 * browser: the model comes from a URL or from files dropped on the page, conversations stay
 * in localStorage, downloads optionally in Cache Storage.
 *
 * `?model=URL` in the address loads that model at once. It imports the library as an app
 * would, `from "qwen2-ts"` (the bundler resolves the package's own name to its dist/).
 */
import { mountChat, h } from "../../assets/webui/chat_ui.js";
import { WorkerEngine } from "qwen2-ts";

/** @typedef {import("qwen2-ts").EngineLoadProgress} EngineLoadProgress */

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
/** @type {WorkerEngine | null} */
let engine = null;
/** @type {AbortController | null} */
let loading = null;

const chat = mountChat(root, {
  storePrefix: "qwen2-browser-chat",
  brand: "qwen2-ts",
  title: "In-page chat",
  footer: "Everything runs in this page: the model, your messages and these conversations (localStorage) stay in this browser.",
  async *stream(messages, settings, signal) {
    if (!engine) throw new Error("no model is loaded");
    const s = settings.sampling;
    const it = engine.stream(messages, {
      maxNewTokens: s.maxTokens,
      temperature: s.temperature,
      topP: s.topP,
      ...(s.seed !== null ? { seed: s.seed } : {}),
      signal,
    });
    for (;;) {
      const step = await it.next();
      if (step.done) {
        const { usage } = step.value;
        yield { usage: { completionTokens: usage.completionTokens, promptTokens: usage.promptTokens } };
        return;
      }
      yield { text: step.value.text };
    }
  },
});

// ---- the loader in the sidebar ----------------------------------------------------------
const urlInput = h("input", {
  type: "url",
  name: "model-url",
  placeholder: "https://…/Qwen2.5-0.5B-Instruct/ or …/model.gguf",
  "aria-label": "Model URL",
  required: true,
});
const loadButton = h("button", { type: "submit", class: "primary" }, "Load");
const folderInput = /** @type {HTMLInputElement} */ (h("input", { type: "file", webkitdirectory: true, multiple: true, hidden: true }));
const ggufInput = /** @type {HTMLInputElement} */ (h("input", { type: "file", accept: ".gguf", hidden: true }));
const cacheBox = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", name: "cache", checked: true }));
const progressList = h("ul", { class: "progress-list", "aria-label": "Download progress" });
const status = h("p", { class: "load-status", role: "status" }, "No model loaded.");
const cancelButton = h("button", { type: "button", hidden: true, onclick: () => loading?.abort() }, "Cancel");
const drop = h(
  "div",
  { class: "drop" },
  h("span", {}, "Drop a model folder or a .gguf file here"),
  h(
    "div",
    { class: "buttons" },
    h("button", { type: "button", onclick: () => folderInput.click() }, "Choose folder"),
    h("button", { type: "button", onclick: () => ggufInput.click() }, "Choose .gguf"),
  ),
);
chat.slot.append(
  h(
    "section",
    { class: "loader", "aria-label": "Model" },
    h("h2", {}, "Model"),
    h(
      "form",
      {
        class: "url-form",
        onsubmit: (/** @type {Event} */ e) => {
          e.preventDefault();
          void load(urlInput.value.trim(), urlInput.value.trim());
        },
      },
      urlInput,
      loadButton,
    ),
    drop,
    h("label", { class: "check" }, cacheBox, "Keep downloads in this browser"),
    progressList,
    status,
    cancelButton,
    folderInput,
    ggufInput,
  ),
);

folderInput.addEventListener("change", () => void loadFiles([...(folderInput.files ?? [])]));
ggufInput.addEventListener("change", () => void loadFiles([...(ggufInput.files ?? [])]));
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer) void filesFromDrop(e.dataTransfer).then(loadFiles);
});

/** @param {File[]} files */
function loadFiles(files) {
  if (files.length === 0) return;
  const gguf = files.find((f) => f.name.toLowerCase().endsWith(".gguf"));
  const folder = files[0]?.webkitRelativePath.split("/")[0];
  if (gguf) return load(gguf, gguf.name);
  return load(files, folder || `${files.length} files`);
}

/** A dropped folder's files, walked through its entries; plain files as they are. @param {DataTransfer} dt */
async function filesFromDrop(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter((e) => e !== null && e !== undefined);
  if (entries.length === 0) return [...dt.files];
  /** @type {File[]} */
  const out = [];
  /** @param {FileSystemEntry} entry */
  const walk = async (entry) => {
    if (entry.isFile) out.push(await new Promise((ok, fail) => /** @type {FileSystemFileEntry} */ (entry).file(ok, fail)));
    else if (entry.isDirectory) {
      const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
      for (;;) {
        /** @type {FileSystemEntry[]} */
        const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

/** @param {number} n */
function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/**
 * One row per file (or per phase when an event names no file): a phase's row is complete
 * when the next phase starts, and every row when the model is ready.
 */
function progressView() {
  /** @type {Map<string, { bar: HTMLProgressElement, amount: HTMLElement }>} */
  const rows = new Map();
  progressList.replaceChildren();
  /** @param {{ bar: HTMLProgressElement, amount: HTMLElement }} row */
  const complete = (row) => {
    row.bar.max = 1;
    row.bar.value = 1;
    if (!row.amount.textContent) row.amount.textContent = "done";
  };
  /** @param {EngineLoadProgress & { file?: string, loaded?: number, message?: string }} p */
  return (p) => {
    if (p.phase === "ready") {
      for (const row of rows.values()) complete(row);
      return;
    }
    if (/** @type {string} */ (p.phase) === "warning") {
      progressList.append(h("li", { class: "warning", role: "note" }, p.message ?? "warning"));
      return;
    }
    const key = p.file ?? p.phase;
    let row = rows.get(key);
    if (!row) {
      if (p.file === undefined) for (const r of rows.values()) complete(r);
      // A file is named by its last path segment (the whole URL is its tooltip).
      const name = p.file?.replace(/\/+$/, "").split("/").pop() || key;
      const bar = /** @type {HTMLProgressElement} */ (h("progress", { "aria-label": name }));
      const amount = h("span", { class: "amount" });
      progressList.append(h("li", {}, h("span", { class: "name", title: key }, name), amount, bar));
      row = { bar, amount };
      rows.set(key, row);
    }
    const done = p.loaded;
    const total = p.total;
    if (done !== undefined && total !== undefined && total > 0) {
      row.bar.max = total;
      row.bar.value = done;
      row.amount.textContent = p.file !== undefined || p.loaded !== undefined ? `${bytes(done)} / ${bytes(total)}` : `${done} / ${total}`;
    }
  };
}

/** @param {string | File | File[]} source @param {string} label */
async function load(source, label) {
  loading?.abort();
  const controller = new AbortController();
  loading = controller;
  engine?.dispose();
  engine = null;
  chat.setReady(false, "Loading a model…");
  chat.setBadge(null);
  chat.setNotice(null);
  setStatus(`Loading ${label}…`);
  loadButton.disabled = true;
  cancelButton.hidden = false;
  const started = performance.now();
  try {
    const loaded = await WorkerEngine.create({
      model: source,
      cache: cacheBox.checked,
      onProgress: progressView(),
      signal: controller.signal,
    });
    if (loading !== controller) return loaded.dispose();
    engine = loaded;
    const name = label.replace(/\/+$/, "").split("/").pop() || label;
    chat.setTitle(name);
    chat.setMaxTokensLimit(loaded.info.config.max_position_embeddings);
    if (loaded.info.config.qwen2_ts_random_weights) {
      chat.setBadge("random weights", "made by qwen2 create-random");
      chat.setNotice(`${name} has random weights (made by qwen2 create-random): its replies are noise.`);
    }
    setStatus(
      `Ready: ${loaded.info.backend}, ${((performance.now() - started) / 1000).toFixed(1)} s${crossOriginIsolated ? "" : " (one thread: the page is not cross-origin isolated)"}.`,
      "ready",
    );
    chat.setReady(true);
    chat.showSidebar(false);
  } catch (err) {
    if (loading !== controller) return;
    setStatus(
      controller.signal.aborted ? "Loading cancelled." : `Could not load ${label}: ${err instanceof Error ? err.message : String(err)}`,
      "error",
    );
    chat.setReady(false, "Load a model: a URL, or its files dropped in the Model panel");
  } finally {
    if (loading === controller) {
      loading = null;
      loadButton.disabled = false;
      cancelButton.hidden = true;
    }
  }
}

/** @param {string} text @param {"error" | "ready"} [kind] */
function setStatus(text, kind) {
  status.textContent = text;
  if (kind) status.dataset.kind = kind;
  else delete status.dataset.kind;
}

chat.setReady(false, "Load a model: a URL, or its files dropped in the Model panel");
const fromAddress = new URLSearchParams(location.search).get("model");
if (fromAddress) {
  urlInput.value = new URL(fromAddress, location.href).href;
  void load(urlInput.value, urlInput.value);
} else {
  chat.showSidebar(true);
}
