// The package as users get it: `npm pack` of this checkout (pkg/ built by the test script, as
// `prepack` builds it for `npm publish`), installed from the tarball into a fresh project, then
// imported by name in Node and, bundled the way wrangler bundles a Worker, in workerd.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dir = mkdtempSync(path.join(tmpdir(), "anax-pack-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

// What every user program below does: open, put, get, scan, close.
const program = (imports) => `${imports}
const db = await Anax.open({ schema: { id: "utf8", name: "utf8" }, key: "id" });
await db.put([{ id: "ü-🦀", name: "x".repeat(100) }, { id: "b", name: "y" }]);
const got = await db.get("ü-🦀");
const scanned = await db.scan({ limit: 10 });
const out = { db: db instanceof Db, got: got !== null && got.length > 0, scan: scanned.length > 0 };
await db.close();
`;

let installed;
let tarball;

test("npm pack ships the wasm, the glue, the types and the license, and no tests", () => {
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  assert.match(manifest.scripts.prepack ?? "", /build-wasm\.sh/, "prepack builds pkg/ before a pack or publish");
  assert.equal(manifest.exports["."].worker, undefined, "no `worker` condition (webpack web workers and Next.js edge builds set it)");
  const [info] = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], root));
  const files = info.files.map((f) => f.path);
  for (const need of ["package.json", "README.md", "LICENSE", "js/index.d.ts", "js/index.js", "js/node.js", "js/workerd.js", "pkg/anax.js", "pkg/anax.browser.js", "pkg/anax.worker.js", "pkg/anax_bg.wasm"]) {
    assert.ok(files.includes(need), `the tarball lacks ${need}: ${files.join(", ")}`);
  }
  assert.ok(!files.some((f) => f.startsWith("js/test/") || f.startsWith("src/")), files.join(", "));
  tarball = path.join(dir, info.filename);
  installed = path.join(dir, "app");
  mkdirSync(installed);
  writeFileSync(path.join(installed, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // No network: the package has no dependencies, so the tarball is all npm needs.
  npm(["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", path.join(dir, info.filename)], installed);
});

test("installed from the tarball, `import { Anax } from \"anax\"` works in Node and the asset subpaths resolve", () => {
  assert.ok(installed, "the pack test ran first");
  const script = `${program('import { Anax, Db } from "anax";')}
out.wasm = import.meta.resolve("anax/anax_bg.wasm").endsWith("/pkg/anax_bg.wasm");
out.worker = import.meta.resolve("anax/worker.js").endsWith("/pkg/anax.worker.js");
console.log(JSON.stringify(out));`;
  writeFileSync(path.join(installed, "main.mjs"), script);
  const out = execFileSync(process.execPath, ["main.mjs"], { cwd: installed, encoding: "utf8", timeout: 60_000 });
  assert.deepEqual(JSON.parse(out), { db: true, got: true, scan: true, wasm: true, worker: true });
});

test("installed from the tarball and bundled as wrangler does (workerd condition, wasm as a module), it runs in workerd", async () => {
  assert.ok(installed, "the pack test ran first");
  const { build } = await import("esbuild");
  const { Miniflare } = await import("miniflare");
  const src = path.join(installed, "worker.mjs");
  writeFileSync(
    src,
    `import { Anax, Db } from "anax";
export default {
  async fetch() {
${program("")}
    return Response.json(out);
  },
};`,
  );
  const outdir = path.join(installed, "dist");
  const { WRANGLER_BUNDLE, MODULE_RULES } = await import("../../worker-example/config.mjs");
  await build({
    ...WRANGLER_BUNDLE,
    entryPoints: [src],
    outdir,
    absWorkingDir: installed,
    logLevel: "silent",
  });
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: MODULE_RULES,
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
  });
  try {
    const res = await mf.dispatchFetch("http://127.0.0.1/");
    assert.deepEqual(await res.json(), { db: true, got: true, scan: true });
  } finally {
    await mf.dispose();
  }
});

test("publint and arethetypeswrong find nothing wrong with the tarball (ESM only: no CommonJS entry is offered)", () => {
  assert.ok(tarball, "the pack test ran first");
  const bin = (name) => path.join(root, "node_modules/.bin", name);
  // Both read the tarball packed above: packing again would run prepack (a wasm build).
  // A finding exits non-zero.
  execFileSync(bin("publint"), ["--strict", tarball], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  // The asset subpaths (the .wasm, the worker script) are files to place, not modules to type.
  execFileSync(bin("attw"), [tarball, "--profile", "esm-only", "--entrypoints", ".", "--format", "ascii"], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
});
