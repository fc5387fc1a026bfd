// The shared JS API suite in headless Chromium (the system /usr/bin/chromium through
// playwright-core, never a downloaded browser): on the main thread, in a dedicated worker and
// through Anax.openInWorker, each in a fresh browser context; plus the INTERNAL path for a wasm
// trap. Pages are served from the repo on 127.0.0.1 with COOP/COEP headers.
// S3 runs against moto when ANAX_TEST_S3_ENDPOINT is set (scripts/test.sh starts it).
import { test, before, after } from "node:test";
import { chromium } from "playwright-core";
import { bundleSuite, root } from "./bundle.mjs";
import { serveStatic } from "./serve.mjs";

let server;
let base;
let browser;

before(async () => {
  bundleSuite();
  ({ server, base } = await serveStatic(root));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function results(mode) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const q = new URLSearchParams({ mode });
    if (process.env.ANAX_TEST_S3_ENDPOINT) {
      q.set("s3", process.env.ANAX_TEST_S3_ENDPOINT);
      q.set("bucket", process.env.ANAX_TEST_S3_BUCKET ?? "anax-browser");
    }
    if (process.env.ANAX_SUITE_ONLY) q.set("only", process.env.ANAX_SUITE_ONLY);
    await page.goto(`${base}/js/test/browser/index.html?${q}`);
    try {
      await page.waitForFunction(() => window.__results, null, { timeout: 600_000, polling: 100 });
    } catch (e) {
      // Name the case that never finished (the page records the one running).
      const running = await page.evaluate(() => window.__running).catch(() => undefined);
      throw new Error(`${mode}: no results${running ? `, stopped in case "${running}"` : ""}: ${e.message}`, { cause: e });
    }
    return { results: await page.evaluate(() => window.__results) };
  } finally {
    await context.close();
  }
}

for (const mode of ["main", "worker", "openInWorker"]) {
  test(`the JS API suite in Chromium: ${mode}`, async (t) => {
    const { results: list } = await results(mode);
    for (const r of list) {
      await t.test(r.name, () => {
        if (!r.ok) throw new Error(r.error);
      });
    }
  });
}

for (const mode of ["trap", "trap-async", "worker-trap", "worker-trap-async", "openInWorker-trap"]) {
  test(`a wasm trap in Chromium (${mode}) becomes INTERNAL and poisons the instance`, async () => {
    const { results: codes } = await results(mode);
    if (JSON.stringify(codes) !== JSON.stringify(["INTERNAL", "INTERNAL"])) throw new Error(JSON.stringify(codes));
  });
}
