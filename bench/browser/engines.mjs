// One adapter per engine (see workloads.mjs for the interface). Modules are loaded from
// node_modules as shipped, except apache-arrow and DuckDB's JS, which are bundled by run.mjs
// (they use bare imports) into /target/bench-browser/.
const SCHEMA = { id: "utf8", v: "int32", payload: "utf8" };

async function arrow() {
  return import("/target/bench-browser/arrow.mjs");
}

function anaxAdapter(openDb, storage) {
  let db;
  let tableFromIPC;
  return {
    async open() {
      db = await openDb({ schema: SCHEMA, key: "id", storage, tableName: "bench" });
    },
    // The harness's Arrow decoder, loaded after the first query (not part of init), and used
    // once, as DuckDB's adapter has used its own decoder by then (its first query returns a
    // Table): B3 then times the scan, not the decoder's first-call compilation (~4 ms).
    async afterInit() {
      ({ tableFromIPC } = await arrow());
      tableFromIPC(await db.scan({ limit: 1 }));
    },
    first: () => db.get("0000000000000000"),
    insertBatch: (rows) => db.put(rows),
    get: (id) => db.get(id),
    // "To Arrow": the IPC stream decoded into an apache-arrow Table.
    scanAll: async () => tableFromIPC(await db.scan()).numRows,
    range: async (lo, hi) => tableFromIPC(await db.scan({ start: lo, end: hi })).numRows,
    putOne: (row) => db.put([row]),
    close: () => db.close(),
  };
}

/** The adapter for `engine`, with `loadStarted` = when its first module import began. */
export async function create(engine) {
  const loadStarted = performance.now();
  const adapter = await load(engine);
  adapter.loadStarted = loadStarted;
  return adapter;
}

async function load(engine) {
  switch (engine) {
    case "anax-opfs":
    case "anax-memory": {
      const { Anax } = await import("/pkg/anax.browser.js");
      const storage = engine === "anax-opfs" ? { kind: "opfs", path: `bench-${Date.now()}` } : { kind: "memory" };
      return anaxAdapter((o) => Anax.open(o), storage);
    }
    case "anax-openInWorker": {
      const { Anax } = await import("/pkg/anax.browser.js");
      return anaxAdapter((o) => Anax.openInWorker(o), { kind: "opfs", path: `bench-${Date.now()}` });
    }
    case "sqlite-opfs-sahpool":
      return sqliteAdapter();
    case "dexie":
      return dexieAdapter();
    case "duckdb":
      return duckdbAdapter();
    default:
      throw new Error(`unknown engine ${engine}`);
  }
}

function sqliteAdapter() {
  let db;
  let ins;
  let sel;
  return {
    async open() {
      const { default: init } = await import("/node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs");
      const sqlite3 = await init();
      const pool = await sqlite3.installOpfsSAHPoolVfs({ clearOnInit: true, directory: ".bench-sahpool" });
      db = new pool.OpfsSAHPoolDb("/bench.sqlite3");
      // Tuned for one connection on OPFS: keep the lock (otherwise every statement re-reads the
      // header: 0.45 ms per point get here), WAL without shared memory (exclusive mode), a
      // 64 MiB page cache; synchronous=FULL keeps every commit durable. Measured alternatives
      // at 30,000 rows: journal DELETE or TRUNCATE give the same B1, worse B5.
      db.exec(`PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;`);
      db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER, payload TEXT)");
      ins = db.prepare("INSERT OR REPLACE INTO t (id, v, payload) VALUES (?, ?, ?)");
      sel = db.prepare("SELECT id, v, payload FROM t WHERE id = ?");
    },
    async first() {
      sel.bind(["0000000000000000"]).step();
      sel.reset();
    },
    async insertBatch(rows) {
      db.exec("BEGIN");
      for (const r of rows) ins.bind([r.id, r.v, r.payload]).stepReset();
      db.exec("COMMIT");
    },
    async get(id) {
      sel.bind([id]);
      const row = sel.step() ? sel.get({}) : null;
      sel.reset();
      return row;
    },
    scanAll: async () => db.selectObjects("SELECT id, v, payload FROM t").length,
    range: async (lo, hi) => db.selectObjects("SELECT id, v, payload FROM t WHERE id >= ? AND id < ?", [lo, hi]).length,
    async putOne(r) {
      ins.bind([r.id, r.v, r.payload]).stepReset();
    },
    async close() {
      ins.finalize();
      sel.finalize();
      db.close();
    },
  };
}

function dexieAdapter() {
  let db;
  return {
    async open() {
      const { default: Dexie } = await import("/node_modules/dexie/dist/dexie.mjs");
      db = new Dexie(`bench-${Date.now()}`);
      db.version(1).stores({ t: "id" });
      await db.open();
    },
    first: () => db.t.get("0000000000000000"),
    insertBatch: (rows) => db.t.bulkPut(rows),
    get: (id) => db.t.get(id),
    scanAll: async () => (await db.t.toArray()).length,
    range: async (lo, hi) => (await db.t.where("id").between(lo, hi, true, false).toArray()).length,
    putOne: (row) => db.t.put(row),
    close: async () => db.close(),
  };
}

function duckdbAdapter() {
  let db;
  let conn;
  let sel;
  let rng;
  let ins;
  let arrowMod;
  return {
    async open() {
      const duckdb = await import("/target/bench-browser/duckdb.mjs");
      arrowMod = duckdb;
      const base = "/node_modules/@duckdb/duckdb-wasm/dist";
      const worker = new Worker(`${base}/duckdb-browser-eh.worker.js`);
      db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
      await db.instantiate(`${base}/duckdb-eh.wasm`);
      conn = await db.connect();
      await conn.query("CREATE TABLE t (id VARCHAR PRIMARY KEY, v INTEGER, payload VARCHAR)");
      sel = await conn.prepare("SELECT * FROM t WHERE id = ?");
      rng = await conn.prepare("SELECT * FROM t WHERE id >= ? AND id < ?");
      ins = await conn.prepare("INSERT INTO t VALUES (?, ?, ?)");
    },
    first: async () => (await sel.query("0000000000000000")).numRows,
    count: async () => Number((await conn.query("SELECT count(*) AS n FROM t")).getChild("n").get(0)),
    async insertBatch(rows) {
      // Plain Utf8 columns (tableFromArrays would dictionary-encode the strings).
      const { Table, vectorFromArray, Utf8, Int32 } = arrowMod;
      const table = new Table({
        id: vectorFromArray(rows.map((r) => r.id), new Utf8()),
        v: vectorFromArray(Int32Array.from(rows, (r) => r.v), new Int32()),
        payload: vectorFromArray(rows.map((r) => r.payload), new Utf8()),
      });
      // As IPC: DuckDB's own apache-arrow (17) cannot serialize a Table made by this one (21).
      await conn.insertArrowFromIPCStream(arrowMod.tableToIPC(table, "stream"), { name: "t", create: false });
    },
    get: async (id) => (await sel.query(id)).numRows > 0,
    scanAll: async () => (await conn.query("SELECT * FROM t")).numRows,
    range: async (lo, hi) => (await rng.query(lo, hi)).numRows,
    putOne: (r) => ins.query(r.id, r.v, r.payload),
    async close() {
      await conn.close();
      await db.terminate();
    },
  };
}

/** The raw OPFS floor (dedicated worker only): 64 MiB in 1 MiB chunks + flush, and 4 KiB write+flush latency. */
export async function rawOpfs(mib = 64) {
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle(`raw-${Date.now()}.bin`, { create: true });
  const h = await fh.createSyncAccessHandle();
  const chunk = new Uint8Array(1 << 20).fill(7);
  let t0 = performance.now();
  for (let i = 0; i < mib; i++) h.write(chunk, { at: i << 20 });
  h.flush();
  const write = mib / ((performance.now() - t0) / 1000);
  const small = new Uint8Array(4096).fill(3);
  const lat = [];
  for (let i = 0; i < 200; i++) {
    t0 = performance.now();
    h.write(small, { at: (mib << 20) + i * 4096 });
    h.flush();
    lat.push(performance.now() - t0);
  }
  h.close();
  lat.sort((a, b) => a - b);
  return { write_MiBps: { value: write, unit: "MiB/s" }, flush4k_p50: { value: lat[100], unit: "ms" } };
}
