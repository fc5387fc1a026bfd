// The worker example's request handling, shared by the stateless Worker (index.js) and the
// Durable Object variant (durable.ts): authentication, limits, routes, bodies, responses and
// error mapping. Nothing here holds state across requests; the handles and queues of an
// isolate live in index.js, a table's handle in its Durable Object.
import { AnaxError } from "anax";

const ARROW = "application/vnd.apache.arrow.stream";
const JSON_TYPE = "application/json";
export const SCHEMA = {
  id: "utf8",
  name: { type: "utf8", nullable: true },
  score: { type: "float64", nullable: true },
};
export const TABLE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Maintenance paths get a 403 that says where maintenance runs, not a bare 404.
const MAINTENANCE = new Set(["compact", "gc", "compactPending"]);

const LIMITS = {
  ANAX_MAX_BODY_BYTES: 16 * 1024 * 1024,
  // A parsed JSON row costs far more isolate memory than its Arrow form; bulk loads go as IPC.
  ANAX_MAX_JSON_ROWS: 10_000,
  ANAX_MAX_SCAN_ROWS: 100_000,
  ANAX_MAX_OPEN_TABLES: 16,
};

/** A refusal decided by the worker itself (not by Anax), with its status and headers. */
export class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const bad = (message) => new AnaxError("INVALID_ARGUMENT", message);
const tooLarge = (message) => new HttpError(413, "TOO_LARGE", message);

// A malformed cap must not silently become "no cap": it fails every request (logged as
// INTERNAL) until it is fixed.
export function limitsOf(env) {
  const out = {};
  for (const [name, fallback] of Object.entries(LIMITS)) {
    const raw = env[name];
    if (raw === undefined || raw === null || raw === "") {
      out[name] = fallback;
      continue;
    }
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`the ${name} var must be a positive integer, not '${raw}'`);
    out[name] = n;
  }
  return out;
}

// ---- authentication ----

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);
const encoder = new TextEncoder();

// Comparing SHA-256 digests rather than the strings: both sides are 32 bytes whatever the
// token lengths, and the XOR loop visits every byte, so timing reveals neither the length nor
// the first differing byte.
async function sameSecret(given, expected) {
  const [a, b] = await Promise.all(
    [given, expected].map(async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)))),
  );
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function authenticate(request, env) {
  const expected = env.ANAX_TOKEN;
  if (typeof expected !== "string" || expected === "") {
    const optedOut = String(env.ANAX_ALLOW_ANONYMOUS) === "true";
    // The opt-out is for a server on the developer's own machine: a deploy that carried it by
    // mistake still refuses every request, since its host name is never a loopback one.
    if (optedOut && LOOPBACK.has(new URL(request.url).hostname)) return;
    throw new HttpError(
      503,
      "NOT_CONFIGURED",
      "this worker has no ANAX_TOKEN secret and refuses every request until it has one: " +
        "run `npx wrangler secret put ANAX_TOKEN`" +
        (optedOut ? " (ANAX_ALLOW_ANONYMOUS applies only to requests to localhost)" : ""),
    );
  }
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "");
  if (!match) {
    throw new HttpError(401, "UNAUTHENTICATED", "send `Authorization: Bearer <token>`", {
      "www-authenticate": 'Bearer realm="anax"',
    });
  }
  if (!(await sameSecret(match[1], expected))) {
    throw new HttpError(401, "UNAUTHENTICATED", "the bearer token is not valid", {
      "www-authenticate": 'Bearer realm="anax", error="invalid_token"',
    });
  }
}

// ---- request bodies ----

function mediaType(request) {
  return (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

// Decided before the table is taken, so a refused upload never waits in its queue. Only the
// two types a browser cannot send cross-site without a CORS preflight are accepted: a form or
// a text/plain POST from some other page never reaches the table.
function bodyKind(request, limits) {
  const type = mediaType(request);
  const kind = type === JSON_TYPE ? "json" : type === ARROW ? "arrow" : null;
  if (kind === null) {
    throw new HttpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `rows are sent as ${JSON_TYPE} or ${ARROW}, not '${type || "no content-type"}'`,
      { "accept-post": `${JSON_TYPE}, ${ARROW}` },
    );
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limits.ANAX_MAX_BODY_BYTES) {
    throw tooLarge(`the body's ${declared} bytes exceed the ${limits.ANAX_MAX_BODY_BYTES}-byte limit`);
  }
  return kind;
}

// Counts while reading: a chunked upload has no Content-Length to check up front, and must
// not be buffered past the cap.
async function readBody(request, max) {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`the body exceeds the ${max}-byte limit`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function rowsFrom(request, kind, limits) {
  const bytes = await readBody(request, limits.ANAX_MAX_BODY_BYTES);
  if (kind === "arrow") return bytes;
  let rows;
  try {
    rows = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw bad(`the body is not valid UTF-8 JSON: ${e.message}`);
  }
  if (!Array.isArray(rows)) throw bad("the body must be a JSON array of row objects or an Arrow IPC stream");
  if (rows.length > limits.ANAX_MAX_JSON_ROWS) {
    throw tooLarge(`a JSON body holds at most ${limits.ANAX_MAX_JSON_ROWS} rows, not ${rows.length}: send Arrow IPC or split it`);
  }
  return rows;
}

export function storageFor(env, table) {
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
  // A deployment mistake, not the caller's: it surfaces as a logged INTERNAL error.
  if (!env.BUCKET) throw new Error("no storage: bind an R2 bucket as BUCKET or set S3_BUCKET");
  return { kind: "bucket", bucket: env.BUCKET, prefix };
}

// ---- responses and errors ----

const CLIENT_STATUS = {
  INVALID_ARGUMENT: 400,
  SCHEMA_MISMATCH: 400,
  KEY_NULL: 400,
  TYPE_MISMATCH: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
};

// Server-side failures: their text names buckets, object keys, endpoints and internals, so the
// caller gets only the code and this message; the detail goes to the log.
const SERVER_FAILURE = {
  STORAGE: [503, "the storage backend failed; retry later"],
  CLOSED: [503, "the table's handle was closed; retry"],
  CORRUPT: [500, "stored data failed validation"],
  INTERNAL: [500, "internal error"],
};

export function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": JSON_TYPE, ...headers } });
}

export function failure(err, request) {
  if (err instanceof HttpError) return json(err.status, { code: err.code, message: err.message }, err.headers);
  if (err instanceof AnaxError && err.code in CLIENT_STATUS) {
    return json(CLIENT_STATUS[err.code], { code: err.code, message: err.message });
  }
  if (err instanceof AnaxError && err.code === "BUSY") {
    return json(503, { code: err.code, message: err.message }, { "retry-after": "1" });
  }
  const code = err instanceof AnaxError && err.code in SERVER_FAILURE ? err.code : "INTERNAL";
  const [status, message] = SERVER_FAILURE[code];
  console.error(`anax worker: ${request.method} ${new URL(request.url).pathname} failed with ${code}:`, err);
  // A storage failure says whether retrying may pass (`retryable`): a refused credential or a
  // missing bucket does not invite a retry.
  const retry = status === 503 && err?.retryable !== false ? { "retry-after": "1" } : {};
  return json(status, { code, message }, retry);
}

function integerParam(params, name) {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw bad(`${name} must be a non-negative integer`);
  return n;
}

function scanOptions(params, maxRows) {
  const opts = {};
  if (params.has("start")) opts.start = params.get("start");
  if (params.has("end")) opts.end = params.get("end");
  const limit = integerParam(params, "limit");
  if (limit !== undefined && limit > maxRows) throw bad(`limit is at most ${maxRows}; page with start= past the last key`);
  // Without a limit a scan still stops at the cap; x-anax-scan-limit tells the caller that a
  // scan returning that many rows may have more.
  opts.limit = limit ?? maxRows;
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
        // The headers are gone already; the log is the only place the cause can go.
        console.error("anax worker: a streamed scan failed:", e);
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

// The scan as one Arrow IPC stream (`scanStream`), handing the table back (`done`) exactly
// once: after the last piece, on an error, or when the client goes away (scanStream's cancel
// waits for its read in progress).
async function ipcStream(db, opts, done) {
  // Made before responding, so a bad scan is a 4xx, not a broken 200.
  const reader = (await db.scanStream(opts)).getReader();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const { value, done: end } = await reader.read();
        if (end) {
          controller.close();
          finish();
        } else {
          controller.enqueue(value);
        }
      } catch (e) {
        // The headers are gone already; the log is the only place the cause can go.
        console.error("anax worker: a streamed scan failed:", e);
        controller.error(e);
        finish();
      }
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason);
      } finally {
        // The table's handle is handed back however the cancel went.
        finish();
      }
    },
  });
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
  return (request.headers.get("accept") ?? "").includes(JSON_TYPE);
}

export async function route(request, db, handOff, limits, r) {
  if (r.op === "put") {
    const rows = await rowsFrom(request, r.kind, limits);
    const committed = await db.put(rows);
    return json(200, { committed, rows: Array.isArray(rows) ? rows.length : undefined });
  }
  if (r.op === "get") {
    if (wantsJson(request)) {
      // A point read: the manifest check and the row's read go out together.
      const row = await db.getRow(r.id, { freshness: r.freshness ?? "view" });
      if (row === null) throw new AnaxError("NOT_FOUND", `no row with key '${r.id}'`);
      return new Response(toJson(row), { headers: { "content-type": JSON_TYPE } });
    }
    const row = await db.get(r.id, { freshness: r.freshness ?? "view" });
    if (row === null) throw new AnaxError("NOT_FOUND", `no row with key '${r.id}'`);
    return new Response(row, { headers: { "content-type": ARROW } });
  }
  if (r.op === "delete") {
    const committed = await db.delete(r.id);
    return json(200, { committed });
  }
  if (r.op === "scan") {
    const headers = { "x-anax-scan-limit": String(r.opts.limit) };
    const opts = { ...r.opts, freshness: r.freshness ?? "view" };
    // The table stays reserved for this request until its stream ends.
    const done = handOff();
    try {
      if (wantsJson(request)) {
        return new Response(await jsonStream(db, opts, done), { headers: { "content-type": JSON_TYPE, ...headers } });
      }
      return new Response(await ipcStream(db, opts, done), { headers: { "content-type": ARROW, ...headers } });
    } catch (e) {
      done();
      throw e;
    }
  }
  return json(200, db.stats());
}

export function requestsHeader(before, after) {
  const d = (k) => after[k] - (before?.[k] ?? 0);
  return `get=${d("get") + d("getRange")},put=${d("put") + d("putConditional")},list=${d("list")},delete=${d("delete")},head=${d("head")}`;
}

function rowKey(raw) {
  let id;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw bad("the key in the path is not valid percent-encoding");
  }
  if (id === "") throw bad("the key is empty");
  return id;
}

// Everything that can be refused without touching the table: who is asking, what they ask
// for, and (for uploads) what they send. A refused request neither waits in the table's queue
// nor opens (and so creates) the table.
export async function admit(request, env, limits) {
  await authenticate(request, env);
  const url = new URL(request.url);
  const parts = url.pathname.split("/");
  if (parts[1] !== "tables" || parts.length < 4) {
    throw new HttpError(404, "NOT_FOUND", "routes live under /tables/:table/...");
  }
  const [, , table, what, key] = parts;
  if (!TABLE_NAME.test(table)) throw bad("a table name is 1 to 64 letters, digits, '_' or '-'");
  if (MAINTENANCE.has(what)) {
    throw new HttpError(403, "FORBIDDEN", "compaction and garbage collection run only from the cron trigger");
  }
  const method = request.method;
  if (parts.length === 4) {
    if (what === "rows" && method === "POST") return { table, op: "put", kind: bodyKind(request, limits) };
    if (what === "scan" && method === "GET") return { table, op: "scan", opts: scanOptions(url.searchParams, limits.ANAX_MAX_SCAN_ROWS) };
    if (what === "stats" && method === "GET") return { table, op: "stats" };
  }
  if (parts.length === 5 && what === "rows" && (method === "GET" || method === "DELETE")) {
    return { table, op: method === "GET" ? "get" : "delete", id: rowKey(key) };
  }
  throw new HttpError(404, "NOT_FOUND", `no route for ${method} ${url.pathname}`);
}

