// Anax worker example: an ES-module Cloudflare Worker serving put/get/scan over HTTP.
//
//   PUT  /rows              body: JSON array of rows      -> {"committed": ts, "rows": n}
//   GET  /rows/:key                                       -> Arrow IPC stream of the row, or 404
//   GET  /scan?start=&end=&limit=&reverse=                -> Arrow IPC stream of the rows
//
// The table lives in the isolate's memory (the embedded default store): it is shared by the
// requests one isolate serves and gone when the isolate is.
import { Anax, AnaxError } from "../../js/workerd.js";

const ARROW = "application/vnd.apache.arrow.stream";
const SCHEMA = {
  id: "utf8",
  name: "utf8",
  score: { type: "float64", nullable: true },
};

let opening;
function table() {
  opening ??= Anax.open({ schema: SCHEMA, key: "id", storage: { kind: "memory" } }).catch(
    (err) => {
      opening = undefined; // let the next request try again
      throw err;
    },
  );
  return opening;
}

const STATUS = {
  INVALID_ARGUMENT: 400,
  SCHEMA_MISMATCH: 400,
  KEY_NULL: 400,
  TYPE_MISMATCH: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CLOSED: 503,
  STORAGE: 503,
};

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function failure(err) {
  if (err instanceof AnaxError) {
    const status = STATUS[err.code] ?? 500;
    const retry = status === 503 ? { "retry-after": "1" } : {};
    return json(status, { code: err.code, message: err.message }, retry);
  }
  return json(500, { code: "INTERNAL", message: String(err?.message ?? err) });
}

function badRequest(message) {
  return json(400, { code: "INVALID_ARGUMENT", message });
}

function integerParam(params, name) {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new AnaxError("INVALID_ARGUMENT", `${name} must be a non-negative integer`);
  return n;
}

async function putRows(request) {
  let rows;
  try {
    rows = JSON.parse(await request.text());
  } catch (err) {
    return badRequest(`the body is not valid JSON: ${err.message}`);
  }
  if (!Array.isArray(rows)) return badRequest("the body must be a JSON array of row objects");
  const db = await table();
  const committed = await db.put(rows);
  return json(200, { committed, rows: rows.length });
}

async function getRow(key) {
  const db = await table();
  const ipc = await db.get(key);
  if (ipc === null) return json(404, { code: "NOT_FOUND", message: `no row with id ${JSON.stringify(key)}` });
  return new Response(ipc, { headers: { "content-type": ARROW } });
}

async function scan(params) {
  const options = {};
  if (params.has("start")) options.start = params.get("start");
  if (params.has("end")) options.end = params.get("end");
  const limit = integerParam(params, "limit");
  if (limit !== undefined) options.limit = limit;
  if (params.get("reverse") === "true") options.reverse = true;
  const db = await table();
  return new Response(await db.scan(options), { headers: { "content-type": ARROW } });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      if (path === "/rows" && (request.method === "PUT" || request.method === "POST")) {
        return await putRows(request);
      }
      if (path.startsWith("/rows/") && request.method === "GET") {
        let key;
        try {
          key = decodeURIComponent(path.slice("/rows/".length));
        } catch {
          return badRequest("the key in the path is not valid percent-encoding");
        }
        if (key === "") return badRequest("GET /rows/:key needs a key");
        return await getRow(key);
      }
      if (path === "/scan" && request.method === "GET") {
        return await scan(url.searchParams);
      }
      return json(404, {
        code: "NOT_FOUND",
        message: "routes: PUT /rows, GET /rows/:key, GET /scan?start=&end=&limit=",
      });
    } catch (err) {
      return failure(err);
    }
  },
};
