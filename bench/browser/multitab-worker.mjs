// The worker of one multi-tab benchmark tab: the table, the rows (bench/browser/data.mjs, as
// B1 and B2 use them) and the timed loops run here, next to the wasm.
import { Anax } from "/pkg/anax.browser.js";
import { makeRows, prng } from "./data.mjs";

const SCHEMA = { id: "utf8", v: "int32", payload: "utf8" };
const BATCH = 1000;
let db;
let rows;
const now = () => performance.timeOrigin + performance.now();

const ops = {
  async open({ path, shared, n, cacheBytes }) {
    rows ??= makeRows(n);
    const options = { schema: SCHEMA, key: "id", storage: { kind: "opfs", path }, tableName: "bench" };
    if (shared) options.durability = "sealEveryBatch";
    if (cacheBytes !== undefined) options.blockCacheBytes = cacheBytes;
    db = await Anax.open(options);
  },
  // Rows [from, to) of the data set in BATCH-row puts: the wall-clock start and end.
  async insert({ from, to }) {
    const start = now();
    for (let i = from; i < to; i += BATCH) await db.put(rows.slice(i, Math.min(to, i + BATCH)));
    return { start, end: now() };
  },
  // Point gets of random existing rows for `ms`: gets per second.
  async gets({ ms, seed }) {
    const rnd = prng(seed);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      for (let k = 0; k < 64; k++) {
        const r = await db.get(rows[Math.floor(rnd() * rows.length)].id);
        if (r === null) throw new Error("a row of the data set is missing");
        n++;
      }
    }
    return n / ((performance.now() - t0) / 1000);
  },
  // What 200 gets cost this handle: storage requests, and where the rows sit.
  async diagnose() {
    const a = await db.stats();
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await db.get(rows[(i * 7919) % rows.length].id);
    const ms = (performance.now() - t0) / 200;
    const b = await db.stats();
    const per = {};
    for (const k of Object.keys(b.requests)) per[k] = (b.requests[k] - a.requests[k]) / 200;
    return { msPerGet: ms, requestsPerGet: per, levels: b.levels, ssts: b.ssts };
  },
  // Puts probe v: when the put resolved (ms since the epoch) and how long it took.
  async probe({ v }) {
    const t0 = performance.now();
    await db.put([{ id: "probe", v, payload: "probe" }]);
    return { at: now(), ms: performance.now() - t0 };
  },
  // Reads "probe" until it holds `v`: when it did (ms since the epoch, this machine's clock).
  async watchProbe({ v, ms }) {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      const r = await db.getRow("probe");
      if (r && r.v === v) return now();
      // A task boundary (not a clamped timer), so the notice can be delivered.
      await new Promise((res) => {
        const c = new MessageChannel();
        c.port1.onmessage = res;
        c.port2.postMessage(0);
      });
    }
    return -1;
  },
  async close() {
    await db?.close();
    db = undefined;
  },
};

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ id: data.id, ok: true, result: await ops[data.op](data.args) });
  } catch (e) {
    self.postMessage({ id: data.id, ok: false, error: e?.message ?? String(e) });
  }
};
