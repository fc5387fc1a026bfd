// Storage backends from inside workerd (Miniflare 4): the R2 binding and S3 against a moto
// server this test starts on 127.0.0.1 (from the repo's .venv, made by scripts/setup.sh).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { tableFromIPC } from "apache-arrow";
import { repoRoot, workerOptions } from "../../worker-example/config.mjs";
import { startMoto } from "../../worker-example/fixtures/moto.mjs";

const persist = mkdtempSync(path.join(tmpdir(), "anax-r2-"));
let moto;
let endpoint;

// moto refuses anonymous object requests but accepts any signature.
const AUTH = { authorization: "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00" };

async function newBucket(name) {
  const res = await fetch(`${endpoint}/${name}`, { method: "PUT", headers: AUTH });
  assert.equal(res.status, 200, await res.text());
  return {
    kind: "s3",
    bucket: name,
    prefix: "tables/t1",
    endpoint,
    region: "us-east-1",
    accessKeyId: "testing",
    secretAccessKey: "testing",
    sessionToken: "token",
  };
}

function worker() {
  return new Miniflare(
    workerOptions({
      scriptPath: path.join(repoRoot, "worker-example/fixtures/storage-worker.js"),
      r2Persist: persist,
    }),
  );
}

async function call(mf, route, body) {
  const res = await mf.dispatchFetch(`http://localhost${route}`, { method: "POST", body: JSON.stringify(body) });
  if (res.headers.get("content-type")?.includes("arrow")) return tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

before(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
});

after(() => {
  moto?.stop();
  rmSync(persist, { recursive: true, force: true });
});

test("the R2 binding passes the storage conformance suite in workerd", async () => {
  const mf = worker();
  try {
    const { passed } = await call(mf, "/check", { storage: { kind: "bucket", prefix: "conf" } });
    assert.equal(passed, 8);
  } finally {
    await mf.dispose();
  }
});

test("a point get on the R2 binding makes only the calls the handle counts: no head before a ranged get", async () => {
  const mf = worker();
  try {
    const out = await call(mf, "/calls", { storage: { kind: "bucket", prefix: "calls" } });
    assert.equal(out.found, true);
    // A fresh handle: one read of the (small) SST whole to open it, one ranged read of the
    // row's pages. The SST's size is in the manifest, so no `head` precedes either.
    assert.deepEqual(out.get, { get: 2, put: 0, list: 0, delete: 0, head: 0 }, JSON.stringify(out));
    assert.equal(out.getRequests, 2, JSON.stringify(out));
  } finally {
    await mf.dispose();
  }
});

test("get, scan and cursor freshness on the R2 binding: strict sees another handle's commits, the view waits for refresh", async () => {
  const mf = worker();
  try {
    const out = await call(mf, "/freshness", { storage: { kind: "bucket", prefix: "fresh" } });
    assert.deepEqual(out, {
      scanView: "empty",
      scanStrict: "rows",
      cursorView: "empty",
      cursorStrict: "rows",
      view: "absent",
      strict: "present",
      // Checked by the strict read just before: an hour of staleness allowed, no check made.
      recentEnough: "present",
      scanAfterDelete: "empty",
      strictAfterDelete: "absent",
      bad: ["INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT"],
      afterBad: "absent",
    });
  } finally {
    await mf.dispose();
  }
});

test("S3 (moto) passes the storage conformance suite from workerd", async () => {
  const mf = worker();
  try {
    const { passed } = await call(mf, "/check", { storage: await newBucket("conf-workerd") });
    assert.equal(passed, 8);
  } finally {
    await mf.dispose();
  }
});

for (const [name, storage] of [
  ["the R2 binding", async () => ({ kind: "bucket", prefix: "e2e" })],
  ["S3 (moto)", () => newBucket("e2e-workerd")],
]) {
  test(`a table on ${name} survives a restart of the runtime`, async () => {
    const s = await storage();
    const batches = [
      [{ id: "a", v: 1 }, { id: "b", v: 2 }],
      [{ id: "c", v: null }, { id: "a", v: 10 }],
    ];
    let mf = worker();
    try {
      await call(mf, "/put", { storage: s, batches });
    } finally {
      await mf.dispose();
    }
    mf = worker(); // a new runtime on the same persisted bucket
    try {
      const t = await call(mf, "/scan", { storage: s });
      assert.deepEqual(t.getChild("id").toArray(), ["a", "b", "c"]);
      const v = t.getChild("v");
      assert.deepEqual([0, 1, 2].map((i) => (v.get(i) === null ? null : Number(v.get(i)))), [10, 2, null]);
    } finally {
      await mf.dispose();
    }
  });
}
