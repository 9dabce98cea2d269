/** The browser-test harness: Chromium, a switchable static server, esbuild bundles, pages. */
export { browserSkip, browserSkipReason, chromiumPath, launchChromium, type LaunchOptions } from "./chromium.js";
export { BLANK_PAGE, startTestServer, type RequestRecord, type RouteHandler, type TestServer, type TestServerOptions } from "./server.js";
export { bundle, bundleUniversal, universalEntry, type Bundle, type BundleOptions, type NodeImport } from "./bundle.js";
export { openPage, runInPage, type ConsoleRecord, type TestPage } from "./page.js";
export { pageSuite, type PageSuite, type PageSuiteOptions } from "./suite.js";
