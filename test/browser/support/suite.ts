/**
 * The setup most browser tests share, registered as before/after hooks of the enclosing
 * describe(): bundle the page entries, launch Chromium, and serve the bundle at /bundle/
 * beside any other mounted folders. The returned object's fields are set once `before` ran.
 */
import { resolve } from "node:path";
import { after, before } from "node:test";
import type { Browser } from "playwright-core";
import { repoRoot } from "../../support/paths.js";
import { type Bundle, type BundleOptions, bundle } from "./bundle.js";
import { launchChromium } from "./chromium.js";
import { startTestServer, type TestServer } from "./server.js";

export interface PageSuite {
  readonly browser: Browser;
  readonly server: TestServer;
  /** The bundled entries, served at `${server.origin}/bundle/${pages.files[name]}`. */
  readonly pages: Bundle;
}

export interface PageSuiteOptions {
  /** URL prefix → folder, besides /bundle/ and /dist/. */
  readonly mounts?: Record<string, string>;
  /** COOP/COEP at the start (default true); tests may flip `server.isolated`. */
  readonly isolated?: boolean;
  readonly bundle?: BundleOptions;
  /** Launch Chromium with WebGPU on SwiftShader (software), for the WebGPU backend's tests. */
  readonly webgpu?: boolean;
}

/** `entries`: output name → a compiled module's path under dist/ (e.g. "test/browser/pages/x.js"). */
export function pageSuite(entries: Readonly<Record<string, string>>, options: PageSuiteOptions = {}): PageSuite {
  const suite: { browser?: Browser; server?: TestServer; pages?: Bundle } = {};
  before(async () => {
    const inDist = Object.fromEntries(Object.entries(entries).map(([name, path]) => [name, resolve(repoRoot, "dist", path)]));
    suite.pages = await bundle(inDist, options.bundle);
    const mounts = { "/bundle/": suite.pages.dir, ...options.mounts };
    [suite.browser, suite.server] = await Promise.all([
      launchChromium({ webgpu: options.webgpu ?? false }),
      startTestServer({ mounts, ...(options.isolated !== undefined ? { isolated: options.isolated } : {}) }),
    ]);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.close();
    suite.pages?.dispose();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`pageSuite: ${what} is used before the suite's before() hook ran`);
    return value;
  };
  return {
    get browser() {
      return ready(suite.browser, "browser");
    },
    get server() {
      return ready(suite.server, "server");
    },
    get pages() {
      return ready(suite.pages, "pages");
    },
  };
}
