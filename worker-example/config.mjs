// Miniflare options for the worker example, shared by the dev server and the tests, so that
// both run the Worker exactly as wrangler.toml describes it (modules, wasm as a module).
import { fileURLToPath } from "node:url";
import path from "node:path";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// wrangler.toml's [vars]. Secrets (ANAX_TOKEN, S3 credentials) are never here: callers pass
// them as bindings, the way `wrangler secret put` provides them when deployed.
export const vars = { TABLES: "demo" };

export function workerOptions(extra = {}) {
  return {
    modules: true,
    scriptPath: path.join(repoRoot, "worker-example/src/index.js"),
    modulesRoot: repoRoot,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-09-01",
    // wrangler.toml's [[r2_buckets]] binding and [vars], simulated locally.
    r2Buckets: ["BUCKET"],
    bindings: { ...vars },
    ...extra,
  };
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
