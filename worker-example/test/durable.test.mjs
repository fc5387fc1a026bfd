// The Durable Object variant (src/durable.ts, wrangler.durable.toml) in workerd: the same
// routes as the stateless Worker, every acknowledged write there after many clients wrote one
// table at once, and what keeping the handle in the table's object changes: a warm get reads
// no manifest (the stateless Worker reads it on every request), compared in the same run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { tableFromIPC } from "apache-arrow";
import { durableOptions, workerOptions, vars } from "../config.mjs";

const TOKEN = "durable-test-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const dir = mkdtempSync(path.join(tmpdir(), "anax-durable-"));
let durable;
let stateless;

before(async () => {
  durable = new Miniflare(durableOptions({ bindings: { ANAX_TOKEN: TOKEN }, r2Persist: path.join(dir, "r2-durable") }));
  stateless = new Miniflare(workerOptions({ bindings: { ...vars, ANAX_TOKEN: TOKEN }, r2Persist: path.join(dir, "r2-stateless") }));
  await Promise.all([durable.ready, stateless.ready]);
});

after(async () => {
  await Promise.all([durable?.dispose(), stateless?.dispose()]);
  rmSync(dir, { recursive: true, force: true });
});

const call = (mf, route, init = {}) => mf.dispatchFetch(`http://localhost${route}`, { ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });
const putJson = (mf, table, rows) => call(mf, `/tables/${table}/rows`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rows) });

/** The storage requests a response says it made: { get, put, list, delete, head }. */
function requests(res) {
  const header = res.headers.get("x-anax-requests");
  assert.ok(header, "x-anax-requests");
  return Object.fromEntries(header.split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
}

test("the Durable Object variant serves the stateless Worker's routes: put, get (JSON and Arrow), scan, delete, and refuses a request without the token", async () => {
  const res = await putJson(durable, "people", [{ id: "ü-🦀", name: "Al", score: 1.5 }, { id: "k".repeat(100), name: "Bo" }]);
  assert.equal(res.status, 200, await res.clone().text());
  const got = await call(durable, `/tables/people/rows/${encodeURIComponent("ü-🦀")}`, { headers: { accept: "application/json" } });
  assert.deepEqual(await got.json(), { id: "ü-🦀", name: "Al", score: 1.5 });
  const arrow = await call(durable, `/tables/people/rows/${"k".repeat(100)}`);
  assert.equal(tableFromIPC(new Uint8Array(await arrow.arrayBuffer())).get(0).toJSON().name, "Bo");
  const scan = await call(durable, "/tables/people/scan?limit=10");
  assert.equal(tableFromIPC(new Uint8Array(await scan.arrayBuffer())).numRows, 2);
  assert.equal((await call(durable, `/tables/people/rows/${encodeURIComponent("ü-🦀")}`, { method: "DELETE" })).status, 200);
  assert.equal((await call(durable, `/tables/people/rows/${encodeURIComponent("ü-🦀")}`)).status, 404);
  const anonymous = await durable.dispatchFetch("http://localhost/tables/people/rows/x");
  assert.equal(anonymous.status, 401);
  assert.equal((await call(durable, "/tables/no%20such/rows/x")).status, 400);
});

test("many clients writing one table at once through its object: every acknowledged row is there once", async () => {
  const writes = Array.from({ length: 40 }, (_, i) => putJson(durable, "crowd", [{ id: `w${String(i).padStart(3, "0")}`, name: "x".repeat(i), score: i }]));
  // Point gets in between, each answered from the object's current view (404 before its
  // row's put landed). (Streamed scans are read once the writes are done: under a loaded CI
  // machine, Miniflare once handed this test a concurrent streamed response whose body was
  // already disturbed, with no error in the Worker.)
  const reads = Array.from({ length: 20 }, (_, i) => call(durable, `/tables/crowd/rows/w${String(i * 2).padStart(3, "0")}`));
  const answers = await Promise.all([...writes, ...reads]);
  const statuses = await Promise.all(answers.map(async (r) => `${r.status} ${r.status >= 300 && r.status !== 404 ? await r.text() : ""}`.trim()));
  assert.deepEqual(statuses.slice(0, 40), Array(40).fill("200"), "every write acknowledged");
  assert.ok(statuses.slice(40).every((s) => s === "200" || s === "404"), statuses.slice(40).join(", "));
  const all = tableFromIPC(new Uint8Array(await (await call(durable, "/tables/crowd/scan?limit=1000")).arrayBuffer()));
  const ids = all.toArray().map((r) => r.id);
  assert.equal(ids.length, 40);
  assert.equal(new Set(ids).size, 40);
});

test("a warm get in the table's object reads no manifest, where the stateless Worker reads it on every request (same run)", async () => {
  for (const mf of [durable, stateless]) {
    assert.equal((await putJson(mf, "warm", [{ id: "a", name: "Al" }])).status, 200);
    await (await call(mf, "/tables/warm/rows/a")).arrayBuffer(); // opens the handle
  }
  const warm = async (mf) => {
    const res = await call(mf, "/tables/warm/rows/a");
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    return requests(res);
  };
  const inObject = await warm(durable);
  const statelessWarm = await warm(stateless);
  console.log(`warm get, storage requests: in the table's object ${JSON.stringify(inObject)}, stateless ${JSON.stringify(statelessWarm)}`);
  // Nothing: the put sealed the row into an SST whose footer the handle keeps, and the first
  // get left the row's block in the isolate's block cache.
  assert.deepEqual(inObject, { get: 0, put: 0, list: 0, delete: 0, head: 0 });
  // The stateless Worker's block is cached too: it reads only the manifest head it must check.
  assert.equal(statelessWarm.get, inObject.get + 1, JSON.stringify(statelessWarm));
});
