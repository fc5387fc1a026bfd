// The dedicated-worker side of `Anax.openInWorker`: hosts one database (OPFS sync access
// handles work here) and answers the main thread's calls. Result buffers are transferred,
// not copied.
import { Anax, AnaxError, initialize } from "./index.js";
import { TRAP_FOR_TESTS } from "./api.js";
import { Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";

const handles = new Map();
// The AbortControllers of long calls in progress, by call id (see Channel.controlled).
const controllers = new Map();
let nextHandle = 1;

// What each kind of handle may be asked to do.
const allowed = {
  Db: new Set([
    "put", "delete", "get", "getRow", "scan", "scanCursor", "count", "flush", "compact", "compactPending", "gc",
    "idle", "refresh", "sync", "versions", "stats", "close", "snapshot", "at", "beginTransaction",
  ]),
  Snapshot: new Set(["get", "getRow", "scan", "scanCursor", "count", "release"]),
  Transaction: new Set(["get", "getRow", "scan", "scanCursor", "count", "put", "delete", "commit", "abort"]),
  ScanCursor: new Set(["next", "nextRows", "nextPart", "free"]),
};

// By class identity, not constructor names: bundlers minify those.
const kinds = [
  ["Snapshot", Snapshot],
  ["Transaction", Transaction],
  ["ScanCursor", ScanCursor],
  ["Db", Db],
];

function kindOf(value) {
  if (value === null || typeof value !== "object") return null;
  return kinds.find(([, C]) => value instanceof C)?.[0] ?? null;
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
    // A relocated .wasm (openInWorker's wasmUrl) is loaded before the first open needs it.
    if (args[1] !== undefined) {
      try {
        await initialize(new URL(args[1]));
      } catch (e) {
        throw new AnaxError("INVALID_ARGUMENT", `openInWorker could not load the wasm from ${args[1]}: ${e?.message ?? e}`);
      }
    }
    return store(await Anax.open(args[0]));
  }
  if (op === "__trapForTests") return Anax[TRAP_FOR_TESTS](args[0]);
  const entry = handles.get(target);
  if (!entry) {
    throw new AnaxError("INVALID_ARGUMENT", "this handle was already released or closed");
  }
  if (!allowed[entry.kind].has(op)) {
    throw new AnaxError("INVALID_ARGUMENT", `${entry.kind} has no method '${op}'`);
  }
  let terminal = op === "release" || op === "free" || op === "commit" || op === "abort";
  try {
    const result = await entry.value[op](...args);
    return store(result) ?? result;
  } catch (e) {
    // A commit refused before it started (a read still running) leaves the transaction open,
    // as in-thread; one that ran is over, landed or lost with CONFLICT.
    if (op === "commit" && e?.code === "INVALID_ARGUMENT") terminal = false;
    throw e;
  } finally {
    if (terminal) {
      handles.delete(target);
      if (op === "commit") entry.value.free?.();
    }
    if (op === "close") {
      for (const [id, h] of handles) if (h.kind !== "Db") handles.delete(id);
    }
  }
}

/** A long call's options with a signal this side can abort and a progress relay. */
function withControl(id, options, wanted) {
  const out = { ...options };
  if (wanted.signal) {
    const controller = new AbortController();
    controllers.set(id, controller);
    out.signal = controller.signal;
  }
  if (wanted.progress) out.onProgress = (progress) => self.postMessage({ id, progress });
  return out;
}

self.onmessage = async (event) => {
  const { id, abort, control } = event.data;
  if (abort !== undefined) {
    controllers.get(abort)?.abort();
    return;
  }
  try {
    if (control) event.data.args[control.at] = withControl(id, event.data.args[control.at], control);
    const value = await dispatch(event.data);
    const transfer = value instanceof Uint8Array && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength
      ? [value.buffer]
      : [];
    controllers.delete(id);
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    controllers.delete(id);
    const code = typeof e?.code === "string" ? e.code : "INTERNAL";
    // A storage failure's details cross as data; its cause too when it can be cloned (an
    // Error can, a bucket binding's own objects may not).
    const details = {};
    for (const k of ["retryable", "status", "operation", "path", "backendCode"]) if (e?.[k] !== undefined) details[k] = e[k];
    const reply = { id, ok: false, code, message: String(e?.message ?? e), details };
    try {
      self.postMessage(e?.cause instanceof Error ? { ...reply, cause: e.cause } : reply);
    } catch {
      self.postMessage(reply);
    }
  }
};
