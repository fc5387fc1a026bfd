// The dedicated-worker side of `Anax.openInWorker`: hosts one database (OPFS sync access
// handles work here) and answers the main thread's calls. Result buffers are transferred,
// not copied.
import { Anax, AnaxError } from "./index.js";

const handles = new Map();
let nextHandle = 1;

// What each kind of handle may be asked to do.
const allowed = {
  Db: new Set([
    "put", "delete", "get", "scan", "scanCursor", "flush", "compact", "compactPending", "gc",
    "refresh", "sync", "versions", "stats", "close", "snapshot", "at", "beginTransaction",
  ]),
  Snapshot: new Set(["get", "scan", "scanCursor", "release"]),
  Transaction: new Set(["get", "scan", "scanCursor", "put", "delete", "commit", "abort"]),
  ScanCursor: new Set(["next", "nextRows", "free"]),
};

function kindOf(value) {
  if (value === null || typeof value !== "object") return null;
  for (const kind of ["Snapshot", "Transaction", "ScanCursor", "Db"]) {
    if (value.constructor?.name === kind) return kind;
  }
  return null;
}

function store(value) {
  const kind = kindOf(value);
  if (!kind) return null;
  const id = nextHandle++;
  handles.set(id, { kind, value });
  const out = { __handle: id, kind };
  if (kind === "Snapshot") out.timestamp = value.timestamp;
  if (kind === "Transaction") out.readTimestamp = value.readTimestamp;
  return out;
}

async function dispatch({ target, op, args }) {
  if (op === "open") {
    return store(await Anax.open(args[0]));
  }
  if (op === "__trapForTests") return Anax.__trapForTests(args[0]);
  const entry = handles.get(target);
  if (!entry) {
    throw new AnaxError("INVALID_ARGUMENT", "this handle was already released or closed");
  }
  if (!allowed[entry.kind].has(op)) {
    throw new AnaxError("INVALID_ARGUMENT", `${entry.kind} has no method '${op}'`);
  }
  const result = await entry.value[op](...args);
  if (op === "release" || op === "free" || op === "commit" || op === "abort") handles.delete(target);
  if (op === "close") {
    for (const [id, h] of handles) if (h.kind !== "Db") handles.delete(id);
  }
  return store(result) ?? result;
}

self.onmessage = async (event) => {
  const { id } = event.data;
  try {
    const value = await dispatch(event.data);
    const transfer = value instanceof Uint8Array && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength
      ? [value.buffer]
      : [];
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    const code = typeof e?.code === "string" ? e.code : "INTERNAL";
    self.postMessage({ id, ok: false, code, message: String(e?.message ?? e) });
  }
};
