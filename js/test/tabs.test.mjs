// Several pages (and a worker) of one origin on one OPFS table opened with
// durability "sealEveryBatch", in headless Chromium (the system /usr/bin/chromium through
// playwright-core): every page reads and writes it at once, a commit in one page reaches the
// others' reads without a refresh, and a page closed mid-write or reloaded loses no
// acknowledged row and leaves no lock behind.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { root } from "./bundle.mjs";
import { serveStatic } from "./serve.mjs";

let server;
let base;
let browser;
let context;

before(async () => {
  ({ server, base } = await serveStatic(root));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
  // Pages of one context share an origin's OPFS, as tabs of one profile do.
  context = await browser.newContext();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function tab() {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${base}/js/test/tabs/index.html`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

const call = (page, name, ...args) => page.evaluate(([n, a]) => window.tab[n](...a), [name, args]);
let unique = 0;
const tablePath = (what) => `anax-tabs-test/${what}-${Date.now()}-${unique++}`;
const longKey = (who, i) => `${who}-${String(i).padStart(4, "0")}-ключ-${"x".repeat(70)}`;

test("pages and a worker read and write one OPFS table at once; every commit reaches the others' reads", async () => {
  const path = tablePath("rw");
  const pages = [await tab(), await tab(), await tab()];
  await call(pages[0], "open", path);
  await call(pages[1], "open", path);
  await call(pages[2], "open", path, { worker: true });
  // Each page writes its own keys in batches and overwrites shared ones, all at once.
  const writers = pages.map((p, w) =>
    (async () => {
      for (let b = 0; b < 12; b++) {
        const rows = Array.from({ length: 5 }, (_, j) => ({ id: longKey(`p${w}`, b * 5 + j), n: b * 5 + j, payload: `page ${w} ✓ ${"v".repeat(200)}` }));
        rows.push({ id: `shared-${b % 3}`, n: w * 100 + b, payload: `from ${w}` });
        await call(p, "put", rows);
      }
    })(),
  );
  await Promise.all(writers);
  // A commit in page 0 is in page 1's and the worker's reads without a refresh or a strict read.
  for (let i = 0; i < 5; i++) {
    await call(pages[0], "put", [{ id: "probe", n: 1000 + i, payload: "probe" }]);
    for (const other of [pages[1], pages[2]]) {
      const ms = await call(other, "waitFor", "probe", 1000 + i, 10_000);
      assert.ok(ms >= 0, `page 0's commit ${i} never reached another page's reads`);
    }
  }
  // Every page reads every acknowledged row once.
  for (const p of pages) {
    const rows = await call(p, "rows");
    const ids = rows.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "a key read twice");
    for (let w = 0; w < 3; w++) {
      for (let i = 0; i < 60; i++) assert.ok(ids.includes(longKey(`p${w}`, i)), `row ${w}/${i} missing`);
    }
    assert.equal(rows.length, 3 * 60 + 3 + 1);
    // Overwrites from different pages: each shared key holds one page's last write for it.
    for (let s = 0; s < 3; s++) {
      const r = rows.find((x) => x.id === `shared-${s}`);
      const b = 9 + s;
      assert.ok([b, 100 + b, 200 + b].includes(r.n), `shared-${s} holds ${r.n}, no page's last write`);
    }
  }
  for (const p of pages) {
    await call(p, "close");
    await p.close();
  }
});

test("a page closed mid-write and a page reloaded mid-write lose no acknowledged row, and others keep writing", async () => {
  const path = tablePath("crash");
  const acked = [];
  const doomed = await tab();
  await doomed.exposeFunction("acked", (id) => acked.push(id));
  await call(doomed, "open", path);
  const survivor = await tab();
  await call(survivor, "open", path);
  // The doomed page writes until it is closed without unload handlers, mid-put.
  doomed.evaluate(() => window.tab.writeForever("doomed")).catch(() => {});
  while (acked.length < 20) await new Promise((r) => setTimeout(r, 10));
  await doomed.close({ runBeforeUnload: false });
  // A reloaded page: the new document opens the table while the old one's writes may still
  // be settling, and must not be refused.
  const reloaded = await tab();
  await reloaded.exposeFunction("acked", (id) => acked.push(id));
  await call(reloaded, "open", path);
  reloaded.evaluate(() => window.tab.writeForever("reloaded")).catch(() => {});
  const before = acked.length;
  while (acked.length < before + 10) await new Promise((r) => setTimeout(r, 10));
  await reloaded.reload();
  await reloaded.waitForFunction(() => window.ready === true);
  await call(reloaded, "open", path);
  await call(reloaded, "put", [{ id: "after-reload", n: 1, payload: "ok" }]);
  await call(survivor, "put", [{ id: "survivor", n: 2, payload: "ok" }]);
  const fresh = await tab();
  await call(fresh, "open", path);
  const ids = (await call(fresh, "rows")).map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length, "a key read twice");
  for (const id of [...acked, "after-reload", "survivor"]) assert.ok(ids.includes(id), `acknowledged row ${id} missing`);
  for (const p of [survivor, reloaded, fresh]) {
    await call(p, "close");
    await p.close();
  }
});

test("a handle with the write-ahead log and shared handles refuse each other at open, whichever comes first", async () => {
  const path = tablePath("modes");
  const [a, b] = [await tab(), await tab()];
  assert.equal(await call(a, "open", path), true);
  // A WAL handle would write rows the shared ones never see: refused while they are open.
  assert.equal(await call(b, "open", path, { wal: true }), "CONFLICT");
  await call(a, "put", [{ id: "shared-row", n: 1, payload: "ok" }]);
  await call(a, "close");
  // Once they are closed, the WAL handle opens, and then refuses shared ones.
  assert.equal(await call(b, "open", path, { wal: true }), true);
  assert.equal(await call(a, "open", path), "CONFLICT");
  assert.equal((await call(b, "get", "shared-row"))?.n, 1);
  await call(b, "close");
  for (const p of [a, b]) await p.close();
});
