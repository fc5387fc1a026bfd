// Issue 19's isolate figure: 32 point gets from separate requests at once on one table in one
// workerd isolate, over the same 32 one after another, through the worker example itself (no
// per-table queue) on Miniflare's local R2 binding with `--rtt` ms added to every call
// (bench/node/isolate-worker.js). The requests come from a second Worker over a service
// binding, so each is its own request context in the example's isolate, as on Cloudflare, and
// Node's HTTP client is not what is measured. Median of `--runs` runs; any request that does
// not answer 200 with its row counts as failed (a cancelled or hung request among them).
// `node bench/node/isolate-concurrency.mjs [--rtt 20] [--rows 20000] [--runs 3] [--json FILE]`;
// needs `bash scripts/build-wasm.sh`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { vars, workerOptionsWithMain } from "../../worker-example/config.mjs";
import { writeFigures } from "./figures.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const RTT = Number(arg("--rtt", 20));
const ROWS = Number(arg("--rows", 20_000));
const RUNS = Number(arg("--runs", 3));
const N = 32;
const json = arg("--json", null);
// The local R2 simulator does its work in this process, on the cores the isolate uses;
// `--memory` puts an in-memory R2-shaped object in its place to show what that costs.
const MEMORY = argv.includes("--memory");
const TOKEN = "bench";
const dir = mkdtempSync(path.join(tmpdir(), "anax-isolate-bench-"));

// The driver: one request runs the whole measurement, each get being its own subrequest.
const driver = `
export default {
  async fetch(request, env) {
    const n = ${N};
    const rows = ${ROWS};
    const headers = { authorization: "Bearer ${TOKEN}", accept: "application/json" };
    const key = (i) => "k" + String(i).padStart(7, "0") + "-" + "\\u00e9".repeat(30);
    const failures = [];
    const get = async (i) => {
      const res = await env.TABLE.fetch("http://localhost/tables/iso/rows/" + encodeURIComponent(key(i)), { headers });
      const body = await res.text();
      if (res.status !== 200 || JSON.parse(body).score !== i) failures.push(res.status + " " + body.slice(0, 200));
    };
    const run = Number(new URL(request.url).searchParams.get("run"));
    await get(run);
    let t = Date.now();
    for (let i = 0; i < n; i++) await get((run * 7919 + i * 613) % rows);
    const seq = Date.now() - t;
    t = Date.now();
    await Promise.all(Array.from({ length: n }, (_, i) => get((run * 104729 + i * 389) % rows)));
    const conc = Date.now() - t;
    return Response.json({ seq, conc, failures });
  },
};`;

const table = workerOptionsWithMain("../bench/node/isolate-worker.js", {
  bindings: { ...vars, TABLES: "iso", ANAX_TOKEN: TOKEN, LATENCY_MS: String(RTT), ...(MEMORY ? { MEMORY_BUCKET: "1" } : {}) },
  r2Persist: path.join(dir, "r2"),
});
const mf = new Miniflare({
  workers: [
    { name: "driver", modules: true, script: driver, compatibilityDate: table.compatibilityDate, serviceBindings: { TABLE: "table" } },
    { name: "table", ...table },
  ],
});
const runs = [];
try {
  await mf.ready;
  const worker = await mf.getWorker("table");
  const key = (i) => `k${String(i).padStart(7, "0")}-${"é".repeat(30)}`;
  for (let i = 0; i < ROWS; i += 5_000) {
    const rows = Array.from({ length: Math.min(5_000, ROWS - i) }, (_, j) => ({ id: key(i + j), name: `row ${i + j} ${"x".repeat(80)}`, score: i + j }));
    const res = await worker.fetch("http://localhost/tables/iso/rows", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(rows),
    });
    if (res.status !== 200) throw new Error(`load answered ${res.status}: ${await res.text()}`);
  }
  const cron = await worker.scheduled({ cron: "*/15 * * * *" });
  if (cron.outcome !== "ok") throw new Error(`compaction by the cron: ${cron.outcome}`);
  for (let run = 0; run < RUNS; run++) {
    const r = await (await mf.dispatchFetch(`http://localhost/?run=${run}`)).json();
    runs.push(r);
    console.log(`run ${run + 1}: ${N} gets one at a time ${r.seq} ms, at once ${r.conc} ms, ratio ${(r.seq / r.conc).toFixed(2)}, failed ${r.failures.length}${r.failures.length ? `: ${r.failures[0]}` : ""}`);
  }
} finally {
  await mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = median(runs.map((r) => r.seq / r.conc));
const failed = runs.reduce((n, r) => n + r.failures.length, 0);
const seqMs = median(runs.map((r) => r.seq)) / N;
const concMs = median(runs.map((r) => r.conc));
console.log(`\n| figure | value | target |\n|---|---|---|`);
console.log(`| isolate_concurrency_ratio | ${ratio.toFixed(2)} | >= 16 |`);
console.log(`| isolate_failed_requests | ${failed} | 0 |`);
// The smoke run in `npm test` fails on a lost request; the ratio is a figure, not a test.
if (failed > 0) process.exitCode = 1;
console.log(`(one get alone ${seqMs.toFixed(1)} ms at ${RTT} ms per call; ${N} at once ${concMs} ms; ${ROWS} rows, compacted)`);

if (json) {
  const suffix = MEMORY ? "_memory_bucket" : "";
  const figures = [
    [`isolate_concurrency_ratio${suffix}`, ratio, MEMORY ? "(comparison: the local R2 simulator's work taken out)" : ">= 16", `${N} point gets from separate requests at once on one table in one workerd isolate over the same one after another (median of ${RUNS}), through the worker example on ${MEMORY ? "an in-memory R2-shaped object in the binding's place" : "Miniflare's local R2 binding"} with ${RTT} ms added to every call; one get alone ${seqMs.toFixed(1)} ms, ${N} at once ${concMs} ms`],
    [`isolate_failed_requests${suffix}`, failed, "0", `requests of those runs that did not answer 200 with their row (cancelled or hung ones included)`],
  ];
  writeFigures(json, figures, { rttMs: RTT, rows: ROWS });
}
