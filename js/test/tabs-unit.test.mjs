// js/tabs.js on its own, in Node (which has BroadcastChannel): the notices between handles of
// one shared table, the refreshes reads wait for, and a dropped handle leaving its channel.
// The browser behaviour end to end is js/test/tabs.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterNotices, announcing, closing, share, shareName } from "../tabs.js";

setFlagsFromString("--expose-gc");
const gc = globalThis.gc ?? runInNewContext("gc");
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** A stand-in handle: counts refreshes (each taking `ms`), reads return the refresh count. */
function fakeHandle(ms = 0) {
  const h = { refreshes: 0, closed: false };
  h.refresh = async function () {
    await tick(ms);
    this.refreshes++;
  };
  h.put = announcing(async () => "put");
  h.get = afterNotices(function () {
    return this.refreshes;
  });
  h.close = closing(async function () {
    this.closed = true;
  });
  return h;
}

test("only OPFS tables opened with sealEveryBatch are shared, one channel per directory", () => {
  const opfs = (path, extra = {}) => ({ storage: { kind: "opfs", path }, durability: "sealEveryBatch", ...extra });
  assert.equal(shareName(opfs("/a/b/")), shareName(opfs("a//b")));
  assert.equal(shareName(opfs("a/b", { tableName: "t" })), shareName(opfs("a/b")));
  assert.equal(shareName({ storage: { kind: "opfs", path: "a" } }), null);
  assert.equal(shareName({ storage: { kind: "memory" }, durability: "sealEveryBatch" }), null);
});

test("a commit on one handle refreshes the others, and a read started after the notice waits for that refresh", async () => {
  const name = `anax-table:unit-${Date.now()}`;
  const [a, b] = [fakeHandle(), fakeHandle(200)];
  share(a, name, a.refresh);
  share(b, name, b.refresh);
  assert.equal(await a.put(), "put");
  await tick(50); // the notice crosses the event loop; b's refresh takes 200 ms
  assert.equal(await b.get(), 1, "the read waited for the refresh the notice started");
  assert.equal(a.refreshes, 0, "a handle does not hear its own notices");
  await a.close();
  await b.close();
  assert.ok(a.closed && b.closed);
});

test("under notices faster than a refresh, a read waits for at most two refreshes", async () => {
  const name = `anax-table:unit-busy-${Date.now()}`;
  const [a, b] = [fakeHandle(), fakeHandle(10)];
  share(a, name, a.refresh);
  share(b, name, b.refresh);
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await a.put();
      await tick(1);
    }
  })();
  await tick(15);
  const before = b.refreshes;
  const t0 = performance.now();
  await b.get();
  const waited = performance.now() - t0;
  assert.ok(b.refreshes - before <= 2, `the read waited for ${b.refreshes - before} refreshes`);
  assert.ok(waited < 200, `the read waited ${waited} ms`);
  writing = false;
  await writer;
  await a.close();
  await b.close();
});

test("a handle dropped without close() leaves the channel once it is collected", async () => {
  const name = `anax-table:unit-drop-${Date.now()}`;
  let refreshes = 0;
  (() => {
    const dropped = fakeHandle();
    share(dropped, name, async () => {
      refreshes++;
    });
  })();
  for (let i = 0; i < 10; i++) {
    gc();
    await tick(10);
  }
  const sender = new BroadcastChannel(name);
  sender.postMessage(0);
  await tick(30);
  sender.close();
  assert.equal(refreshes, 0, "a collected handle still refreshed on a notice");
});
