// Miniflare options for the worker example, shared by the dev server, the tests and the
// benchmarks, all read from worker-example/wrangler.toml (the one source: main, compatibility
// date, R2 bucket bindings, vars), and the Worker bundled as wrangler bundles it (esbuild,
// the `workerd` export condition, the .wasm as a compiled module), so `import ... from "anax"`
// resolves as in a deployment.
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { buildSync } from "esbuild";
import { parse } from "smol-toml";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "..");
export const wrangler = parse(readFileSync(path.join(here, "wrangler.toml"), "utf8"));
/** The Durable Object variant's configuration (wrangler.durable.toml). */
export const durableWrangler = parse(readFileSync(path.join(here, "wrangler.durable.toml"), "utf8"));

// wrangler.toml's [vars]. Secrets (ANAX_TOKEN, S3 credentials) are never there: callers pass
// them as bindings, the way `wrangler secret put` provides them when deployed.
export const vars = { ...(wrangler.vars ?? {}) };

/** How wrangler bundles a Worker: esbuild with the `workerd` export condition, each .wasm
 * copied beside the bundle for the CompiledWasm rule below. */
export const WRANGLER_BUNDLE = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  loader: { ".wasm": "copy" },
};

/** Miniflare's module rules for such a bundle (wrangler.toml's [[rules]]). */
export const MODULE_RULES = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

const bundled = new Map();

/**
 * The Worker `main` bundled into .anax-dev/worker/ (once per process). In this repository
 * the example's `anax` dependency is the checkout itself (what `npm install` makes of its
 * `file:..` dependency); a copy of the directory gets the published package instead.
 */
export function bundle(main = wrangler.main) {
  if (bundled.has(main)) return bundled.get(main);
  const link = path.join(here, "node_modules", "anax");
  if (!existsSync(link)) {
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.relative(path.dirname(link), repoRoot), link, "dir");
  }
  const outdir = path.join(repoRoot, ".anax-dev", "worker");
  buildSync({
    ...WRANGLER_BUNDLE,
    entryPoints: [path.join(here, main)],
    outdir,
    absWorkingDir: here,
    logLevel: "warning",
  });
  const out = { outdir, script: path.join(outdir, `${path.basename(main, path.extname(main))}.js`) };
  bundled.set(main, out);
  return out;
}

/**
 * Miniflare options for one wrangler configuration: its Worker (bundled, or `scriptPath`
 * over the unbundled repository for a test fixture that imports js/workerd.js by path), the
 * wasm rule, the compatibility date, its R2 buckets, Durable Objects and vars.
 */
function optionsFor(config, extra) {
  const { outdir, script } = extra.scriptPath ? { outdir: repoRoot } : bundle(config.main);
  const objects = config.durable_objects?.bindings ?? [];
  return {
    modules: true,
    scriptPath: script,
    modulesRoot: outdir,
    modulesRules: MODULE_RULES,
    compatibilityDate: config.compatibility_date,
    r2Buckets: (config.r2_buckets ?? []).map((b) => b.binding),
    ...(objects.length > 0 ? { durableObjects: Object.fromEntries(objects.map((b) => [b.name, b.class_name])) } : {}),
    bindings: { ...(config.vars ?? {}) },
    ...extra,
  };
}

/** Miniflare options for the example as wrangler.toml describes it. */
export function workerOptions(extra = {}) {
  return optionsFor(wrangler, extra);
}

/**
 * Miniflare options for wrangler.toml's Worker with another entry module (`main`, relative to
 * this directory), bundled the same way: a benchmark's wrapper around the example.
 */
export function workerOptionsWithMain(main, extra = {}) {
  return optionsFor({ ...wrangler, main }, extra);
}

/** Miniflare options for the Durable Object variant as wrangler.durable.toml describes it. */
export function durableOptions(extra = {}) {
  return optionsFor(durableWrangler, extra);
}

// `npm start` only. The worker refuses every request when no ANAX_TOKEN secret is set; a
// local server without one opts out so the README's curl lines work without a token (and the
// worker honours that only for loopback host names). With ANAX_TOKEN set in the environment
// the dev server requires it like a deployment would. The cron handler can be triggered
// by hand: GET /cdn-cgi/handler/scheduled (answered by Miniflare, never by a deployment).
export function devOptions(extra = {}, environment = process.env) {
  const token = environment.ANAX_TOKEN;
  return workerOptions({
    bindings: token ? { ...vars, ANAX_TOKEN: token } : { ...vars, ANAX_ALLOW_ANONYMOUS: "true" },
    unsafeTriggerHandlers: true,
    ...extra,
  });
}
