// The package in the apps users build: `npm pack` of this checkout installed into a fresh
// project, then one app (open a table on OPFS, put, read back; the same through
// Anax.openInWorker) built with Vite (production build, and the dev server with its dependency
// pre-bundling), webpack 5 and esbuild, each loaded in headless Chromium. Vite and webpack
// place the .wasm and the worker script themselves (the package writes their URLs as
// `new URL("...", import.meta.url)`); esbuild does not handle that pattern, so its app copies
// the two files from the package's asset subpaths and names them, as docs/js-api.md says.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { root } from "./bundle.mjs";
import { serveStatic } from "./serve.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "anax-bundlers-"));
const app = path.join(dir, "app");
let browser;
const passed = new Set();

// The app: what a page does with the package, reporting on `window.__result`.
const body = (setup, where) => `${setup}
const out = {};
try {
  const schema = { id: "utf8", n: "int64" };
  const db = await Anax.open({ schema, key: "id", storage: { kind: "opfs", path: "app-" + Math.random() } });
  await db.put([{ id: "ü-🦀", n: 1 }]);
  out.local = (await db.getRow("ü-🦀"))?.n === 1;
  await db.close();
  const w = await Anax.openInWorker({ schema, key: "id" }${where});
  await w.put([{ id: "k".repeat(100), n: 2 }]);
  out.worker = (await w.getRow("k".repeat(100)))?.n === 2;
  await w.close();
} catch (e) {
  out.error = String((e && e.stack) || e);
}
window.__result = out;
`;

before(async () => {
  // The tarball of pkg/ as the test script built it (--ignore-scripts: prepack would build it
  // again); no network: the package has no dependencies.
  const [info] = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" }));
  mkdirSync(app);
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", path.join(dir, info.filename)], { cwd: app, stdio: "ignore" });
  writeFileSync(path.join(app, "index.html"), `<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n`);
  writeFileSync(path.join(app, "main.js"), body('import { Anax } from "anax";', ""));
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(root, "target"), { recursive: true });
  writeFileSync(path.join(root, "target", "bundlers.json"), `${JSON.stringify({ bundlers_ok: passed.size, passed: [...passed] }, null, 2)}\n`);
  console.log(`bundler apps that load, write and read in Chromium: ${passed.size} of 4`);
});

/** Loads `url` in a fresh browser context; the app's report. */
async function load(url) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => window.__result, null, { timeout: 60_000, polling: 100 }).catch(() => {});
    const result = await page.evaluate(() => window.__result);
    return { result, errors };
  } finally {
    await context.close();
  }
}

async function check(name, url) {
  const { result, errors } = await load(url);
  assert.deepEqual(result, { local: true, worker: true }, `${name}: ${JSON.stringify(result)} ${errors.join("; ")}`);
  passed.add(name);
}

async function served(distDir, name) {
  const { server, base } = await serveStatic(distDir);
  try {
    await check(name, `${base}/index.html`);
  } finally {
    server.close();
  }
}

test("a Vite production build loads, writes and reads in Chromium (the worker script and the wasm placed by Vite)", async () => {
  const { build } = await import("vite");
  await build({ root: app, logLevel: "error", build: { outDir: path.join(dir, "vite-dist"), emptyOutDir: true } });
  await served(path.join(dir, "vite-dist"), "vite-build");
});

test("the Vite dev server (dependency pre-bundling on) serves an app that loads, writes and reads in Chromium", async () => {
  const { createServer } = await import("vite");
  const server = await createServer({ root: app, logLevel: "error", server: { host: "127.0.0.1", port: 0 }, cacheDir: path.join(dir, "vite-cache") });
  await server.listen();
  try {
    await check("vite-dev", `${server.resolvedUrls.local[0]}index.html`);
  } finally {
    await server.close();
  }
});

test("a webpack 5 build loads, writes and reads in Chromium (new URL assets emitted by webpack)", async () => {
  const { default: webpack } = await import("webpack");
  const out = path.join(dir, "webpack-dist");
  const stats = await new Promise((resolve, reject) =>
    webpack({ mode: "production", context: app, entry: "./main.js", output: { path: out, clean: true }, performance: { hints: false } }, (err, s) => (err ? reject(err) : resolve(s))),
  );
  assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
  writeFileSync(path.join(out, "index.html"), `<!doctype html><html><body><script src="./main.js"></script></body></html>\n`);
  await served(out, "webpack");
});

test("an esbuild bundle that copies the package's asset subpaths (anax/anax_bg.wasm, anax/worker.js) and names them loads, writes and reads in Chromium", async () => {
  const { build } = await import("esbuild");
  const out = path.join(dir, "esbuild-dist");
  mkdirSync(out);
  writeFileSync(
    path.join(app, "main-esbuild.js"),
    body(
      'import { Anax, initialize } from "anax";\nawait initialize(new URL("./anax_bg.wasm", import.meta.url));',
      ', { workerUrl: new URL("./anax.worker.js", import.meta.url) }',
    ),
  );
  await build({ entryPoints: [path.join(app, "main-esbuild.js")], bundle: true, format: "esm", platform: "browser", outfile: path.join(out, "main.js"), absWorkingDir: app, logLevel: "silent" });
  // Where the exports map's asset subpaths point, as a copy step would find them.
  const exportsMap = JSON.parse(readFileSync(path.join(app, "node_modules/anax/package.json"), "utf8")).exports;
  copyFileSync(path.join(app, "node_modules/anax", exportsMap["./anax_bg.wasm"]), path.join(out, "anax_bg.wasm"));
  copyFileSync(path.join(app, "node_modules/anax", exportsMap["./worker.js"]), path.join(out, "anax.worker.js"));
  copyFileSync(path.join(app, "index.html"), path.join(out, "index.html"));
  await served(out, "esbuild");
});
