// Bundles the shared suite with apache-arrow inlined (browsers and workerd cannot resolve the
// bare "apache-arrow" import from node_modules), into target/js-test/suite.mjs.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const bundled = path.join(root, "target/js-test/suite.mjs");

export function bundleSuite() {
  execFileSync(
    path.join(root, "node_modules/.bin/esbuild"),
    ["js/test/suite.mjs", "--bundle", "--format=esm", "--platform=browser", "--log-level=warning", `--outfile=${bundled}`],
    { cwd: root, stdio: "inherit" },
  );
  return bundled;
}
