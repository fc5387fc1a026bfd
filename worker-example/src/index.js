// Anax worker example: an ES-module Cloudflare Worker serving tables stored in R2 (or S3).
//
//   POST   /tables/:t/rows        JSON array of rows, or an Arrow IPC stream
//                                 (content-type application/vnd.apache.arrow.stream)
//   GET    /tables/:t/rows/:key   the row: Arrow IPC, or JSON with `Accept: application/json`
//   DELETE /tables/:t/rows/:key
//   GET    /tables/:t/scan?start=&end=&limit=&columns=&filter=&reverse=
//                                 streamed Arrow IPC (or JSON); filter is JSON, e.g.
//                                 {"gt":["score",1]}
//   POST   /tables/:t/compact     merge the table's files, then collect garbage
//   GET    /tables/:t/stats
//
// Storage: the R2 binding BUCKET by default; S3 over fetch when the S3_BUCKET var is set (see
// README.md). Every put is durable in the bucket before it is acknowledged (one SST + one
// manifest write), so the next request sees it on any isolate. Open tables are cached per
// isolate and revalidated with one manifest read per request. Every response says which
// storage requests it made in `x-anax-requests`. A cron trigger runs compaction and GC.
import { Anax, AnaxError } from "../../js/workerd.js";

const ARROW = "application/vnd.apache.arrow.stream";
const SCHEMA = {
  id: "utf8",
  name: { type: "utf8", nullable: true },
  score: { type: "float64", nullable: true },
};
const TABLE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function storageFor(env, table) {
  const prefix = `tables/${table}`;
  if (env.S3_BUCKET) {
    return {
      kind: "s3",
      bucket: env.S3_BUCKET,
      prefix,
      endpoint: env.S3_ENDPOINT || undefined,
      region: env.S3_REGION || undefined,
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
      sessionToken: env.S3_SESSION_TOKEN || undefined,
    };
  }
  if (!env.BUCKET) throw new AnaxError("INVALID_ARGUMENT", "no storage: bind an R2 bucket as BUCKET or set S3_BUCKET");
  return { kind: "bucket", bucket: env.BUCKET, prefix };
}

// One request at a time per table and isolate. Workers run each request in its own context,
// and Rust futures woken by another request's code would do their storage I/O on that
// request's behalf (which the runtime cancels). Queuing at the JS level keeps every request's
// work in its own context; Anax's own group commit still batches within a request.
const queues = new Map();
async function exclusive(table, work) {
  const previous = queues.get(table) ?? Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = previous.then(() => mine);
  queues.set(table, tail);
  await previous;
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    release();
    if (queues.get(table) === tail) queues.delete(table);
  };
  // A streamed scan takes over `done` and calls it when its stream ends.
  let handedOff = false;
  try {
    return await work(() => {
      handedOff = true;
      return done;
    });
  } finally {
    if (!handedOff) done();
  }
}

// Module-level cache: one open handle per table for the isolate's lifetime.
const tables = new Map();
function open(env, table) {
  let db = tables.get(table);
  if (!db) {
    db = Anax.open({ schema: SCHEMA, key: "id", tableName: table, storage: storageFor(env, table) });
    db.catch(() => tables.delete(table)); // let the next request try again
    tables.set(table, db);
  }
  return db;
}

const STATUS = {
  INVALID_ARGUMENT: 400,
  SCHEMA_MISMATCH: 400,
  KEY_NULL: 400,
  TYPE_MISMATCH: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CORRUPT: 503,
  CLOSED: 503,
  STORAGE: 503,
};

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function failure(err) {
  if (err instanceof AnaxError) {
    const status = STATUS[err.code] ?? 500;
    const retry = status === 503 ? { "retry-after": "1" } : {};
    return json(status, { code: err.code, message: err.message }, retry);
  }
  return json(500, { code: "INTERNAL", message: String(err?.message ?? err) });
}

const bad = (message) => new AnaxError("INVALID_ARGUMENT", message);

function integerParam(params, name) {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw bad(`${name} must be a non-negative integer`);
  return n;
}

function scanOptions(params) {
  const opts = {};
  if (params.has("start")) opts.start = params.get("start");
  if (params.has("end")) opts.end = params.get("end");
  const limit = integerParam(params, "limit");
  if (limit !== undefined) opts.limit = limit;
  if (params.get("reverse") === "true") opts.reverse = true;
  if (params.has("columns")) opts.projection = params.get("columns").split(",").filter(Boolean);
  if (params.has("filter")) {
    try {
      opts.filter = JSON.parse(params.get("filter"));
    } catch (e) {
      throw bad(`filter is not valid JSON: ${e.message}`);
    }
  }
  return opts;
}

// Each chunk from scanBatches is a complete IPC stream; one response carries one stream: the
// first chunk's schema, every chunk's record batches, one end-of-stream marker.
function schemaLength(chunk) {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return 8 + view.getInt32(4, true);
}

// A response body pulled from a scan cursor: `read` fetches the next batch (null at the end),
// `chunk` turns a batch into bytes (or nothing), `end` gives the closing bytes. The table is
// handed back (`done`) exactly once, after the last read has settled.
function cursorStream(cursor, done, read, chunk, end) {
  let finished = false;
  let inFlight = Promise.resolve();
  const finish = () => {
    if (finished) return;
    finished = true;
    cursor.free?.();
    done();
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const next = read(cursor);
        inFlight = next.then(
          () => {},
          () => {},
        );
        const batch = await next;
        if (batch === null) {
          controller.enqueue(await end());
          controller.close();
          finish();
          return;
        }
        const bytes = chunk(batch);
        if (bytes) controller.enqueue(bytes);
      } catch (e) {
        controller.error(e);
        finish();
      }
    },
    async cancel() {
      // Let a read in progress end before the table is handed to the next request.
      await inFlight;
      finish();
    },
  });
}

async function ipcStream(db, opts, done) {
  // Created before responding, so a bad scan is a 4xx, not a broken 200.
  const cursor = await db.scanCursor(opts);
  let first = true;
  return cursorStream(
    cursor,
    done,
    (c) => c.next(),
    (value) => {
      const body = value.subarray(first ? 0 : schemaLength(value), value.byteLength - 8);
      first = false;
      return body;
    },
    // No rows at all: an empty table still has a schema.
    async () => (first ? db.scan({ ...opts, limit: 0 }) : new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])),
  );
}

// JSON has no BigInt: 64-bit integers beyond 2^53 travel as strings.
const toJson = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));

async function jsonStream(db, opts, done) {
  const cursor = await db.scanCursor(opts);
  let started = false;
  const enc = new TextEncoder();
  return cursorStream(
    cursor,
    done,
    (c) => c.nextRows(),
    (rows) => {
      const text = rows.map(toJson).join(",");
      if (!text) return null;
      const bytes = enc.encode((started ? "," : "[") + text);
      started = true;
      return bytes;
    },
    async () => enc.encode(started ? "]" : "[]"),
  );
}

function wantsJson(request) {
  return (request.headers.get("accept") ?? "").includes("application/json");
}

async function route(request, env, db, handOff) {
  const url = new URL(request.url);
  const [, , , what, key, extra] = url.pathname.split("/");
  const method = request.method;
  if (what === "rows" && key === undefined && method === "POST") {
    const type = request.headers.get("content-type") ?? "";
    let rows;
    if (type.includes(ARROW)) {
      rows = new Uint8Array(await request.arrayBuffer());
    } else {
      try {
        rows = JSON.parse(await request.text());
      } catch (e) {
        throw bad(`the body is not valid JSON: ${e.message}`);
      }
      if (!Array.isArray(rows)) throw bad("the body must be a JSON array of row objects or an Arrow IPC stream");
    }
    const committed = await db.put(rows);
    return json(200, { committed, rows: Array.isArray(rows) ? rows.length : undefined });
  }
  if (what === "rows" && key !== undefined && extra === undefined) {
    let id;
    try {
      id = decodeURIComponent(key);
    } catch {
      throw bad("the key in the path is not valid percent-encoding");
    }
    if (id === "") throw bad("the key is empty");
    if (method === "GET") {
      if (wantsJson(request)) {
        const cursor = await db.scanCursor({ start: id, end: id, endInclusive: true, limit: 1 });
        const rows = (await cursor.nextRows()) ?? [];
        cursor.free?.();
        if (rows.length === 0) throw new AnaxError("NOT_FOUND", `no row with key '${id}'`);
        return new Response(toJson(rows[0]), {
          headers: { "content-type": "application/json" },
        });
      }
      const row = await db.get(id);
      if (row === null) throw new AnaxError("NOT_FOUND", `no row with key '${id}'`);
      return new Response(row, { headers: { "content-type": ARROW } });
    }
    if (method === "DELETE") {
      const committed = await db.delete(id);
      return json(200, { committed });
    }
  }
  if (what === "scan" && key === undefined && method === "GET") {
    const opts = scanOptions(url.searchParams);
    // The table stays reserved for this request until its stream ends.
    const done = handOff();
    try {
      if (wantsJson(request)) {
        return new Response(await jsonStream(db, opts, done), { headers: { "content-type": "application/json" } });
      }
      return new Response(await ipcStream(db, opts, done), { headers: { "content-type": ARROW } });
    } catch (e) {
      done();
      throw e;
    }
  }
  if (what === "compact" && key === undefined && method === "POST") {
    const compacted = await db.compact();
    const collected = await db.gc();
    return json(200, { compacted, collected });
  }
  if (what === "stats" && key === undefined && method === "GET") {
    return json(200, db.stats());
  }
  return json(404, { code: "NOT_FOUND", message: `no route for ${method} ${url.pathname}` });
}

function requestsHeader(before, after) {
  const d = (k) => after[k] - (before?.[k] ?? 0);
  return `get=${d("get") + d("getRange")},put=${d("put") + d("putConditional")},list=${d("list")},delete=${d("delete")},head=${d("head")}`;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/");
    if (parts[1] !== "tables" || parts.length < 4) {
      return json(404, { code: "NOT_FOUND", message: "routes live under /tables/:table/..." });
    }
    const table = parts[2];
    if (!TABLE_NAME.test(table)) {
      return failure(bad("a table name is 1 to 64 letters, digits, '_' or '-'"));
    }
    return exclusive(table, async (handOff) => {
      let db;
      let before;
      try {
        const cached = tables.has(table);
        db = await open(env, table);
        before = cached ? db.stats().requests : undefined;
        // Revalidate: commits made through other isolates become visible (one manifest read).
        if (cached) await db.refresh();
        const res = await route(request, env, db, handOff);
        // For a streamed scan this counts the requests made before the first byte.
        try {
          res.headers.set("x-anax-requests", requestsHeader(before, db.stats().requests));
        } catch {
          // a closed handle has no stats; the response stands
        }
        return res;
      } catch (err) {
        const res = failure(err);
        if (db) {
          try {
            res.headers.set("x-anax-requests", requestsHeader(before, db.stats().requests));
          } catch {
            // the handle is unusable; the error already says why
          }
        }
        return res;
      }
    });
  },

  // Cron: compaction and GC, so writers never pay for them.
  async scheduled(_event, env, ctx) {
    const names = (env.TABLES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    for (const table of names) {
      ctx.waitUntil(
        exclusive(table, async () => {
          const db = await open(env, table);
          await db.refresh();
          await db.compact();
          await db.gc();
        }),
      );
    }
  },
};
