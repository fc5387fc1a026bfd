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
// isolate, shared by the requests running at once, and revalidated with one manifest read per
// request. Every response says which storage requests its table's handle made while it ran in
// `x-anax-requests` (with other requests on the table running meanwhile, theirs too).
import { Anax, AnaxError } from "anax";
import { HttpError, SCHEMA, TABLE_NAME, admit, failure, limitsOf, requestsHeader, route, storageFor } from "./http.js";

// ---- the handle cache ----

// Requests on one table run at once on its handle: Anax polls each call's work in the context
// of the request that made it (the runtime cancels I/O started on behalf of a request that has
// ended), and a call waiting for work another request drives (its put joined that request's
// group commit) holds a timer, so the runtime does not take it for hung. An entry counts the
// requests using its handle; only an idle one is evicted.
//
// Open handles by table, least recently used first: { handle (a Promise of it), users,
// evicted }. Each holds the table's manifest, file metadata and caches, so an isolate serving
// many tables keeps at most ANAX_MAX_OPEN_TABLES of them.
const handles = new Map();

async function closeHandle(table, entry) {
  try {
    await (await entry.handle).close();
  } catch (err) {
    console.error(`anax worker: closing the handle of table '${table}' failed:`, err);
  }
}

// The table's entry, counted as in use until `release`.
async function acquire(env, table, limits) {
  const cached = handles.get(table);
  if (cached) {
    handles.delete(table);
    handles.set(table, cached);
    cached.users += 1;
    return cached;
  }
  // Eviction and insertion happen in one synchronous step, so concurrent requests can never
  // push the count past the cap between them.
  const closing = [];
  while (handles.size >= limits.ANAX_MAX_OPEN_TABLES) {
    let idle;
    for (const [name, entry] of handles) {
      if (entry.users === 0) {
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
    victim.evicted = true;
    closing.push(closeHandle(idle, victim));
  }
  // The old handles are closed before the new one opens, so the isolate never holds more.
  const entry = {
    handle: Promise.all(closing).then(() =>
      Anax.open({ schema: SCHEMA, key: "id", tableName: table, storage: storageFor(env, table) }),
    ),
    users: 1,
    evicted: false,
  };
  handles.set(table, entry);
  entry.handle.catch(() => {
    // let the next request try again
    if (handles.get(table) === entry) handles.delete(table);
  });
  return entry;
}

// Hands the handle back; a handle dropped from the cache meanwhile closes with its last user
// (the promise of that close, which the caller waits for).
function release(table, entry) {
  entry.users -= 1;
  if (entry.evicted && entry.users === 0) return closeHandle(table, entry);
  return undefined;
}

// A closed handle stays closed: drop it so the next request reopens the table.
function forget(table, entry) {
  if (handles.get(table) === entry) handles.delete(table);
  entry.evicted = true;
}

export default {
  async fetch(request, env, ctx) {
    let admitted;
    let limits;
    try {
      limits = limitsOf(env);
      admitted = await admit(request, env, limits);
    } catch (err) {
      return failure(err, request);
    }
    const { table } = admitted;
    let entry;
    let released = false;
    const done = () => {
      if (released || !entry) return undefined;
      released = true;
      return release(table, entry);
    };
    // A streamed scan takes over `done` and calls it when its stream ends.
    let handedOff = false;
    const handOff = () => {
      handedOff = true;
      return done;
    };
    const work = (async () => {
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
        entry = await acquire(env, table, limits);
        db = await entry.handle;
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
        if (entry && err instanceof AnaxError && err.code === "CLOSED") forget(table, entry);
        return res;
      } finally {
        if (!handedOff) await done();
      }
    })();
    // The runtime cancels what a request left running once its response is sent, or when its
    // client goes away; a put that other requests' puts joined is their commit too.
    ctx?.waitUntil?.(work.catch(() => {}));
    return work;
  },

  // Cron: compaction and GC, so writers never pay for them, and the only way they run. Tables
  // go one at a time, each on its cached handle, while requests go on using it.
  async scheduled(_event, env) {
    const limits = limitsOf(env);
    const names = (env.TABLES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const failed = [];
    for (const table of names) {
      try {
        if (!TABLE_NAME.test(table)) throw new Error("not a valid table name");
        const entry = await acquire(env, table, limits);
        try {
          const db = await entry.handle;
          await db.refresh();
          await db.compact();
          await db.gc();
        } finally {
          await release(table, entry);
        }
      } catch (err) {
        console.error(`anax worker: cron maintenance of table '${table}' failed:`, err);
        failed.push(table);
      }
    }
    // The other tables still got their turn; the run is reported as failed all the same.
    if (failed.length > 0) throw new Error(`cron maintenance failed for: ${failed.join(", ")}`);
  },
};
