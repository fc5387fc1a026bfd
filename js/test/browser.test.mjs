// The shared JS API suite in headless Chromium (the system /usr/bin/chromium through
// playwright-core, never a downloaded browser): on the main thread, in a dedicated worker and
// through Anax.openInWorker, each in a fresh browser context; plus the INTERNAL path for a wasm
// trap. Pages are served from the repo on 127.0.0.1 with COOP/COEP headers.
// S3 runs against moto when ANAX_TEST_S3_ENDPOINT is set (scripts/test.sh starts it).
import { test, before, after } from "node:test";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";
import { bundleSuite, root } from "./bundle.mjs";

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };
let server;
let base;
let browser;

before(async () => {
  bundleSuite();
  server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root + path.sep)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
        "cache-control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
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
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const q = new URLSearchParams({ mode });
    if (process.env.ANAX_TEST_S3_ENDPOINT) {
      q.set("s3", process.env.ANAX_TEST_S3_ENDPOINT);
      q.set("bucket", process.env.ANAX_TEST_S3_BUCKET ?? "anax-browser");
    }
    if (process.env.ANAX_SUITE_ONLY) q.set("only", process.env.ANAX_SUITE_ONLY);
    await page.goto(`${base}/js/test/browser/index.html?${q}`);
    await page.waitForFunction(() => window.__results, null, { timeout: 600_000, polling: 100 });
    return { results: await page.evaluate(() => window.__results), errors };
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
