// The worker example is a project of its own: its wrangler.toml is the one configuration (the
// local server, the tests and wrangler read it), the repository root's copy only re-points
// `main`, and the Worker imports the package by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";
import { repoRoot, wrangler, workerOptions } from "../config.mjs";

test("the root wrangler.toml is the example's, with main pointing into worker-example/", () => {
  const root = parse(readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8"));
  assert.equal(root.main, path.posix.join("worker-example", wrangler.main));
  const plain = (o) => JSON.parse(JSON.stringify(o));
  assert.deepEqual(plain({ ...root, main: wrangler.main }), plain(wrangler));
});

test("the local options come from wrangler.toml, and the Worker is bundled from `import ... from \"anax\"`", () => {
  const o = workerOptions();
  assert.equal(o.compatibilityDate, wrangler.compatibility_date);
  assert.deepEqual(o.r2Buckets, wrangler.r2_buckets.map((b) => b.binding));
  assert.deepEqual(o.bindings, { ...wrangler.vars });
  const src = readFileSync(path.join(repoRoot, "worker-example", wrangler.main), "utf8");
  assert.match(src, /from "anax";/);
  assert.doesNotMatch(src, /from "\.\.\//, "no reach into the repository by path");
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, "worker-example/package.json"), "utf8"));
  assert.ok(pkg.dependencies.anax, "the example depends on the package");
});
