// Anax worker example: an ES-module Cloudflare Worker serving tables stored in R2 (or S3).
//
//   POST   /tables/:t/rows        JSON array of rows (content-type application/json), or an
//                                 Arrow IPC stream (content-type application/vnd.apache.arrow.stream)
//   GET    /tables/:t/rows/:key   the row: Arrow IPC, or JSON with `Accept: application/json`
//   DELETE /tables/:t/rows/:key
//   GET    /tables/:t/scan?start=&end=&limit=&columns=&filter=&reverse=
//                                 streamed Arrow IPC (or JSON); filter is JSON, e.g.
//                                 {"gt":["score",1]}
//   GET    /tables/:t/stats
//
// Every request needs `Authorization: Bearer <token>`, the token being the ANAX_TOKEN secret.
// Without that secret the worker refuses everything (503), so a deploy that forgot it is closed,
// not open. Only `npm start` (worker-example/dev.mjs) sets ANAX_ALLOW_ANONYMOUS, and even then
// anonymous requests are served only on a loopback host name.
//
// Caps (vars; defaults in LIMITS): request body bytes, rows per JSON body, rows per scan, open
// table handles per isolate. Compaction and GC run only from the cron trigger: over HTTP they
// would let any caller make the worker rewrite a whole table.
//
// Storage: the R2 binding BUCKET by default; S3 over fetch when the S3_BUCKET var is set (see
// README.md). Every put is durable in the bucket before it is acknowledged (one SST + one
// manifest write), so the next request sees it on any isolate. Open tables are cached per
// isolate and revalidated with one manifest read per request. Every response says which
// storage requests it made in `x-anax-requests`.
import { Anax, AnaxError } from "anax";
import { HttpError, SCHEMA, TABLE_NAME, admit, failure, limitsOf, requestsHeader, route, storageFor } from "./http.js";

// ---- per-table queues and the handle cache ----

// One request at a time per table and isolate. Workers run each request in its own context,
// and Rust futures woken by another request's code would do their storage I/O on that
// request's behalf (which the runtime cancels). Queuing at the JS level keeps every request's
// work in its own context; Anax's own group commit still batches within a request.
// A table with an entry here is in use (running or waiting), which the handle cache relies on.
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

// Open handles by table (each a Promise of the handle), least recently used first. Each one
// holds the table's manifest, file metadata and caches, so an isolate serving many tables
// keeps at most ANAX_MAX_OPEN_TABLES of them.
const handles = new Map();

async function closeHandle(table, handle) {
  try {
    await (await handle).close();
  } catch (err) {
    console.error(`anax worker: closing the handle of table '${table}' failed:`, err);
  }
}

// Call only while holding the table (inside `exclusive(table, ...)`).
function open(env, table, limits) {
  const cached = handles.get(table);
  if (cached) {
    handles.delete(table);
    handles.set(table, cached);
    return cached;
  }
  // Eviction and insertion happen in one synchronous step, so concurrent requests can never
  // push the count past the cap between them.
  const closing = [];
  while (handles.size >= limits.ANAX_MAX_OPEN_TABLES) {
    let idle;
    for (const name of handles.keys()) {
      if (!queues.has(name)) {
        idle = name;
        break;
      }
    }
    if (idle === undefined) {
      throw new HttpError(503, "BUSY", `all ${limits.ANAX_MAX_OPEN_TABLES} open tables are in use; retry shortly`, {
        "retry-after": "1",
      });
    }
    const victim = handles.get(idle);
    handles.delete(idle);
    // Through the victim's queue: a request for it that arrives meanwhile waits for the close
    // and then opens a fresh handle, instead of using one being closed.
    closing.push(exclusive(idle, () => closeHandle(idle, victim)));
  }
  // The old handles are closed before the new one opens, so the isolate never holds more.
  const handle = Promise.all(closing).then(() =>
    Anax.open({ schema: SCHEMA, key: "id", tableName: table, storage: storageFor(env, table) }),
  );
  handles.set(table, handle);
  handle.catch(() => {
    // let the next request try again
    if (handles.get(table) === handle) handles.delete(table);
  });
  return handle;
}

// A closed handle stays closed: drop it so the next request reopens the table.
async function forget(table, handle) {
  if (handles.get(table) !== handle) return;
  handles.delete(table);
  await closeHandle(table, handle);
}

export default {
  async fetch(request, env) {
    let admitted;
    let limits;
    try {
      limits = limitsOf(env);
      admitted = await admit(request, env, limits);
    } catch (err) {
      return failure(err, request);
    }
    const { table } = admitted;
    return exclusive(table, async (handOff) => {
      let handle;
      let db;
      let before;
      const annotate = (res) => {
        res.headers.set("x-anax-open-tables", String(handles.size));
        if (!db) return res;
        try {
          res.headers.set("x-anax-requests", requestsHeader(before, db.stats().requests));
        } catch {
          // a closed handle has no stats; the response stands
        }
        return res;
      };
      try {
        const cached = handles.has(table);
        handle = open(env, table, limits);
        db = await handle;
        before = cached ? db.stats().requests : undefined;
        // Revalidate: commits made through other isolates become visible (one manifest read).
        // Gets and scans make that read themselves (strict freshness), issued together with
        // their first data reads instead of one round trip before them.
        const checksItself = admitted.op === "get" || admitted.op === "scan";
        if (cached && !checksItself) await db.refresh();
        admitted.freshness = cached ? "strict" : "view";
        // For a streamed scan this counts the requests made before the first byte.
        return annotate(await route(request, db, handOff, limits, admitted));
      } catch (err) {
        const res = annotate(failure(err, request));
        if (handle && err instanceof AnaxError && err.code === "CLOSED") await forget(table, handle);
        return res;
      }
    });
  },

  // Cron: compaction and GC, so writers never pay for them, and the only way they run. Tables
  // go one at a time: each holds its queue and a cached handle while it is compacted.
  async scheduled(_event, env) {
    const limits = limitsOf(env);
    const names = (env.TABLES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const failed = [];
    for (const table of names) {
      try {
        if (!TABLE_NAME.test(table)) throw new Error("not a valid table name");
        await exclusive(table, async () => {
          const db = await open(env, table, limits);
          await db.refresh();
          await db.compact();
          await db.gc();
        });
      } catch (err) {
        console.error(`anax worker: cron maintenance of table '${table}' failed:`, err);
        failed.push(table);
      }
    }
    // The other tables still got their turn; the run is reported as failed all the same.
    if (failed.length > 0) throw new Error(`cron maintenance failed for: ${failed.join(", ")}`);
  },
};
