// The public surface shared by every entry point (browser, Workers, Node). Each entry point
// only differs in how it instantiates the wasm module; `ready` resolves once that is done.
//
// Everything here is a thin layer over the wasm classes: methods that have no wasm-bindgen
// form (async iterators, transaction callbacks), filter helpers, and the guard that turns a
// trapped wasm instance into `INTERNAL` rejections instead of a dead page or isolate.

import { AnaxError } from "./error.js";
import { isTrap, setTrapHandler } from "./tasks.js";
import { withPackedRows } from "./pack.js";
import { afterNotices, announcing, closing, share, shareName, sharedOptions } from "./tabs.js";

export { AnaxError, ErrorCodes } from "./error.js";
export { filter } from "./filter.js";

/** The key of the trap test hook on `Anax` and on worker-hosted handles (tests only). */
export const TRAP_FOR_TESTS = Symbol.for("anax.trapForTests");

// A trap (a Rust panic) leaves the instance's memory in an unknown state: every later call on
// any handle of this instance rejects with INTERNAL instead of running on it, and calls in
// flight when it happens reject too (a trap inside a task never settles its own promise; the
// glue's scheduler in js/tasks.js reports those).
let poisoned = null;
const pending = new Set();

function internal(cause) {
  const detail = cause && cause.message ? `: ${cause.message}` : "";
  return new AnaxError(
    "INTERNAL",
    `Anax hit an internal error and this instance is now unusable${detail}. ` +
      "Reload the page (or restart the worker) and open the database again; please report this.",
  );
}

function poison(e) {
  poisoned ??= internal(e);
  for (const reject of pending) reject(poisoned);
  pending.clear();
  return poisoned;
}

setTrapHandler(poison);

function translate(e) {
  if (e instanceof AnaxError) return e;
  if (isTrap(e)) return poison(e);
  if (e && e.name === "DataCloneError") {
    return new AnaxError("INVALID_ARGUMENT", `a value could not be passed to the database: ${e.message}`);
  }
  if (e instanceof Error) {
    // wasm-bindgen's glue throws plain errors for values it cannot convert (or for a handle
    // used after free()).
    return new AnaxError("INVALID_ARGUMENT", e.message);
  }
  return new AnaxError("INTERNAL", String(e));
}

// The wasm call starts synchronously (a method clones its handle before returning), so
// `const p = snap.get(k); snap.release();` stays valid.
function guardAsync(fn) {
  return function guarded(...args) {
    if (poisoned) return Promise.reject(poisoned);
    let result;
    try {
      result = fn.apply(this, args);
    } catch (e) {
      return Promise.reject(translate(e));
    }
    // The hot wasm calls (get, put) return their value itself when the work finished within
    // the call; everything else returns a Promise.
    if (!(result instanceof Promise)) return Promise.resolve(result);
    // Our own promise, so a trap can reject it while the wasm one never settles. (Lean on
    // purpose: a point get is ~10 µs and each extra promise is a measurable part.)
    return new Promise((resolve, reject) => {
      pending.add(reject);
      result.then(
        (v) => {
          pending.delete(reject);
          resolve(v);
        },
        (e) => {
          pending.delete(reject);
          reject(translate(e));
        },
      );
    });
  };
}

function guardSync(fn) {
  return function guarded(...args) {
    if (poisoned) throw poisoned;
    try {
      return fn.apply(this, args);
    } catch (e) {
      throw translate(e);
    }
  };
}

function wrapMethods(Class, asyncNames, syncNames = []) {
  if (!Class || Class.prototype.__anaxWrapped) return;
  for (const name of asyncNames) {
    const original = Class.prototype[name];
    if (typeof original === "function") Class.prototype[name] = guardAsync(original);
  }
  for (const name of syncNames) {
    const original = Class.prototype[name];
    if (typeof original === "function") Class.prototype[name] = guardSync(original);
  }
  Object.defineProperty(Class.prototype, "__anaxWrapped", { value: true });
}

/** Whether `s` is an AbortSignal (by shape: a signal from another realm counts too). */
function isSignal(s) {
  return typeof s === "object" && s !== null && typeof s.aborted === "boolean" && typeof s.addEventListener === "function";
}

/**
 * Splits `{ signal }` off a streaming read's options (the wasm side refuses option names it
 * does not know, and a signal cannot cross to a worker): `[options without it, signal]`.
 */
export function splitSignal(options, method) {
  if (options === null || typeof options !== "object" || !Object.hasOwn(options, "signal")) return [options, undefined];
  const { signal, ...rest } = options;
  if (signal !== undefined && !isSignal(signal)) {
    throw new AnaxError("INVALID_ARGUMENT", `${method}'s signal must be an AbortSignal`);
  }
  return [rest, signal];
}

/** The rejection of a call whose signal fired: ABORTED, the signal's reason as `cause`. */
export function abortError(signal) {
  const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : "";
  return new AnaxError("ABORTED", `the call was aborted by its AbortSignal${why}`, { cause: signal.reason });
}

/**
 * A long call's promise (open, compact, gc: the wasm side reads their `signal` and stops at
 * its next check), its ABORTED rejection carrying the signal's reason as `cause`, as every
 * aborted call here does.
 */
export async function withAbortCause(promise, options) {
  try {
    return await promise;
  } catch (e) {
    const signal = options?.signal;
    if (e?.code === "ABORTED" && isSignal(signal) && signal.aborted) throw abortError(signal);
    throw e;
  }
}

/** `promise`, or ABORTED as soon as `signal` fires (the work itself is left to finish). */
function untilAborted(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Async iterator of what `read(cursor)` gives (Arrow IPC streams by default) over a scan's
 * cursor, freeing it at the end, on `break`, or when `signal` fires (which rejects the
 * waiting step with ABORTED).
 */
export async function* iterateCursor(cursorPromise, signal, read = (c) => c.next()) {
  const cursor = await cursorPromise;
  let reading = null;
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      reading = read(cursor);
      const chunk = await untilAborted(reading, signal);
      if (chunk === null) return;
      yield chunk;
    }
  } finally {
    // A step abandoned by an abort ends before the cursor goes (a worker-hosted cursor's
    // free is a message that could overtake it).
    if (reading) await reading.catch(() => {});
    cursor.free?.();
  }
}

/** `scanBatches(options)`: the cursor's Arrow IPC streams, `{ signal }` honoured. */
export async function* scanBatches(view, options) {
  const [rest, signal] = splitSignal(options, "scanBatches");
  yield* iterateCursor(view.scanCursor(rest), signal);
}

/** `scanRows(options)`: the selected rows one plain object at a time, read a batch ahead. */
export async function* scanRows(view, options) {
  const [rest, signal] = splitSignal(options, "scanRows");
  for await (const rows of iterateCursor(view.scanCursor(rest), signal, (c) => c.nextRows())) {
    for (const row of rows) {
      if (signal?.aborted) throw abortError(signal);
      yield row;
    }
  }
}

/**
 * `scanStream(options)`: the selected rows as one Arrow IPC stream in a ReadableStream (a
 * Response body; what apache-arrow's RecordBatchReader reads), pulled a batch at a time, so
 * memory stays bounded. The options are checked (and a cursor made) before it resolves, so a
 * bad option rejects instead of breaking a response already sent. Cancelling the stream or
 * firing `signal` frees the cursor once its read in progress has ended; a signal errors the
 * stream with ABORTED.
 */
export async function scanStream(view, options) {
  const [rest, signal] = splitSignal(options, "scanStream");
  if (signal?.aborted) throw abortError(signal);
  const cursor = await view.scanCursor(rest);
  if (signal?.aborted) {
    cursor.free?.();
    throw abortError(signal);
  }
  let reading = null;
  let over = false;
  let controller;
  const end = async () => {
    if (over) return;
    over = true;
    signal?.removeEventListener("abort", onAbort);
    if (reading) await reading.catch(() => {});
    cursor.free?.();
  };
  const onAbort = () => {
    controller.error(abortError(signal));
    void end();
  };
  return new ReadableStream({
    start(c) {
      controller = c;
      signal?.addEventListener("abort", onAbort, { once: true });
    },
    async pull(c) {
      if (over) return;
      reading = cursor.nextPart();
      let part;
      try {
        part = await reading;
      } catch (e) {
        if (!over) {
          c.error(e);
          await end();
        }
        return;
      }
      if (over) return;
      if (part === null) {
        c.close();
        await end();
      } else {
        c.enqueue(part);
      }
    },
    cancel() {
      return end();
    },
  });
}

/** A transaction's `{ retries }`, checked: how many times a commit that lost to a conflict is
 * run again (0 by default: the caller sees the CONFLICT). */
function retriesOf(options) {
  if (options === undefined) return [0, undefined];
  if (options === null || typeof options !== "object") {
    throw new AnaxError("INVALID_ARGUMENT", "transaction options must be an object: { retries, signal }");
  }
  for (const name of Object.keys(options)) {
    if (name !== "retries" && name !== "signal") {
      throw new AnaxError("INVALID_ARGUMENT", `unknown transaction option '${name}'; it takes retries, signal`);
    }
  }
  const n = options.retries ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > MAX_RETRIES) {
    throw new AnaxError("INVALID_ARGUMENT", `transaction option 'retries' must be an integer from 0 to ${MAX_RETRIES}`);
  }
  const [, signal] = splitSignal(options, "transaction");
  return [n, signal];
}

const MAX_RETRIES = 100;
/** First pause before a retry; each doubles, up to the cap, with jitter so that writers that
 * collided do not collide again in step. */
const RETRY_FIRST_MS = 2;
const RETRY_CAP_MS = 200;

/**
 * Runs `fn(tx)` in a transaction: commits when the callback's promise resolves (to its
 * value), aborts when it throws (rethrowing), and rejects with `CONFLICT` when another commit
 * wrote one of its keys after it began, unless `{ retries }` lets it run `fn` again on a fresh
 * transaction (after a growing, jittered pause). Only the commit's conflict is retried: an
 * error `fn` throws is the caller's. `signal` stops it before an attempt, before a commit
 * (the transaction is aborted: nothing written) and during a pause. Shared by local and
 * worker-hosted handles.
 */
export async function runTransaction(begin, fn, options) {
  if (typeof fn !== "function") {
    throw new AnaxError("INVALID_ARGUMENT", "transaction(fn) takes an async function (tx) => { ... }");
  }
  const [retries, signal] = retriesOf(options);
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortError(signal);
    const tx = await begin();
    let value;
    try {
      value = await fn(tx);
      if (signal?.aborted) throw abortError(signal);
    } catch (e) {
      await tx.abort();
      throw e;
    }
    try {
      await tx.commit();
      return value;
    } catch (e) {
      if (!(e instanceof AnaxError && e.code === "CONFLICT") || attempt >= retries) throw e;
    }
    const pause = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
    await untilAborted(new Promise((resolve) => setTimeout(resolve, pause)), signal);
  }
}

/** Most gets `getMany` keeps in flight at once (each is at most a few ranged reads). */
const GET_MANY_IN_FLIGHT = 32;

/**
 * The rows with these keys, in the order given, `null` where there is none: the gets run
 * together (at most GET_MANY_IN_FLIGHT at a time), so on an object store the keys cost about
 * one round trip per that many keys, not one each. Shared by local and worker-hosted handles.
 */
export async function getMany(view, keys, options, live = true) {
  if (!Array.isArray(keys)) {
    throw new AnaxError("INVALID_ARGUMENT", "getMany(keys) takes an array of keys (a composite key is itself an array)");
  }
  // `signal` rejects at once and starts no further get (those in flight finish unread).
  const [rest, signal] = splitSignal(options, "getMany");
  // A snapshot's or transaction's get reads at its own timestamp and takes no options.
  if (!live && rest !== undefined) {
    const names = rest !== null && typeof rest === "object" ? Object.keys(rest) : ["(not an object)"];
    if (names.length > 0) {
      throw new AnaxError("INVALID_ARGUMENT", `unknown getMany option '${names[0]}'; a snapshot's or transaction's getMany takes signal`);
    }
  }
  const get = rest === undefined || (signal && Object.keys(rest).length === 0) ? (k) => view.get(k) : (k) => view.get(k, rest);
  const out = new Array(keys.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < keys.length && !signal?.aborted) {
      const i = next++;
      out[i] = await get(keys[i]);
    }
  };
  await untilAborted(Promise.all(Array.from({ length: Math.min(GET_MANY_IN_FLIGHT, keys.length) }, worker)), signal);
  return out;
}

const readMethods = ["get", "getRow", "scan", "scanCursor", "count"];

function extend({ Db, Snapshot, Transaction, ScanCursor }) {
  if (!Db || Db.prototype.scanBatches) return;
  wrapMethods(
    Db,
    [...readMethods, "put", "putPacked", "delete", "versions", "at", "sync", "compactPending", "flush", "compact", "gc", "idle", "refresh", "close"],
    ["stats", "snapshot", "beginTransaction"],
  );
  wrapMethods(Snapshot, readMethods);
  wrapMethods(Transaction, [...readMethods, "put", "putPacked", "delete", "commit"], ["abort"]);
  wrapMethods(ScanCursor, ["next", "nextRows", "nextPart"]);
  // An OPFS table shared by tabs (js/tabs.js): commits announce themselves to the table's other
  // handles, whose reads wait for the refresh a notice started. Wrapped before put's packed
  // path below, which calls one of these two.
  // (flush and sync publish what puts acknowledged under commitAckMode "fast" left unpublished.)
  for (const name of ["put", "putPacked", "delete", "flush", "sync"]) Db.prototype[name] = announcing(Db.prototype[name]);
  for (const name of readMethods) Db.prototype[name] = afterNotices(Db.prototype[name]);
  Db.prototype.close = closing(Db.prototype.close);
  if (Transaction) {
    const dbOf = new WeakMap();
    const begin = Db.prototype.beginTransaction;
    Db.prototype.beginTransaction = function beginTransaction(...args) {
      const txn = begin.apply(this, args);
      if (txn && typeof txn === "object") dbOf.set(txn, this);
      return txn;
    };
    Transaction.prototype.commit = announcing(Transaction.prototype.commit, (t) => dbOf.get(t));
  }
  for (const C of [Db, Transaction]) {
    if (!C) continue;
    // Rows of scalar cells cross into wasm packed, in one call (js/pack.js); the rest, and
    // every error message, go the general way.
    const put = C.prototype.put;
    const columns = new WeakMap();
    C.prototype.put = function put_(rows) {
      try {
        if (!poisoned && Array.isArray(rows) && rows.length > 0 && this?.__wbg_ptr) {
          let names = columns.get(this);
          if (!names) {
            names = this.columnNames();
            columns.set(this, names);
          }
          const sent = withPackedRows(rows, names, (bytes) => this.putPacked(bytes));
          if (sent !== undefined) return sent;
        }
      } catch (e) {
        // A trap poisons as in any call. Anything else (a closed handle, a finished
        // transaction, a getter or proxy that throws) the general path reports with its code.
        if (isTrap(e)) return Promise.reject(translate(e));
      }
      return put.call(this, rows);
    };
  }
  for (const C of [Db, Snapshot, Transaction]) {
    if (!C) continue;
    /** Arrow IPC streams of at most 8,192 rows each, with bounded memory. */
    C.prototype.scanBatches = function scanBatches_(options) {
      return scanBatches(this, options);
    };
    C.prototype.scanRows = function scanRows_(options) {
      return scanRows(this, options);
    };
    C.prototype.scanStream = function scanStream_(options) {
      return scanStream(this, options);
    };
    C.prototype.getMany = function getMany_(keys, options) {
      return getMany(this, keys, options, C === Db);
    };
  }
  // The long calls, with the position of their options argument.
  for (const [name, at] of [["compact", 0], ["gc", 0], ["compactPending", 1]]) {
    const run = Db.prototype[name];
    Db.prototype[name] = function controlled(...args) {
      return withAbortCause(run.apply(this, args), args[at]);
    };
  }
  Db.prototype.transaction = function transaction(fn, options) {
    return runTransaction(async () => this.beginTransaction(), fn, options);
  };
  installDispose(Db);
  if (Snapshot) {
    /** Lets compaction and GC reclaim what this snapshot kept alive. Idempotent. */
    Snapshot.prototype.release = function release() {
      if (this.__wbg_ptr) this.free();
    };
  }
}

/**
 * `await using db = await Anax.open(...)` closes the handle when the block ends. A plain
 * `using` cannot wait for a close, so a Db has no Symbol.dispose: wasm-bindgen's only freed
 * the handle, skipping what close() does (flush, sync, release the writer lock), and `using`
 * now refuses a Db instead of doing that silently. Where the runtime has no
 * Symbol.asyncDispose, the method sits under Symbol.for("Symbol.asyncDispose") (the key
 * esbuild's lowered `await using` and the usual polyfill, `Symbol.asyncDispose ??=
 * Symbol.for("Symbol.asyncDispose")`, use); it is installed again at each open, so a polyfill
 * that runs after this module loaded is honoured too.
 */
export function installDispose(C) {
  if (!C) return;
  const close = function asyncDispose() {
    return this.close();
  };
  for (const key of [Symbol.for("Symbol.asyncDispose"), Symbol.asyncDispose]) {
    if (typeof key === "symbol" && !Object.hasOwn(C.prototype, key)) {
      Object.defineProperty(C.prototype, key, { value: close, configurable: true, writable: true });
    }
  }
  if (Symbol.dispose && Object.hasOwn(C.prototype, Symbol.dispose)) delete C.prototype[Symbol.dispose];
}

// Eviction is the browser's call, not Anax's: a best-effort origin may lose OPFS data under
// storage pressure, so an app that keeps its only copy there asks for persistence (Chrome
// grants or refuses silently by site engagement, Firefox asks the user, Safari grants to
// installed web apps). `persist()` exists in window contexts only; a worker can just read.
async function persistStorage(request) {
  if (request !== undefined && typeof request !== "boolean") {
    throw new AnaxError("INVALID_ARGUMENT", "persistStorage takes true (ask first) or nothing");
  }
  const manager = globalThis.navigator?.storage;
  if (typeof manager?.persisted !== "function") return null;
  if ((await manager.persisted()) === true) return true;
  if (request === true && typeof manager.persist === "function") {
    return (await manager.persist()) === true;
  }
  return false;
}

/**
 * The public `Anax` object over the wasm classes. `extra.openInWorker` is the browser's;
 * `extra.withStorage(storage)`, the Node entry's, returns the storage options with what this
 * runtime attaches to them (the file system of a `dir`), or undefined to pass them as given.
 */
export function makeAnax(ready, Raw, classes, extra = {}) {
  extend(classes);
  return Object.freeze({
    /** Opens a table; see index.d.ts for the options. */
    open: guardAsync(async (options) => {
      await ready();
      installDispose(classes.Db);
      const storage = extra.withStorage?.(options?.storage);
      const name = shareName(options);
      const [opened, compacts] = name ? sharedOptions(options) : [options, false];
      const db = await withAbortCause(Raw.open(storage === undefined ? opened : { ...opened, storage }), options);
      return share(db, name, classes.Db.prototype.refresh, compacts);
    }),
    /** Checks a storage backend against Anax's contract; see index.d.ts. */
    checkStorage: guardAsync(async (storage) => {
      await ready();
      return Raw.checkStorage(extra.withStorage?.(storage) ?? storage);
    }),
    /**
     * Whether the browser keeps this origin's storage (OPFS) under storage pressure instead of
     * evicting it; with `request`, asks first. `null` where there is no StorageManager.
     */
    persistStorage: guardAsync(async (request) => persistStorage(request)),
    /**
     * Test hook, under a symbol key so it is no part of the public surface: executes a wasm
     * trap (what a Rust panic does) synchronously ("sync") or inside a task ("async"), so tests
     * can check that it becomes INTERNAL and poisons the instance.
     */
    [TRAP_FOR_TESTS]: guardAsync(async (mode) => {
      await ready();
      return Raw.__trapForTests(mode);
    }),
    openInWorker:
      extra.openInWorker ??
      (async () => {
        throw new AnaxError(
          "INVALID_ARGUMENT",
          "openInWorker needs a browser with module Web Workers; use Anax.open here",
        );
      }),
  });
}
