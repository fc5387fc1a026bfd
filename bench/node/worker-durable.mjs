// What the Durable Object variant of the worker example changes, same run, same machine:
// one-row puts and point gets (JSON) against a table of `--rows` rows, through the stateless
// Worker (worker-example/src/index.js: a handle cached per isolate, revalidated per request)
// and through the table's Durable Object (src/durable.ts: the handle held by the table's only
// writer), both in workerd (Miniflare) on a local R2 bucket. Prints median and p99 latency and
// the storage requests per operation (the Worker's own `x-anax-requests` accounting). Local
// R2 answers in well under a millisecond, so latency here is the code's; on R2 each request
// that is not issued together with another costs a round trip.
// `node bench/node/worker-durable.mjs [--ops N] [--rows N]`; needs `bash scripts/build-wasm.sh`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { durableOptions, workerOptions, vars } from "../../worker-example/config.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const OPS = arg("--ops", 300);
const ROWS = arg("--rows", 10_000);
const TOKEN = "bench";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const dir = mkdtempSync(path.join(tmpdir(), "anax-durable-bench-"));

const variants = {
  stateless: new Miniflare(workerOptions({ bindings: { ...vars, ANAX_TOKEN: TOKEN }, r2Persist: path.join(dir, "a") })),
  "Durable Object": new Miniflare(durableOptions({ bindings: { ANAX_TOKEN: TOKEN }, r2Persist: path.join(dir, "b") })),
};

const put = (mf, rows) =>
  mf.dispatchFetch("http://localhost/tables/bench/rows", { method: "POST", headers: { ...AUTH, "content-type": "application/json" }, body: JSON.stringify(rows) });
const get = (mf, id) => mf.dispatchFetch(`http://localhost/tables/bench/rows/${id}`, { headers: { ...AUTH, accept: "application/json" } });
const key = (i) => `k${String(i).padStart(7, "0")}`;

function calls(res) {
  return res.headers
    .get("x-anax-requests")
    .split(",")
    .reduce((n, kv) => n + Number(kv.split("=")[1]), 0);
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const results = {};
try {
  for (const [name, mf] of Object.entries(variants)) {
    await mf.ready;
    for (let i = 0; i < ROWS; i += 5000) {
      const res = await put(mf, Array.from({ length: Math.min(5000, ROWS - i) }, (_, j) => ({ id: key(i + j), name: `row ${i + j}`, score: j })));
      if (res.status !== 200) throw new Error(`${name}: load answered ${res.status}: ${await res.text()}`);
    }
    await (await get(mf, key(0))).arrayBuffer();
    const r = { put: [], putCalls: 0, get: [], getCalls: 0 };
    for (let i = 0; i < OPS; i++) {
      let t = performance.now();
      const p = await put(mf, [{ id: `new${i}`, name: "fresh", score: i }]);
      await p.arrayBuffer();
      r.put.push(performance.now() - t);
      r.putCalls += calls(p);
      t = performance.now();
      const g = await get(mf, key((i * 7919) % ROWS));
      await g.arrayBuffer();
      if (g.status !== 200) throw new Error(`${name}: get answered ${g.status}`);
      r.get.push(performance.now() - t);
      r.getCalls += calls(g);
    }
    results[name] = r;
  }
} finally {
  await Promise.all(Object.values(variants).map((mf) => mf.dispose()));
  rmSync(dir, { recursive: true, force: true });
}

console.log(`Worker example: stateless Worker against one Durable Object per table, ${OPS} one-row puts and ${OPS} point gets each on a ${ROWS}-row table, workerd (Miniflare) on a local R2 bucket, same run:\n`);
console.log("| variant | put p50 (ms) | put p99 (ms) | storage requests per put | get p50 (ms) | get p99 (ms) | storage requests per get |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const [name, r] of Object.entries(results)) {
  console.log(
    `| ${name} | ${pct(r.put, 0.5).toFixed(2)} | ${pct(r.put, 0.99).toFixed(2)} | ${(r.putCalls / OPS).toFixed(2)} | ${pct(r.get, 0.5).toFixed(2)} | ${pct(r.get, 0.99).toFixed(2)} | ${(r.getCalls / OPS).toFixed(2)} |`,
  );
}
const [a, b] = Object.values(results);
console.log(`\nDurable Object / stateless: put p50 ${(pct(b.put, 0.5) / pct(a.put, 0.5)).toFixed(2)}x, get p50 ${(pct(b.get, 0.5) / pct(a.get, 0.5)).toFixed(2)}x, requests per get ${(b.getCalls / a.getCalls).toFixed(2)}x, per put ${(b.putCalls / a.putCalls).toFixed(2)}x`);
