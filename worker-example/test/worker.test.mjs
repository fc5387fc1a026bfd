// The worker example inside workerd (Miniflare 4), driven over HTTP: every route, durability
// across a runtime restart, two writers, bad requests, a streamed 100,000-row scan, and the
// subrequest budget, against the R2 binding and against S3 (moto on 127.0.0.1); then what
// keeps a deployment closed (bearer token, content types, caps, the bounded handle cache,
// maintenance only from the cron, no internal error text) and the README's curl lines
// against the dev server.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, request as httpRequest } from "node:http";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import { Miniflare } from "miniflare";
import { tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8, Float64 } from "apache-arrow";

// Plain (not dictionary-encoded) string columns.
const arrowTable = (ids, names, scores) =>
  new Table({ id: vectorFromArray(ids, new Utf8()), name: vectorFromArray(names, new Utf8()), score: vectorFromArray(scores, new Float64()) });
import { repoRoot, workerOptions, devOptions, vars } from "../config.mjs";
import { startMoto } from "../fixtures/moto.mjs";

const execFileAsync = promisify(execFile);

const ARROW = "application/vnd.apache.arrow.stream";
const JSON_TYPE = { "content-type": "application/json" };
// The ANAX_TOKEN secret, passed as a binding the way `wrangler secret put` provides it.
const TOKEN = `test-${randomUUID()}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** `init` with the bearer token added to its headers. */
const authed = (init = {}) => ({ ...init, headers: { ...AUTH, ...init.headers } });
let moto;
let endpoint;

before(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  const res = await fetch(`${endpoint}/anax-worker`, { method: "PUT" });
  assert.equal(res.status, 200);
});

after(() => moto?.stop());

/**
 * Worker options for one storage variant; `persist` shares the local R2 bucket, `table` is
 * added to the tables the cron compacts (compaction has no HTTP route).
 */
function variant(kind, persist, table) {
  const bindings = { ...vars, TABLES: `${vars.TABLES},${table}`, ANAX_TOKEN: TOKEN };
  if (kind === "r2") return workerOptions({ r2Persist: persist, bindings });
  return workerOptions({
    r2Buckets: [],
    bindings: {
      ...bindings,
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
      mf = new Miniflare(variant(kind, persist, tableName));
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

    const req = (p, init) => mf.dispatchFetch(`http://localhost/tables/${tableName}${p}`, authed(init));
    const cron = async () => {
      const outcome = await (await mf.getWorker()).scheduled({ cron: "*/15 * * * *" });
      assert.equal(outcome.outcome, "ok");
    };
    const requests = (res) =>
      Object.fromEntries(res.headers.get("x-anax-requests").split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
    const total = (r) => Object.values(r).reduce((a, b) => a + b, 0);
    const putJson = (rows) =>
      req("/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify(rows) });
    async function arrow(res) {
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get("content-type"), ARROW);
      return tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    }

    test("every route: put (JSON and IPC), get, delete, scan (IPC and JSON), stats; compaction by the cron", async () => {
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

      res = await req("/stats");
      assert.ok((await res.json()).levels.some((l) => l.level === 0 && l.files >= 2));
      await cron();
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
        ["/rows", { method: "POST", headers: JSON_TYPE, body: "not json" }],
        ["/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify({ id: "x" }) }],
        ["/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ name: "no key" }]) }],
        ["/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id: "x", score: "high" }]) }],
        ["/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id: "x", color: "red" }]) }],
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
      const badTable = await mf.dispatchFetch("http://localhost/tables/no spaces!/scan", authed());
      assert.equal(badTable.status, 400);
      assert.equal((await req("/rows/k1")).status, 200, "the worker keeps serving");
    });

    test("two writers on separate isolates lose nothing", async () => {
      // Two workers (two isolates) bound to the same bucket, 100 puts each, interleaved.
      const base = variant(kind, persist, tableName);
      const { scriptPath, modules, modulesRoot, modulesRules, compatibilityDate, bindings, r2Buckets } = base;
      const worker = (name) => ({ name, scriptPath, modules, modulesRoot, modulesRules, compatibilityDate, bindings, r2Buckets });
      await stop();
      const two = new Miniflare({ workers: [worker("a"), worker("b")], r2Persist: base.r2Persist });
      try {
        const a = await two.getWorker("a");
        const b = await two.getWorker("b");
        const put = (w, id) =>
          w.fetch(`http://localhost/tables/${tableName}/rows`, authed({ method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id, name: id, score: 1 }]) }));
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => [put(a, `a${String(i).padStart(3, "0")}`), put(b, `b${String(i).padStart(3, "0")}`)]).flat(),
        );
        const failed = results.filter((r) => r.status !== 200);
        assert.equal(failed.length, 0, await failed[0]?.text());
        const res = await a.fetch(`http://localhost/tables/${tableName}/scan?columns=id`, authed({ headers: { accept: "application/json" } }));
        const ids = new Set((await res.json()).map((r) => r.id));
        for (let i = 0; i < 100; i++) {
          assert.ok(ids.has(`a${String(i).padStart(3, "0")}`) && ids.has(`b${String(i).padStart(3, "0")}`), `row ${i} missing`);
        }
      } finally {
        await two.dispose();
        await start();
      }
    });

    test("one isolate serves a table's requests at once: 80 staggered puts and gets, none hung or cancelled, every row once", async () => {
      // Without per-call contexts, a put that joined another request's group commit did its
      // storage calls on that request's behalf, and workerd cancelled them when it ended.
      const id = (i) => `conc-${String(i).padStart(3, "0")}-${"ü".repeat(40)}`;
      assert.equal((await putJson([{ id: id(0), name: "first", score: 0 }])).status, 200);
      const later = (ms, f) => new Promise((r) => setTimeout(r, ms)).then(f);
      const calls = [];
      for (let i = 1; i <= 40; i++) {
        calls.push(later((i * 7) % 90, () => putJson([{ id: id(i), name: `n${i}`, score: i }])));
        calls.push(later((i * 11) % 90, () => req(`/rows/${encodeURIComponent(id(0))}`, { headers: { accept: "application/json" } })));
      }
      const results = await Promise.all(calls);
      for (const res of results) assert.equal(res.status, 200, await res.clone().text());
      for (const res of results.filter((_, i) => i % 2 === 1)) assert.equal((await res.json()).name, "first");
      const res = await req(`/scan?start=conc-&end=conc.&columns=id`, { headers: { accept: "application/json" } });
      const ids = (await res.json()).map((r) => r.id);
      assert.deepEqual(ids, Array.from({ length: 41 }, (_, i) => id(i)));
    });

    test("subrequest budget: put <= 3, warm get <= 2, cold get <= 4, 10k-row scan <= 5", async () => {
      const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: `s${String(i).padStart(5, "0")}`, name: "n", score: i }));
      for (let i = 0; i < rows.length; i += 2_500) {
        const res = await putJson(rows.slice(i, i + 2_500));
        assert.equal(res.status, 200, await res.clone().text());
      }
      await cron();
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
      const reqCron = (p, init) => mf.dispatchFetch(`http://localhost/tables/demo${p}`, authed(init));
      for (let i = 0; i < 3; i++) {
        const res = await reqCron("/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id: `c${i}`, name: "c", score: i }]) });
        assert.equal(res.status, 200, await res.clone().text());
      }
      let stats = await (await reqCron("/stats")).json();
      assert.ok(stats.levels.some((l) => l.level === 0 && l.files >= 3), JSON.stringify(stats.levels));
      await cron();
      stats = await (await reqCron("/stats")).json();
      assert.deepEqual(stats.levels.map((l) => [l.level, l.files]), [[1, 1]]);
    });

    test("a 100,000-row scan streams in bounded chunks", async () => {
      const big = `${tableName}big`;
      const reqBig = (p, init) => mf.dispatchFetch(`http://localhost/tables/${big}${p}`, authed(init));
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

/**
 * A worker on a fresh local R2 bucket with `bindings` on top of the vars; `out.text` collects
 * workerd's output. `call` goes through dispatchFetch, which always sends a body chunked (no
 * Content-Length); `declared` is a real request to its port that declares a Content-Length.
 */
async function isolatedWorker(bindings, extra = {}) {
  const persist = mkdtempSync(path.join(tmpdir(), "anax-worker-sec-"));
  const out = { text: "" };
  const mf = new Miniflare(
    workerOptions({
      r2Persist: persist,
      bindings: { ...vars, ...bindings },
      host: "127.0.0.1",
      port: 0,
      handleRuntimeStdio(stdout, stderr) {
        for (const stream of [stdout, stderr]) stream.on("data", (d) => (out.text += d));
      },
      ...extra,
    }),
  );
  const { origin } = await mf.ready;
  return {
    out,
    mf,
    call: (p, init = {}, at = "http://localhost") => mf.dispatchFetch(`${at}${p}`, init),
    declared: (p, headers, length) => declaredOnly(`${origin}${p}`, headers, length),
    dispose: async () => {
      await mf.dispose();
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

/** Asserts a refusal's status and `{ code, message }` body; returns the body and its text. */
/**
 * A POST that declares `length` body bytes but sends none until answered, then hangs up: the
 * worker must refuse it by Content-Length alone. (Sending a 16 MiB body that the worker rightly
 * never reads races its early answer against the connection's close: fetch then fails.)
 */
function declaredOnly(url, headers, length) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers: { ...headers, "content-length": String(length) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        req.destroy();
        resolve(new Response(text, { status: res.statusCode }));
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

async function refused(res, status, code) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const body = JSON.parse(text);
  assert.equal(body.code, code, text);
  assert.equal(typeof body.message, "string", text);
  return { body, text };
}

async function eventually(check, what, ms = 5000) {
  for (const deadline = Date.now() + ms; !check(); ) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request body without a Content-Length: `text` in `pieces` chunks. */
function chunked(text, pieces) {
  const bytes = new TextEncoder().encode(text);
  const size = Math.ceil(bytes.length / pieces);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

describe("worker: a deployment stays closed", () => {
  const CAPS = { ANAX_MAX_BODY_BYTES: "4096", ANAX_MAX_JSON_ROWS: "5", ANAX_MAX_SCAN_ROWS: "10", ANAX_MAX_OPEN_TABLES: "3" };
  let w;
  before(async () => {
    w = await isolatedWorker({ ANAX_TOKEN: TOKEN, ...CAPS });
  });
  after(() => w?.dispose());
  const call = (p, init) => w.call(p, authed(init));
  const put = (table, rows, headers = JSON_TYPE) => call(`/tables/${table}/rows`, { method: "POST", headers, body: JSON.stringify(rows) });
  const getJson = (table, key) => call(`/tables/${table}/rows/${key}`, { headers: { accept: "application/json" } });

  test("no token -> 401 with WWW-Authenticate: Bearer, on every route", async () => {
    const routes = [
      ["/tables/auth/rows", { method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id: "anon" }]) }],
      ["/tables/auth/rows/anon", {}],
      ["/tables/auth/rows/anon", { method: "DELETE" }],
      ["/tables/auth/scan", {}],
      ["/tables/auth/stats", {}],
      ["/tables/auth/compact", { method: "POST" }],
      ["/tables/no spaces!/scan", {}],
      ["/", {}],
    ];
    for (const [p, init] of routes) {
      const res = await w.call(p, init);
      await refused(res, 401, "UNAUTHENTICATED");
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b/, p);
      assert.equal(res.headers.get("x-anax-open-tables"), null, `${p} reached the table`);
    }
    await refused(await getJson("auth", "anon"), 404, "NOT_FOUND");
  });

  test("a wrong token -> 401", async () => {
    const lastChanged = `${TOKEN.slice(0, -1)}${TOKEN.endsWith("0") ? "1" : "0"}`;
    const wrong = [
      `Bearer ${lastChanged}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      "Bearer x",
      `Bearer ${TOKEN} ${TOKEN}`,
      `Basic ${Buffer.from(`anax:${TOKEN}`).toString("base64")}`,
      TOKEN,
      "Bearer",
    ];
    for (const authorization of wrong) {
      const res = await w.call("/tables/auth/rows", {
        method: "POST",
        headers: { ...JSON_TYPE, authorization },
        body: JSON.stringify([{ id: "wrong" }]),
      });
      await refused(res, 401, "UNAUTHENTICATED");
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b/, authorization);
    }
    await refused(await getJson("auth", "wrong"), 404, "NOT_FOUND");
  });

  test("the right token works (the scheme in any case)", async () => {
    let res = await w.call("/tables/auth/rows", {
      method: "POST",
      headers: { ...JSON_TYPE, authorization: `bearer ${TOKEN}` },
      body: JSON.stringify([{ id: "ok", name: "Ok" }]),
    });
    assert.equal(res.status, 200, await res.clone().text());
    res = await getJson("auth", "ok");
    assert.deepEqual(await res.json(), { id: "ok", name: "Ok", score: null });
  });

  test("no ANAX_TOKEN secret and no opt-out -> 503 on every route", async () => {
    const unconfigured = await isolatedWorker({});
    try {
      const routes = [
        ["/tables/x/stats", {}],
        ["/tables/x/rows", { method: "POST", headers: JSON_TYPE, body: "[]" }],
        ["/tables/x/scan", authed()],
        ["/", {}],
      ];
      for (const [p, init] of routes) {
        const { body } = await refused(await unconfigured.call(p, init), 503, "NOT_CONFIGURED");
        assert.match(body.message, /wrangler secret put ANAX_TOKEN/, p);
      }
    } finally {
      await unconfigured.dispose();
    }
  });

  test("the anonymous opt-out serves loopback host names only, and a token overrides it", async () => {
    const dev = await isolatedWorker({ ANAX_ALLOW_ANONYMOUS: "true" });
    try {
      for (const origin of ["http://localhost", "http://127.0.0.1:8787", "http://[::1]:8787"]) {
        const res = await dev.call("/tables/anon/stats", {}, origin);
        assert.equal(res.status, 200, `${origin}: ${await res.clone().text()}`);
      }
      for (const origin of ["https://anax-worker-example.someone.workers.dev", "http://192.168.1.10:8787"]) {
        const { body } = await refused(await dev.call("/tables/anon/stats", {}, origin), 503, "NOT_CONFIGURED");
        assert.match(body.message, /only to requests to localhost/, origin);
      }
    } finally {
      await dev.dispose();
    }
    const both = await isolatedWorker({ ANAX_ALLOW_ANONYMOUS: "true", ANAX_TOKEN: TOKEN });
    try {
      await refused(await both.call("/tables/anon/stats"), 401, "UNAUTHENTICATED");
      assert.equal((await both.call("/tables/anon/stats", authed())).status, 200);
    } finally {
      await both.dispose();
    }
  });

  test("text/plain, form and other content types -> 415, and nothing is written", async () => {
    const rows = JSON.stringify([{ id: "csrf", name: "x" }]);
    const form = new FormData();
    form.set("rows", rows);
    const uploads = [
      [{ "content-type": "text/plain" }, rows],
      [{ "content-type": "text/plain;charset=UTF-8" }, rows],
      [{ "content-type": "application/x-www-form-urlencoded" }, `rows=${encodeURIComponent(rows)}`],
      [{}, form],
      [{}, new TextEncoder().encode(rows)],
      [{ "content-type": "application/json-seq" }, rows],
      [{ "content-type": "application/vnd.apache.arrow.file" }, rows],
    ];
    for (const [headers, body] of uploads) {
      const res = await call("/tables/ct/rows", { method: "POST", headers, body });
      const { text } = await refused(res, 415, "UNSUPPORTED_MEDIA_TYPE");
      assert.match(res.headers.get("accept-post") ?? "", /application\/json/, text);
    }
    await refused(await getJson("ct", "csrf"), 404, "NOT_FOUND");
    const res = await put("ct", [{ id: "csrf" }], { "content-type": "Application/JSON; charset=utf-8" });
    assert.equal(res.status, 200, await res.clone().text());
  });

  test("a body over ANAX_MAX_BODY_BYTES -> 413, by Content-Length and while streaming", async () => {
    const big = JSON.stringify([{ id: "big", name: "x".repeat(5000) }]);
    const declared = await refused(await w.declared("/tables/size/rows", authed({ headers: JSON_TYPE }).headers, big.length), 413, "TOO_LARGE");
    assert.equal(declared.body.message, `the body's ${big.length} bytes exceed the 4096-byte limit`);
    // No Content-Length: the worker counts while reading (the message says which check fired).
    const streamed = await refused(
      await call("/tables/size/rows", { method: "POST", headers: JSON_TYPE, body: chunked(big, 5), duplex: "half" }),
      413,
      "TOO_LARGE",
    );
    assert.equal(streamed.body.message, "the body exceeds the 4096-byte limit");
    await refused(await getJson("size", "big"), 404, "NOT_FOUND");
    // Under the cap a chunked body is read whole.
    const small = JSON.stringify([
      { id: "s1", name: "a".repeat(1000) },
      { id: "s2", name: "b".repeat(1000) },
    ]);
    const res = await call("/tables/size/rows", { method: "POST", headers: JSON_TYPE, body: chunked(small, 4), duplex: "half" });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await res.json()).rows, 2);
    assert.equal((await (await getJson("size", "s2")).json()).name, "b".repeat(1000));
  });

  test("the default caps apply when no var sets them: 16 MiB bodies, 10,000 JSON rows", async () => {
    const plain = await isolatedWorker({ ANAX_TOKEN: TOKEN });
    try {
      const body = new Uint8Array(16 * 1024 * 1024 + 1);
      const declared = await refused(
        await plain.declared("/tables/d/rows", authed({ headers: { "content-type": ARROW } }).headers, body.length),
        413,
        "TOO_LARGE",
      );
      assert.equal(declared.body.message, "the body's 16777217 bytes exceed the 16777216-byte limit");
      const streamed = await refused(
        await plain.call("/tables/d/rows", authed({ method: "POST", headers: { "content-type": ARROW }, body })),
        413,
        "TOO_LARGE",
      );
      assert.equal(streamed.body.message, "the body exceeds the 16777216-byte limit");
      const rows = (n) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: `r${i}` })));
      const over = await refused(
        await plain.call("/tables/d/rows", authed({ method: "POST", headers: JSON_TYPE, body: rows(10_001) })),
        413,
        "TOO_LARGE",
      );
      assert.match(over.body.message, /at most 10000 rows/);
      const ok = await plain.call("/tables/d/rows", authed({ method: "POST", headers: JSON_TYPE, body: rows(10_000) }));
      assert.equal(ok.status, 200, await ok.clone().text());
    } finally {
      await plain.dispose();
    }
  });

  test("rows per JSON body and per scan are capped", async () => {
    const rows = (from, n) => Array.from({ length: n }, (_, i) => ({ id: `r${String(from + i).padStart(2, "0")}` }));
    const { body } = await refused(await put("caps", rows(0, 6)), 413, "TOO_LARGE");
    assert.match(body.message, /at most 5 rows/);
    await refused(await getJson("caps", "r00"), 404, "NOT_FOUND");
    for (let i = 0; i < 12; i += 4) {
      const res = await put("caps", rows(i, 4));
      assert.equal(res.status, 200, await res.clone().text());
    }
    await refused(await call("/tables/caps/scan?limit=11"), 400, "INVALID_ARGUMENT");
    let res = await call("/tables/caps/scan", { headers: { accept: "application/json" } });
    assert.equal(res.headers.get("x-anax-scan-limit"), "10");
    assert.equal((await res.json()).length, 10);
    res = await call("/tables/caps/scan");
    assert.equal(tableFromIPC(new Uint8Array(await res.arrayBuffer())).numRows, 10);
    res = await call("/tables/caps/scan?limit=3&start=r05", { headers: { accept: "application/json" } });
    assert.equal(res.headers.get("x-anax-scan-limit"), "3");
    assert.deepEqual((await res.json()).map((r) => r.id), ["r05", "r06", "r07"]);
  });

  test("bad table names -> 400 before any table is touched", async () => {
    for (const name of ["no%20spaces", "dot.name", "semi;colon", "t%C3%A5ble", "a".repeat(65), ""]) {
      const res = await call(`/tables/${name}/stats`);
      await refused(res, 400, "INVALID_ARGUMENT");
      assert.equal(res.headers.get("x-anax-open-tables"), null, name);
    }
    const res = await call(`/tables/${"A_b-9".padEnd(64, "z")}/stats`);
    assert.equal(res.status, 200, await res.clone().text());
  });

  test("maintenance over HTTP -> 403; only the cron compacts", async () => {
    for (let i = 0; i < 2; i++) assert.equal((await put("maint", [{ id: `m${i}` }])).status, 200);
    for (const [what, method] of [["compact", "POST"], ["compact", "GET"], ["gc", "POST"], ["compactPending", "POST"]]) {
      await refused(await call(`/tables/maint/${what}`, { method }), 403, "FORBIDDEN");
    }
    const levels = async () => (await (await call("/tables/maint/stats")).json()).levels.map((l) => [l.level, l.files]);
    assert.deepEqual(await levels(), [[0, 2]]);
  });

  test("the handle cache never holds more than ANAX_MAX_OPEN_TABLES (3) tables", async () => {
    const names = Array.from({ length: 7 }, (_, i) => `lru${i}`);
    let peak = 0;
    const seen = (res) => {
      const open = Number(res.headers.get("x-anax-open-tables"));
      assert.ok(open >= 1 && open <= 3, `x-anax-open-tables: ${res.headers.get("x-anax-open-tables")}`);
      peak = Math.max(peak, open);
    };
    for (const name of names) {
      const res = await put(name, [{ id: "k", name }]);
      assert.equal(res.status, 200, await res.clone().text());
      seen(res);
    }
    assert.equal(peak, 3);
    // Twice round: with 7 tables and room for 3, every read finds its table evicted and reopens it.
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        const res = await getJson(name, "k");
        seen(res);
        assert.deepEqual(await res.json(), { id: "k", name, score: null });
      }
    }
    // All at once: each request is served or told to retry, and the cap still holds.
    const results = await Promise.all(names.map((name) => getJson(name, "k")));
    const again = [];
    for (const [i, res] of results.entries()) {
      seen(res);
      if (res.status === 503) {
        await refused(res, 503, "BUSY");
        assert.equal(res.headers.get("retry-after"), "1");
        again.push(names[i]);
      } else {
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal((await res.json()).name, names[i]);
      }
    }
    assert.ok(again.length <= names.length - 3, `${again.length} refused`);
    for (const name of again) {
      const res = await getJson(name, "k");
      seen(res);
      assert.equal(res.status, 200, await res.clone().text());
    }
    // A reopened table takes writes, and they are durable.
    assert.equal((await put("lru0", [{ id: "k2", name: "again" }])).status, 200);
    for (const name of names.slice(1)) await getJson(name, "k");
    assert.equal((await (await getJson("lru0", "k2")).json()).name, "again");
  });

  test("internal and storage error text is not returned, only logged; client errors keep theirs", async () => {
    const client = await refused(await put("errs", [{ id: "x", score: "high" }]), 400, "TYPE_MISMATCH");
    assert.match(client.body.message, /score/);

    // INTERNAL: a deployment with no storage bound.
    const noStorage = await isolatedWorker({ ANAX_TOKEN: TOKEN }, { r2Buckets: [] });
    try {
      const { body, text } = await refused(await noStorage.call("/tables/x/stats", authed()), 500, "INTERNAL");
      assert.equal(body.message, "internal error");
      assert.doesNotMatch(text, /BUCKET|no storage/);
      await eventually(() => noStorage.out.text.includes("no storage: bind an R2 bucket"), "the logged cause");
    } finally {
      await noStorage.dispose();
    }

    // STORAGE: an S3 endpoint that refuses everything, naming itself in the error.
    const detail = `LeakyDetail${Date.now()}`;
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${detail}</Code><Message>private</Message></Error>`);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const s3 = await isolatedWorker(
      {
        ANAX_TOKEN: TOKEN,
        S3_BUCKET: "private-bucket-name",
        S3_ENDPOINT: `http://127.0.0.1:${server.address().port}`,
        S3_ACCESS_KEY_ID: "AKIDEXAMPLE",
        S3_SECRET_ACCESS_KEY: "secret",
      },
      { r2Buckets: [] },
    );
    try {
      const res = await s3.call("/tables/x/rows", authed({ method: "POST", headers: JSON_TYPE, body: JSON.stringify([{ id: "a" }]) }));
      const { body, text } = await refused(res, 503, "STORAGE");
      assert.equal(body.message, "the storage backend failed; retry later");
      assert.doesNotMatch(text, new RegExp(`${detail}|private-bucket-name|127\\.0\\.0\\.1|AKIDEXAMPLE`));
      // A 403 is not retryable (AnaxError.retryable === false): no Retry-After invites one.
      assert.equal(res.headers.get("retry-after"), null);
      await eventually(() => s3.out.text.includes(detail), "the logged cause");
    } finally {
      await s3.dispose();
      server.close();
    }
  });
});

describe("the dev server (npm start)", () => {
  test("the README's curl lines work without a token", async (t) => {
    try {
      await execFileAsync("curl", ["--version"]);
    } catch {
      t.skip("no curl");
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "anax-dev-"));
    // An empty environment: a developer's own ANAX_TOKEN would switch the opt-out off.
    const mf = new Miniflare(devOptions({ host: "127.0.0.1", port: 0, r2Persist: path.join(dir, "r2") }, {}));
    try {
      const { origin } = await mf.ready;
      const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
      const block = /With `npm start` running[^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
      assert.ok(block?.includes("curl"), "the README's curl block is not where this test looks");
      const script = block.replaceAll("http://127.0.0.1:8787", origin);
      assert.notEqual(script, block);
      const { stdout } = await execFileAsync("bash", ["-euo", "pipefail", "-c", script], { cwd: dir });
      assert.match(stdout, /"rows":3/);
      assert.match(stdout, /"name":"Bo"/);
      assert.match(stdout, /"code":"NOT_FOUND"/);
      const scan = tableFromIPC(readFileSync(path.join(dir, "scan.arrows")));
      assert.deepEqual(scan.getChild("id").toArray().slice(0, 2), ["a", "b"]);
      // The cron, which has no HTTP route of its own, runs by hand on the dev server.
      const res = await fetch(`${origin}/cdn-cgi/handler/scheduled`);
      assert.equal(await res.text(), "ok");
    } finally {
      await mf.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

after(() => {
  const out = path.join(repoRoot, "docs/bench/worker-requests.json");
  if (budget.r2) {
    const record = { ...budget.r2, detail: undefined, s3: budget.s3 ? { ...budget.s3, detail: undefined } : undefined };
    writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
    console.log("subrequests per request:", JSON.stringify(budget));
  }
});
