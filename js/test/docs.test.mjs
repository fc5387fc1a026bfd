// Docs that run: every ```js block of README.md and docs/js-api.md is executed as the module
// it claims to be. A block that exports a Worker (`export default { fetch }`) runs in workerd
// (bundled as wrangler would, with an R2 bucket for each `env.NAME` it reads) and must answer
// 200; a block whose first line says `// Browser only` runs in headless Chromium; one that
// opens `kind: "s3"` runs against moto (its MinIO endpoint pointed there) when
// ANAX_TEST_S3_ENDPOINT is set, and is counted as not run otherwise; every other block runs
// in Node. A block fails its test by throwing (or rejecting). The counts go to
// target/doc-blocks/summary.json, from which docs/bench/package.json takes doc_blocks_run
// and doc_blocks_total.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { root } from "./bundle.mjs";
import { serveStatic } from "./serve.mjs";

const run = promisify(execFile);
const out = path.join(root, "target", "doc-blocks");
mkdirSync(out, { recursive: true });

/** Every ```js block of `file`, as { id, code, where }. */
function blocks(file) {
  const text = readFileSync(path.join(root, file), "utf8");
  const found = [];
  for (const m of text.matchAll(/^```js\n([\s\S]*?)^```$/gm)) {
    const line = text.slice(0, m.index).split("\n").length;
    const code = m[1];
    const where = /^export default\s*\{/m.test(code)
      ? "workerd"
      : /^\/\/ Browser only/.test(code)
        ? "chromium"
        : /kind: "s3"/.test(code)
          ? "s3"
          : "node";
    found.push({ id: `${file}:${line}`, code, where });
  }
  return found;
}

const all = [...blocks("README.md"), ...blocks("docs/js-api.md")];
const ran = new Set();
const fileOf = (b, ext) => path.join(out, `${b.id.replace(/[^\w]+/g, "-")}.${ext}`);

let browser;
let server;
let base;

before(async () => {
  if (all.some((b) => b.where === "chromium")) {
    const { chromium } = await import("playwright-core");
    ({ server, base } = await serveStatic(root));
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
  }
});

after(async () => {
  await browser?.close();
  server?.close();
  const summary = { doc_blocks_total: all.length, doc_blocks_run: ran.size, not_run: all.filter((b) => !ran.has(b.id)).map((b) => b.id) };
  writeFileSync(path.join(out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`doc blocks: ${ran.size} of ${all.length} run`);
});

async function inNode(b, code) {
  const file = fileOf(b, "mjs");
  // Inside the package, so `import "anax"` is the package itself (its exports map). Syntax
  // newer than this Node (`await using`) is lowered as TypeScript or a bundler would.
  const { transformSync } = await import("esbuild");
  writeFileSync(file, transformSync(code, { format: "esm", target: `node${process.versions.node.split(".")[0]}`, loader: "js" }).code);
  await run(process.execPath, [file], { cwd: root, timeout: 120_000 });
}

async function inWorkerd(b) {
  const { build } = await import("esbuild");
  const { Miniflare } = await import("miniflare");
  const src = fileOf(b, "worker.mjs");
  writeFileSync(src, b.code);
  const dist = fileOf(b, "dist");
  const { WRANGLER_BUNDLE, MODULE_RULES } = await import("../../worker-example/config.mjs");
  await build({
    ...WRANGLER_BUNDLE,
    entryPoints: [src],
    outdir: dist,
    absWorkingDir: root,
    logLevel: "silent",
  });
  const buckets = [...new Set([...b.code.matchAll(/env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]))];
  const script = path.basename(src).replace(/\.mjs$/, ".js");
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(dist, script),
    modulesRoot: dist,
    modulesRules: MODULE_RULES,
    r2Buckets: buckets,
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
  });
  try {
    const res = await mf.dispatchFetch("http://127.0.0.1/");
    const body = await res.arrayBuffer();
    assert.equal(res.status, 200, new TextDecoder().decode(body).slice(0, 500));
  } finally {
    await mf.dispose();
  }
}

async function inChromium(b) {
  const { build } = await import("esbuild");
  const src = fileOf(b, "page.mjs");
  writeFileSync(src, b.code);
  const bundled = fileOf(b, "page.js");
  // apache-arrow goes into the bundle; "anax" stays the package's browser entry, served
  // from the repository, so that its wasm and worker script load from beside it.
  await build({ entryPoints: [src], bundle: true, format: "esm", platform: "browser", external: ["anax"], outfile: bundled, absWorkingDir: root, logLevel: "silent" });
  // Beside the page, as an app that copies the package's asset subpaths has them.
  copyFileSync(path.join(root, "pkg/anax_bg.wasm"), path.join(out, "anax_bg.wasm"));
  copyFileSync(path.join(root, "pkg/anax.worker.js"), path.join(out, "anax.worker.js"));
  const html = fileOf(b, "html");
  const rel = (f) => `/${path.relative(root, f).split(path.sep).join("/")}`;
  writeFileSync(
    html,
    `<!doctype html><script type="importmap">{ "imports": { "anax": "/pkg/anax.browser.js" } }</script>
<script type="module">import(${JSON.stringify(rel(bundled))}).then(() => { window.__done = "ok"; }, (e) => { window.__done = String(e && e.stack || e); });</script>`,
  );
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${base}${rel(html)}`);
    await page.waitForFunction(() => window.__done, null, { timeout: 120_000, polling: 100 });
    const done = await page.evaluate(() => window.__done);
    assert.equal(done, "ok");
  } finally {
    await context.close();
  }
}

async function inS3(b, endpoint) {
  const bucket = b.code.match(/bucket: "([^"]+)"/)?.[1];
  assert.ok(bucket, "an S3 block names its bucket");
  // moto makes a bucket on an unsigned PUT; one that exists already answers 409 or 200.
  await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
  await inNode(b, b.code.replaceAll("http://127.0.0.1:9000", endpoint));
}

for (const b of all) {
  const endpoint = process.env.ANAX_TEST_S3_ENDPOINT;
  const skip = b.where === "s3" && !endpoint ? "needs an S3 endpoint (ANAX_TEST_S3_ENDPOINT; npm test starts moto)" : false;
  test(`doc block ${b.id} runs (${b.where})`, { skip }, async () => {
    if (b.where === "workerd") await inWorkerd(b);
    else if (b.where === "chromium") await inChromium(b);
    else if (b.where === "s3") await inS3(b, endpoint);
    else await inNode(b, b.code);
    ran.add(b.id);
  });
}

test("the docs hold JS blocks at all (the extraction matches the files)", () => {
  assert.ok(all.length >= 50, `${all.length} blocks`);
  assert.ok(all.some((b) => b.where === "workerd") && all.some((b) => b.where === "chromium"), "every placement has a block");
});
