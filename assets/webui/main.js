// @ts-check
/**
 * `qwen2 serve`'s web chat: the shared chat page over the server's own OpenAI API.
 * The model's name and context length come from /v1/models; when the server says the
 * weights are random (`qwen2 create-random`), the page says so instead of pretending.
 */
import { mountChat } from "./chat_ui.js";
import { ChatError, fetchModel, streamChat } from "./openai_stream.js";

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
let model = "";

const chat = mountChat(root, {
  storePrefix: "qwen2-webui",
  brand: "qwen2-ts",
  title: "qwen2 serve",
  askApiKey: true,
  footer: "Conversations and settings are kept in this browser's localStorage for this server's address.",
  async *stream(messages, settings, signal) {
    if (!model) await describeModel();
    yield* streamChat({ model, apiKey: settings.apiKey, messages, sampling: settings.sampling, signal });
  },
});

async function describeModel() {
  try {
    const card = await fetchModel({ apiKey: chat.settings().apiKey });
    model = card.id;
    chat.setTitle(card.id);
    chat.setNotice(null);
    if (card.contextLength) chat.setMaxTokensLimit(card.contextLength);
    if (card.randomWeights) {
      chat.setBadge("random weights", "made by qwen2 create-random");
      chat.setNotice(
        `${card.id} has random weights (made by qwen2 create-random): its replies are noise. Serve a trained model to chat for real.`,
      );
    }
  } catch (err) {
    const auth = err instanceof ChatError && err.status === 401;
    chat.setNotice(
      auth
        ? "This server needs an API key: open Settings and enter it."
        : `Could not reach the server: ${err instanceof Error ? err.message : String(err)}`,
      "error",
    );
  }
}

// After a 401, a key typed into Settings takes effect when the dialog closes ("close" does
// not bubble, hence the capture).
document.addEventListener("close", () => void (model ? undefined : describeModel()), true);
void describeModel();
