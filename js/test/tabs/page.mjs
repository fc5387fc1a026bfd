// One tab of js/test/tabs.test.mjs: opens the shared OPFS table (on this page's thread or
// through Anax.openInWorker) and lets the runner drive it through window.tab.
import { Anax } from "../../../pkg/anax.browser.js";

const schema = { id: "utf8", n: "int64", payload: "utf8" };
let db;

window.tab = {
  // Opens the table shared (or, with `wal`, with its write-ahead log): true, or the error's code.
  async open(path, { worker = false, wal = false } = {}) {
    const options = { schema, key: "id", storage: { kind: "opfs", path } };
    if (!wal) options.durability = "sealEveryBatch";
    try {
      db = worker ? await Anax.openInWorker(options) : await Anax.open(options);
      return true;
    } catch (e) {
      return e.code ?? String(e);
    }
  },
  async put(rows) {
    await db.put(rows);
    return rows.length;
  },
  async del(keys) {
    for (const k of keys) await db.delete(k);
    return keys.length;
  },
  async get(key) {
    const row = await db.getRow(key);
    return row ? { id: row.id, n: Number(row.n), payload: row.payload } : null;
  },
  // Polls until `key` reads as `n` (a notice refreshed this handle), up to `ms`: the time it
  // took, or -1.
  async waitFor(key, n, ms) {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      const row = await db.getRow(key);
      if (row && Number(row.n) === n) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 1));
    }
    return -1;
  },
  async rows() {
    const out = [];
    for await (const r of db.scanRows({})) out.push({ id: r.id, n: Number(r.n), payload: r.payload });
    return out;
  },
  // Puts one-row batches until the page goes away, telling the runner of each acknowledged
  // one (window.acked is bound by the runner).
  async writeForever(prefix) {
    for (let i = 0; ; i++) {
      const id = `${prefix}-${String(i).padStart(5, "0")}-ключ-${"k".repeat(70)}`;
      await db.put([{ id, n: i, payload: `${prefix} ${i} ✓` }]);
      await window.acked(id);
    }
  },
  async close() {
    await db?.close();
    db = undefined;
    return true;
  },
};
window.ready = true;
