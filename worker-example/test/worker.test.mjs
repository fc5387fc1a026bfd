// The worker example inside workerd (Miniflare 4), driven over HTTP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { tableFromIPC } from "apache-arrow";
import { workerOptions } from "../config.mjs";

const ARROW = "application/vnd.apache.arrow.stream";
let mf;

before(async () => {
  mf = new Miniflare(workerOptions());
  await mf.ready;
});
after(async () => {
  await mf?.dispose();
});

const request = (path, init) => mf.dispatchFetch(`http://localhost${path}`, init);

async function arrow(res) {
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("content-type"), ARROW);
  return tableFromIPC(new Uint8Array(await res.arrayBuffer()));
}

async function errorBody(res, status) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(typeof body.code, "string");
  assert.equal(typeof body.message, "string");
  return body;
}

test("PUT three rows, GET one back with every column, scan in key order", async () => {
  const rows = [
    { id: "k2", name: "Bo", score: 2.5 },
    { id: "k3", name: "Cy", score: null },
    { id: "k1", name: "Al", score: 1.25 },
  ];
  const put = await request("/rows", { method: "PUT", body: JSON.stringify(rows) });
  assert.equal(put.status, 200);
  assert.equal((await put.json()).rows, 3);

  const one = await arrow(await request("/rows/k2"));
  assert.equal(one.numRows, 1);
  assert.deepEqual(one.schema.fields.map((f) => f.name), ["id", "name", "score"]);
  assert.equal(one.getChild("id").get(0), "k2");
  assert.equal(one.getChild("name").get(0), "Bo");
  assert.equal(one.getChild("score").get(0), 2.5);

  const nullScore = await arrow(await request("/rows/k3"));
  assert.equal(nullScore.getChild("score").get(0), null);

  const all = await arrow(await request("/scan"));
  assert.deepEqual(all.getChild("id").toArray(), ["k1", "k2", "k3"]);
  assert.deepEqual(all.getChild("name").toArray(), ["Al", "Bo", "Cy"]);

  const ranged = await arrow(await request("/scan?start=k2&end=k3"));
  assert.deepEqual(ranged.getChild("id").toArray(), ["k2"]);
  const limited = await arrow(await request("/scan?limit=2&reverse=true"));
  assert.deepEqual(limited.getChild("id").toArray(), ["k3", "k2"]);
});

test("a missing row is a 404 with a code", async () => {
  const body = await errorBody(await request("/rows/absent"), 404);
  assert.equal(body.code, "NOT_FOUND");
});

test("bad requests get a 400 with a code, never a 500, and the worker keeps serving", async () => {
  const cases = [
    ["{ not json", "INVALID_ARGUMENT"],
    [JSON.stringify({ id: "x" }), "INVALID_ARGUMENT"],
    [JSON.stringify([{ name: "no key" }]), "KEY_NULL"],
    [JSON.stringify([{ id: "x", score: "high" }]), "TYPE_MISMATCH"],
    [JSON.stringify([{ id: "x", colour: "red" }]), "SCHEMA_MISMATCH"],
    [JSON.stringify(["row"]), "INVALID_ARGUMENT"],
  ];
  for (const [body, code] of cases) {
    const res = await request("/rows", { method: "PUT", body });
    const err = await errorBody(res, 400);
    assert.equal(err.code, code, body);
  }
  const badLimit = await errorBody(await request("/scan?limit=-3"), 400);
  assert.equal(badLimit.code, "INVALID_ARGUMENT");
  const badKey = await errorBody(await request("/rows/%E0%A4%A"), 400);
  assert.equal(badKey.code, "INVALID_ARGUMENT");

  const ok = await request("/rows", { method: "PUT", body: JSON.stringify([{ id: "after", name: "still up" }]) });
  assert.equal(ok.status, 200);
  const row = await arrow(await request("/rows/after"));
  assert.equal(row.getChild("name").get(0), "still up");
});
