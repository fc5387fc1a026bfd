// The worker example inside workerd (Miniflare 4), driven over HTTP: every route, durability
// across a runtime restart, two writers, bad requests, a streamed 100,000-row scan, and the
// subrequest budget, against the R2 binding and against S3 (moto on 127.0.0.1).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8, Float64 } from "apache-arrow";

// Plain (not dictionary-encoded) string columns.
const arrowTable = (ids, names, scores) =>
  new Table({ id: vectorFromArray(ids, new Utf8()), name: vectorFromArray(names, new Utf8()), score: vectorFromArray(scores, new Float64()) });
import { repoRoot, workerOptions } from "../config.mjs";
import { startMoto } from "../fixtures/moto.mjs";

const ARROW = "application/vnd.apache.arrow.stream";
let moto;
let endpoint;

before(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  const res = await fetch(`${endpoint}/anax-worker`, { method: "PUT" });
  assert.equal(res.status, 200);
});

after(() => moto?.stop());

/** Worker options for one storage variant; `persist` shares the local R2 bucket. */
function variant(kind, persist) {
  if (kind === "r2") return workerOptions({ r2Persist: persist });
  return workerOptions({
    r2Buckets: [],
    bindings: {
      TABLES: "demo",
      S3_BUCKET: "anax-worker",
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: "testing",
      S3_SECRET_ACCESS_KEY: "testing",
    },
  });
}

const budget = {};

/** Peak resident memory (VmHWM) of the largest workerd process, in MiB; null off Linux. */
function workerdPeakRssMiB() {
  let peak = null;
  let pids = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      if (!/^Name:\s+workerd/m.test(status)) continue;
      const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      peak = Math.max(peak ?? 0, kb / 1024);
    } catch {
      // the process ended
    }
  }
  return peak;
}

for (const kind of ["r2", "s3"]) {
  describe(`worker on ${kind}`, () => {
    const persist = mkdtempSync(path.join(tmpdir(), "anax-worker-"));
    const tableName = `t${Date.now() % 100000}${kind}`;
    let mf;
    const start = async () => {
      mf = new Miniflare(variant(kind, persist));
      await mf.ready;
    };
    const stop = async () => {
      await mf?.dispose();
      mf = undefined;
    };
    before(start);
    after(async () => {
      await stop();
      rmSync(persist, { recursive: true, force: true });
    });

    const req = (p, init) => mf.dispatchFetch(`http://localhost/tables/${tableName}${p}`, init);
    const requests = (res) =>
      Object.fromEntries(res.headers.get("x-anax-requests").split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
    const total = (r) => Object.values(r).reduce((a, b) => a + b, 0);
    const putJson = (rows) =>
      req("/rows", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rows) });
    async function arrow(res) {
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get("content-type"), ARROW);
      return tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    }

    test("every route: put (JSON and IPC), get, delete, scan (IPC and JSON), compact, stats", async () => {
      let res = await putJson([
        { id: "k2", name: "Bo", score: 2.5 },
        { id: "k3", name: "Cy", score: null },
        { id: "k1", name: "Al", score: 1.25 },
      ]);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).rows, 3);
      const ipc = tableToIPC(arrowTable(["k4"], ["Di"], [4]), "stream");
      res = await req("/rows", { method: "POST", headers: { "content-type": ARROW }, body: ipc });
      assert.equal(res.status, 200, await res.clone().text());

      const one = await arrow(await req("/rows/k2"));
      assert.equal(one.getChild("name").get(0), "Bo");
      res = await req("/rows/k3", { headers: { accept: "application/json" } });
      assert.deepEqual(await res.json(), { id: "k3", name: "Cy", score: null });

      res = await req("/rows/k4", { method: "DELETE" });
      assert.equal(res.status, 200);
      assert.equal((await req("/rows/k4")).status, 404);

      const all = await arrow(await req("/scan"));
      assert.deepEqual(all.getChild("id").toArray(), ["k1", "k2", "k3"]);
      const some = await arrow(await req("/scan?start=k2&limit=1&columns=id,score"));
      assert.deepEqual(some.schema.fields.map((f) => f.name), ["id", "score"]);
      assert.deepEqual(some.getChild("id").toArray(), ["k2"]);
      res = await req(`/scan?filter=${encodeURIComponent(JSON.stringify({ gt: ["score", 2] }))}`, {
        headers: { accept: "application/json" },
      });
      assert.deepEqual(await res.json(), [{ id: "k2", name: "Bo", score: 2.5 }]);
      res = await req("/scan?reverse=true", { headers: { accept: "application/json" } });
      assert.deepEqual((await res.json()).map((r) => r.id), ["k3", "k2", "k1"]);

      res = await req("/compact", { method: "POST" });
      assert.equal(res.status, 200, await res.clone().text());
      assert.ok((await res.json()).compacted.inputs >= 2);
      res = await req("/stats");
      const stats = await res.json();
      assert.equal(stats.levels.length, 1);
      assert.equal(stats.levels[0].level, 1);
      assert.ok(stats.requests.total > 0);
    });

    test("durable across a restart of the runtime", async () => {
      await stop();
      await start();
      const all = await arrow(await req("/scan"));
      assert.deepEqual(all.getChild("id").toArray(), ["k1", "k2", "k3"]);
    });

    test("ten kinds of bad request get a 4xx with a code, never a 500", async () => {
      const cases = [
        ["/rows", { method: "POST", body: "not json" }],
        ["/rows", { method: "POST", body: JSON.stringify({ id: "x" }) }],
        ["/rows", { method: "POST", body: JSON.stringify([{ name: "no key" }]) }],
        ["/rows", { method: "POST", body: JSON.stringify([{ id: "x", score: "high" }]) }],
        ["/rows", { method: "POST", body: JSON.stringify([{ id: "x", color: "red" }]) }],
        ["/rows", { method: "POST", headers: { "content-type": ARROW }, body: new Uint8Array([1, 2, 3]) }],
        ["/scan?limit=-3", {}],
        ["/scan?filter=%7Bnope", {}],
        ["/scan?columns=nope", {}],
        [`/scan?filter=${encodeURIComponent(JSON.stringify({ near: ["id", 1] }))}`, {}],
        ["/rows/nope", {}],
        ["/unknown-route", {}],
      ];
      for (const [p, init] of cases) {
        const res = await req(p, init);
        assert.ok(res.status >= 400 && res.status < 500, `${p}: ${res.status} ${await res.clone().text()}`);
        const body = await res.json();
        assert.equal(typeof body.code, "string", p);
        assert.equal(typeof body.message, "string", p);
      }
      const badTable = await mf.dispatchFetch("http://localhost/tables/no spaces!/scan");
      assert.equal(badTable.status, 400);
      assert.equal((await req("/rows/k1")).status, 200, "the worker keeps serving");
    });

    test("two writers on separate isolates lose nothing", async () => {
      // Two workers (two isolates) bound to the same bucket, 100 puts each, interleaved.
      const base = variant(kind, persist);
      const { scriptPath, modules, modulesRoot, modulesRules, compatibilityDate, bindings, r2Buckets } = base;
      const worker = (name) => ({ name, scriptPath, modules, modulesRoot, modulesRules, compatibilityDate, bindings, r2Buckets });
      await stop();
      const two = new Miniflare({ workers: [worker("a"), worker("b")], r2Persist: base.r2Persist });
      try {
        const a = await two.getWorker("a");
        const b = await two.getWorker("b");
        const put = (w, id) =>
          w.fetch(`http://localhost/tables/${tableName}/rows`, { method: "POST", body: JSON.stringify([{ id, name: id, score: 1 }]) });
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => [put(a, `a${String(i).padStart(3, "0")}`), put(b, `b${String(i).padStart(3, "0")}`)]).flat(),
        );
        const failed = results.filter((r) => r.status !== 200);
        assert.equal(failed.length, 0, await failed[0]?.text());
        const res = await a.fetch(`http://localhost/tables/${tableName}/scan?columns=id`, { headers: { accept: "application/json" } });
        const ids = new Set((await res.json()).map((r) => r.id));
        for (let i = 0; i < 100; i++) {
          assert.ok(ids.has(`a${String(i).padStart(3, "0")}`) && ids.has(`b${String(i).padStart(3, "0")}`), `row ${i} missing`);
        }
      } finally {
        await two.dispose();
        await start();
      }
    });

    test("subrequest budget: put <= 3, warm get <= 2, cold get <= 4, 10k-row scan <= 5", async () => {
      const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: `s${String(i).padStart(5, "0")}`, name: "n", score: i }));
      for (let i = 0; i < rows.length; i += 2_500) {
        const res = await putJson(rows.slice(i, i + 2_500));
        assert.equal(res.status, 200, await res.clone().text());
      }
      assert.equal((await req("/compact", { method: "POST" })).status, 200);
      await req("/rows/k1"); // warm the handle
      const put = requests(await putJson([{ id: "p1", name: "P", score: 1 }]));
      const getWarm = requests(await req("/rows/s00042"));
      await stop();
      await start();
      const coldRes = await req("/rows/s00043");
      assert.equal(coldRes.status, 200);
      const getCold = requests(coldRes);
      // A streamed scan keeps reading after its headers: measure it from the handle's counters
      // (the second /stats call adds its own one manifest read).
      const statsTotal = async () => (await (await req("/stats")).json()).requests.total;
      const t0 = await statsTotal();
      const scanRes = await req("/scan?start=s&end=t");
      const scanned = tableFromIPC(new Uint8Array(await scanRes.arrayBuffer()));
      assert.equal(scanned.numRows, 10_000);
      const scan = { all: (await statsTotal()) - t0 - 1 };
      budget[kind] = { put: total(put), get_warm: total(getWarm), get_cold: total(getCold), scan_10k: total(scan), detail: { put, getWarm, getCold, scan } };
      assert.ok(total(put) <= 3, JSON.stringify(put));
      assert.ok(total(getWarm) <= 2, JSON.stringify(getWarm));
      assert.ok(total(getCold) <= 4, JSON.stringify(getCold));
      assert.ok(total(scan) <= 5, JSON.stringify(scan));
    });

    test("the cron trigger compacts and collects the configured tables", async () => {
      const cron = "demo";
      const reqCron = (p, init) => mf.dispatchFetch(`http://localhost/tables/${cron}${p}`, init);
      for (let i = 0; i < 3; i++) {
        const res = await reqCron("/rows", { method: "POST", body: JSON.stringify([{ id: `c${i}`, name: "c", score: i }]) });
        assert.equal(res.status, 200, await res.clone().text());
      }
      let stats = await (await reqCron("/stats")).json();
      assert.ok(stats.levels.some((l) => l.level === 0 && l.files >= 3), JSON.stringify(stats.levels));
      const worker = await mf.getWorker();
      const outcome = await worker.scheduled({ cron: "*/15 * * * *" });
      assert.equal(outcome.outcome, "ok");
      stats = await (await reqCron("/stats")).json();
      assert.deepEqual(stats.levels.map((l) => [l.level, l.files]), [[1, 1]]);
    });

    test("a 100,000-row scan streams in bounded chunks", async () => {
      const big = `${tableName}big`;
      const reqBig = (p, init) => mf.dispatchFetch(`http://localhost/tables/${big}${p}`, init);
      for (let i = 0; i < 100_000; i += 10_000) {
        const ids = Array.from({ length: 10_000 }, (_, j) => `r${String(i + j).padStart(6, "0")}`);
        const t = arrowTable(ids, ids, ids.map((_, j) => i + j));
        const res = await reqBig("/rows", { method: "POST", headers: { "content-type": ARROW }, body: tableToIPC(t, "stream") });
        assert.equal(res.status, 200, await res.clone().text());
      }
      const res = await reqBig("/scan");
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      const chunks = [];
      let largest = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(value);
        largest = Math.max(largest, value.byteLength);
      }
      const peak = workerdPeakRssMiB();
      const bytes = Buffer.concat(chunks);
      const t = tableFromIPC(bytes);
      assert.equal(t.numRows, 100_000);
      assert.equal(t.getChild("id").get(99_999), "r099999");
      // The worker never holds more than one 8,192-row batch of the answer.
      assert.ok(chunks.length >= 12, `${chunks.length} chunks`);
      assert.ok(largest < 2 * 1024 * 1024, `largest chunk ${largest} bytes`);
      // Anax's memory in the isolate (the wasm linear memory's high-water mark, which
      // includes ingesting the 100,000 rows) stays far inside a Worker's 128 MB.
      const wasm = (await (await reqBig("/stats")).json()).wasmMemoryBytes / 2 ** 20;
      console.log(`wasm memory after ingest + 100,000-row scan: ${wasm.toFixed(1)} MiB; workerd process peak RSS (runtime + all isolates): ${peak?.toFixed(1)} MiB`);
      assert.ok(wasm < 64, `wasm memory ${wasm} MiB`);
    });
  });
}

after(() => {
  const out = path.join(repoRoot, "docs/bench/worker-requests.json");
  if (budget.r2) {
    const record = { ...budget.r2, detail: undefined, s3: budget.s3 ? { ...budget.s3, detail: undefined } : undefined };
    writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
    console.log("subrequests per request:", JSON.stringify(budget));
  }
});
