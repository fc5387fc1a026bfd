// Workers cold start in workerd (Miniflare, local): the worker example as wrangler.toml
// describes it (modules, the .wasm as a compiled module) against a hello-world Worker in the
// same run. A cold start is a new workerd process loading the script (module evaluation,
// which compiles and instantiates Anax's wasm) until it is ready, plus the first request
// (the example opens its table on the R2 bucket and answers a point get). The Anax figure
// that matters is the difference: what the script adds to a Worker that does nothing.
// `node bench/node/workers-cold-start.mjs [--runs N] [--json docs/bench/package.json]`;
// needs `bash scripts/build-wasm.sh` first.
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { workerOptions } from "../../worker-example/config.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const runs = Number(arg("--runs", 7));
const json = arg("--json", null);

const scratch = mkdtempSync(path.join(tmpdir(), "anax-cold-"));
const hello = path.join(scratch, "hello.mjs");
writeFileSync(hello, 'export default { fetch() { return new Response("ok"); } };\n');

async function cold(options, url) {
  const t0 = performance.now();
  const mf = new Miniflare({ ...options, host: "127.0.0.1" });
  await mf.ready;
  const ready = performance.now() - t0;
  const res = await mf.dispatchFetch(url);
  await res.arrayBuffer();
  const total = performance.now() - t0;
  if (res.status >= 500) throw new Error(`cold request answered ${res.status}`);
  await mf.dispose();
  return { ready, total };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const anax = [];
const base = [];
for (let i = 0; i < runs + 1; i++) {
  // Alternated, so drift on the machine falls on both; the first pair warms the disk cache.
  const a = await cold(workerOptions({ bindings: { TABLES: "demo", ANAX_ALLOW_ANONYMOUS: "true" } }), "http://localhost/tables/demo/rows/missing");
  const b = await cold({ modules: true, scriptPath: hello, modulesRoot: scratch, compatibilityDate: "2025-09-01" }, "http://localhost/");
  if (i > 0) {
    anax.push(a);
    base.push(b);
  }
}
rmSync(scratch, { recursive: true, force: true });

const row = (name, xs) => `| ${name} | ${median(xs.map((x) => x.ready)).toFixed(1)} | ${median(xs.map((x) => x.total)).toFixed(1)} |`;
const added = median(anax.map((x) => x.total)) - median(base.map((x) => x.total));
const ratio = median(anax.map((x) => x.total)) / median(base.map((x) => x.total));
console.log(`Workers cold start in workerd (Miniflare on this machine), median of ${runs} runs each, alternated:\n`);
console.log("| worker | process ready (ms) | ready + first request (ms) |");
console.log("|---|---:|---:|");
console.log(row("hello world", base));
console.log(row("Anax worker example (first get opens the table on R2)", anax));
console.log(`\nAnax adds ${added.toFixed(1)} ms to a cold start (${ratio.toFixed(2)}x a hello-world Worker's).`);

if (json) {
  const doc = existsSync(json) ? JSON.parse(readFileSync(json, "utf8")) : {};
  doc.workers_cold_start_ms = {
    value: Math.round(added * 10) / 10,
    unit: "ms a cold start of the worker example takes beyond a hello-world Worker's (workerd via Miniflare: process ready + first request, median)",
    anax_total_ms: Math.round(median(anax.map((x) => x.total)) * 10) / 10,
    hello_total_ms: Math.round(median(base.map((x) => x.total)) * 10) / 10,
    ratio: Math.round(ratio * 100) / 100,
    runs,
  };
  writeFileSync(json, `${JSON.stringify(doc, null, 2)}\n`);
}
