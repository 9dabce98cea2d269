/** Worker entry of wasm_probe.ts: runs the probe for the thread count it is sent. */
import { parentPort } from "#platform";
import { probe } from "./wasm_probe.js";

const port = parentPort();
port.onMessage((threads) => {
  probe(threads === null ? undefined : (threads as number)).then(
    (result) => port.postMessage(result),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
  );
});
