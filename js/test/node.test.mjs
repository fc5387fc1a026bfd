// The npm package's Node entry: the same API the browser and Workers entries expose.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8, Float64 } from "apache-arrow";
import { Anax, AnaxError } from "anax";

const schema = { id: "utf8", n: "int64", tag: { type: "utf8", nullable: true } };

test("open, put, get, scan, delete, close", async () => {
  const db = await Anax.open({ schema, key: "id" });
  await db.put([
    { id: "b", n: 2, tag: "x" },
    { id: "a", n: 1 },
    { id: "c", n: 3, tag: "z" },
  ]);
  const a = tableFromIPC(await db.get("a"));
  assert.equal(a.getChild("n").get(0), 1n);
  assert.equal(a.getChild("tag").get(0), null);
  assert.equal(await db.get("zz"), null);
  const scan = tableFromIPC(await db.scan({ start: "b", endInclusive: true, end: "c" }));
  assert.deepEqual(scan.getChild("id").toArray(), ["b", "c"]);
  await db.delete("b");
  const rest = tableFromIPC(await db.scan());
  assert.deepEqual(rest.getChild("id").toArray(), ["a", "c"]);
  await db.close();
  await assert.rejects(db.get("a"), (e) => e instanceof AnaxError && e.code === "CLOSED");
});

test("put accepts apache-arrow tableToIPC output", async () => {
  const db = await Anax.open({ schema: { id: "utf8", v: "float64" }, key: "id" });
  const source = new Table({
    id: vectorFromArray(["q", "p"], new Utf8()),
    v: vectorFromArray([1.5, 0.5], new Float64()),
  });
  await db.put(tableToIPC(source, "stream"));
  const all = tableFromIPC(await db.scan());
  assert.deepEqual(all.getChild("id").toArray(), ["p", "q"]);
  assert.deepEqual(Array.from(all.getChild("v").toArray()), [0.5, 1.5]);
});

test("errors are AnaxError with stable codes", async () => {
  await assert.rejects(Anax.open({ schema: { id: "utf8" } }), (e) => e instanceof AnaxError && e.code === "INVALID_ARGUMENT");
  const db = await Anax.open({ schema, key: "id" });
  await assert.rejects(db.put([{ n: 1 }]), (e) => e instanceof AnaxError && e.code === "KEY_NULL");
  await assert.rejects(db.put([{ id: "x", n: "one" }]), (e) => e.code === "TYPE_MISMATCH");
  await assert.rejects(db.put(new Uint8Array([9, 9, 9])), (e) => e.code === "INVALID_ARGUMENT");
  assert.ok(!(new Error("plain") instanceof AnaxError));
});

test("a storage failure names its call, object, HTTP status and whether a retry may pass, as fields", async () => {
  const { createServer } = await import("node:http");
  // An S3 endpoint that refuses every request, as a bucket with a wrong credential does.
  const server = createServer((req, res) => {
    res.writeHead(403, { "content-type": "application/xml" });
    res.end("<Error><Code>AccessDenied</Code><Message>no</Message></Error>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const storage = {
      kind: "s3",
      bucket: "refused",
      endpoint: `http://127.0.0.1:${server.address().port}`,
      region: "us-east-1",
      accessKeyId: "testing",
      secretAccessKey: "testing",
    };
    await assert.rejects(Anax.open({ schema, key: "id", storage }), (e) => {
      assert.ok(e instanceof AnaxError);
      assert.equal(e.code, "STORAGE", e.message);
      assert.equal(e.status, 403, e.message);
      assert.equal(e.retryable, false, e.message);
      assert.equal(e.backendCode, "AccessDenied", "S3's own code for the failure");
      assert.equal(typeof e.operation, "string", e.message);
      assert.ok(e.operation.length > 0 && typeof e.path === "string", `${e.operation} ${e.path}`);
      return true;
    });
  } finally {
    server.close();
  }
});

test("a bucket binding's exception is the STORAGE error's cause, its name the backendCode", async () => {
  const thrown = Object.assign(new Error("the binding is on fire"), { name: "R2Error" });
  const fail = async () => {
    throw thrown;
  };
  const bucket = { get: fail, put: fail, head: fail, list: fail, delete: fail };
  await assert.rejects(Anax.open({ schema, key: "id", storage: { kind: "bucket", bucket } }), (e) => {
    assert.ok(e instanceof AnaxError);
    assert.equal(e.code, "STORAGE", e.message);
    assert.equal(e.retryable, true, "a binding's exception may pass on a retry");
    assert.equal(e.backendCode, "R2Error");
    assert.equal(e.cause, thrown, "the very exception the binding threw");
    return true;
  });
});

test("a put and a get of one 16 MiB value leave a fresh instance's wasm memory under 64 MiB", async () => {
  // A fresh process: wasm memory never shrinks, so the figure is the peak of that instance
  // (issue 19's wasm_peak_mib_16mib_value, the same code path as the benchmark's).
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const script = fileURLToPath(new URL("../../bench/node/edge-node.mjs", import.meta.url));
  const child = spawnSync(process.execPath, [script, "--memory-only"], { encoding: "utf8" });
  assert.equal(child.status, 0, child.stderr);
  const mem = JSON.parse(child.stdout);
  const mib = (b) => b / 1048576;
  assert.ok(mem.valueBytes > 16 << 20, "the value is over 16 MiB of UTF-8");
  assert.ok(mib(mem.afterPut) <= 64, `after the put: ${mib(mem.afterPut).toFixed(1)} MiB`);
  assert.ok(mib(mem.afterGet) <= 64, `after the get: ${mib(mem.afterGet).toFixed(1)} MiB`);
});
