// Miniflare options for the worker example, shared by the dev server and the tests, so that
// both run the Worker exactly as wrangler.toml describes it (modules, wasm as a module).
import { fileURLToPath } from "node:url";
import path from "node:path";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

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
    bindings: { TABLES: "demo" },
    ...extra,
  };
}
