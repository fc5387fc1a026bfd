// `Anax.openInWorker`: the database lives in a dedicated worker (where OPFS sync access
// handles are allowed) and the main thread talks to it through the same Promise API. Results
// come back as transferred buffers; arguments are structured-cloned (a bucket binding or any
// function cannot cross, and is rejected with INVALID_ARGUMENT).
import { AnaxError } from "./error.js";
import {
  TRAP_FOR_TESTS, abortError, getMany, installDispose, runTransaction, scanBatches, scanRows, scanStream, withAbortCause,
} from "./api.js";

class Channel {
  constructor(worker) {
    this.worker = worker;
    this.calls = new Map();
    this.next = 1;
    this.failed = null;
    worker.onmessage = ({ data }) => {
      const call = this.calls.get(data.id);
      if (!call) return;
      if (data.progress) {
        // What the caller's onProgress throws stays with it, as in-thread.
        try {
          call.onProgress?.(data.progress);
        } catch {}
        return;
      }
      this.calls.delete(data.id);
      call.done?.();
      if (data.ok) call.resolve(data.value);
      else call.reject(Object.assign(new AnaxError(data.code, data.message, data.cause === undefined ? undefined : { cause: data.cause }), data.details));
    };
    const broken = (message) => new AnaxError("INTERNAL", `the Anax worker failed: ${message}`);
    worker.onerror = (e) => this.fail(broken(e.message || "it could not start"));
    worker.onmessageerror = () => this.fail(broken("a reply could not be decoded"));
    // Handles the caller dropped without release()/free() are released in the worker too.
    this.finalizer =
      typeof FinalizationRegistry === "undefined"
        ? null
        : new FinalizationRegistry(({ handle, op }) => {
            this.call(handle, op).catch(() => {});
          });
  }

  /** Ends the channel: every waiting and later call rejects with `error`; the worker stops. */
  fail(error) {
    if (this.failed) return;
    this.failed = error;
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
    this.worker.terminate();
  }

  call(target, op, args = []) {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.calls.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ id, target, op, args });
      } catch (e) {
        this.calls.delete(id);
        reject(new AnaxError("INVALID_ARGUMENT", `this argument cannot be sent to the worker: ${e.message}`));
      }
    });
  }

  /**
   * A long call (open, compact, gc) whose options' `signal` and `onProgress` stay on this
   * thread (neither can be cloned): the worker runs it under its own AbortController, which a
   * message aborts when the signal fires, and posts progress reports back.
   */
  controlled(target, op, args, at = 0) {
    const options = args[at];
    if (options === null || typeof options !== "object" || !("signal" in options || "onProgress" in options)) {
      return this.call(target, op, args);
    }
    const { signal, onProgress, ...plain } = options;
    if (signal !== undefined && (signal === null || typeof signal.aborted !== "boolean" || typeof signal.addEventListener !== "function")) {
      return Promise.reject(new AnaxError("INVALID_ARGUMENT", `${op}'s signal must be an AbortSignal`));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.failed) return Promise.reject(this.failed);
    const wanted = { signal: signal !== undefined, progress: onProgress !== undefined, at };
    const sent = args.slice();
    sent[at] = plain;
    const promise = new Promise((resolve, reject) => {
      const id = this.next++;
      const onAbort = () => this.worker.postMessage({ abort: id });
      const done = () => signal?.removeEventListener?.("abort", onAbort);
      this.calls.set(id, { resolve, reject, onProgress, done });
      if (typeof onProgress !== "function" && onProgress !== undefined) {
        this.calls.delete(id);
        reject(new AnaxError("INVALID_ARGUMENT", `${op}'s onProgress must be a function`));
        return;
      }
      try {
        this.worker.postMessage({ id, target, op, args: sent, control: wanted });
        signal?.addEventListener?.("abort", onAbort, { once: true });
      } catch (e) {
        this.calls.delete(id);
        reject(new AnaxError("INVALID_ARGUMENT", `this argument cannot be sent to the worker: ${e.message}`));
      }
    });
    return withAbortCause(promise, options);
  }
}

function wrap(channel, value) {
  if (value === null || typeof value !== "object" || !("__handle" in value)) return value;
  let proxy;
  let release;
  switch (value.kind) {
    case "Snapshot":
      proxy = new RemoteSnapshot(channel, value.__handle, value.timestamp);
      release = "release";
      break;
    case "Transaction":
      proxy = new RemoteTransaction(channel, value.__handle, value.readTimestamp);
      release = "abort";
      break;
    case "ScanCursor":
      proxy = new RemoteCursor(channel, value.__handle);
      release = "free";
      break;
    default:
      return value;
  }
  channel.finalizer?.register(proxy, { handle: value.__handle, op: release }, proxy);
  return proxy;
}

class Handle {
  constructor(channel, handle) {
    this.channel = channel;
    this.handle = handle;
  }

  async call(op, ...args) {
    return wrap(this.channel, await this.channel.call(this.handle, op, args));
  }

  /** This handle is over (released, freed, committed or aborted): no finalizer call needed. */
  ended() {
    this.channel.finalizer?.unregister(this);
  }
}

class Readable extends Handle {
  get(key, options) {
    return options === undefined ? this.call("get", key) : this.call("get", key, options);
  }

  scan(options) {
    return this.call("scan", options);
  }

  scanCursor(options) {
    return this.call("scanCursor", options);
  }

  getRow(key, options) {
    return options === undefined ? this.call("getRow", key) : this.call("getRow", key, options);
  }

  scanBatches(options) {
    return scanBatches(this, options);
  }

  scanRows(options) {
    return scanRows(this, options);
  }

  scanStream(options) {
    return scanStream(this, options);
  }

  count(options) {
    return this.call("count", options);
  }

  getMany(keys, options) {
    return getMany(this, keys, options, this instanceof WorkerDb);
  }
}

class RemoteCursor extends Handle {
  next() {
    return this.call("next");
  }

  nextRows() {
    return this.call("nextRows");
  }

  nextPart() {
    return this.call("nextPart");
  }

  free() {
    this.ended();
    this.call("free").catch(() => {});
  }
}

class RemoteSnapshot extends Readable {
  constructor(channel, handle, timestamp) {
    super(channel, handle);
    this.timestamp = timestamp;
  }

  release() {
    this.ended();
    this.call("release").catch(() => {});
  }
}

class RemoteTransaction extends Readable {
  constructor(channel, handle, readTimestamp) {
    super(channel, handle);
    this.readTimestamp = readTimestamp;
  }

  put(rows) {
    return this.call("put", rows);
  }

  delete(key) {
    return this.call("delete", key);
  }

  commit() {
    this.ended();
    return this.call("commit");
  }

  /** Drops the buffered writes; a no-op after commit or an earlier abort, as in-thread. */
  async abort() {
    this.ended();
    try {
      await this.call("abort");
    } catch (e) {
      if (e?.code !== "INVALID_ARGUMENT") throw e;
    }
  }
}

/** A database hosted in a dedicated worker; the same methods as `Db`, `stats()` async. */
export class WorkerDb extends Readable {
  constructor(channel, handle) {
    super(channel, handle);
    this.closed = false;
  }

  put(rows) {
    return this.call("put", rows);
  }

  delete(key) {
    return this.call("delete", key);
  }

  flush() {
    return this.call("flush");
  }

  compact(options) {
    return this.channel.controlled(this.handle, "compact", [options]);
  }

  compactPending(maxJobs, options) {
    return this.channel.controlled(this.handle, "compactPending", [maxJobs, options], 1);
  }

  gc(options) {
    return this.channel.controlled(this.handle, "gc", [options]);
  }

  idle() {
    return this.call("idle");
  }

  refresh() {
    return this.call("refresh");
  }

  sync() {
    return this.call("sync");
  }

  versions() {
    return this.call("versions");
  }

  stats() {
    return this.call("stats");
  }

  snapshot() {
    return this.call("snapshot");
  }

  at(versionOrTimestamp) {
    return this.call("at", versionOrTimestamp);
  }

  beginTransaction() {
    return this.call("beginTransaction");
  }

  transaction(fn, options) {
    return runTransaction(() => this.beginTransaction(), fn, options);
  }

  /** Closes the database and stops its worker. Idempotent. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.channel.call(this.handle, "close");
    } finally {
      // Calls still waiting (a scan racing close) and every later call reject with CLOSED.
      this.channel.fail(new AnaxError("CLOSED", "the database is closed; open it again to continue"));
    }
  }

  /** Test hook: a wasm trap inside the worker (see `TRAP_FOR_TESTS` in api.js). */
  [TRAP_FOR_TESTS](mode) {
    return this.channel.call(0, "__trapForTests", [mode]);
  }
}

/** A `workerUrl` or `wasmUrl` of `openInWorker`'s second argument, checked. */
function urlOption(where, name) {
  const v = where[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string" && !(v instanceof URL)) {
    throw new AnaxError("INVALID_ARGUMENT", `openInWorker's ${name} must be a string or a URL`);
  }
  // Resolved against the page, not the worker script, which may live elsewhere.
  try {
    return new URL(v, globalThis.location?.href).href;
  } catch {
    throw new AnaxError("INVALID_ARGUMENT", `openInWorker's ${name} is not a URL: ${v}`);
  }
}

/**
 * Starts a dedicated module worker hosting one database opened with `options`; `where`
 * relocates the worker script (`workerUrl`) and the wasm (`wasmUrl`) for bundlers that move
 * the package's files. Without a `wasmUrl` the worker loads `thisWasm` (the URL the calling
 * thread loads, when the entry knows it): a bundler copies the worker script without
 * rewriting the URL inside it, but it does rewrite the caller's.
 */
export async function openInWorker(options, where = {}, thisWasm = undefined) {
  if (typeof Worker === "undefined") {
    throw new AnaxError("INVALID_ARGUMENT", "openInWorker needs a browser with module Web Workers; use Anax.open here");
  }
  if (where === null || typeof where !== "object" || Object.getPrototypeOf(where) !== Object.prototype) {
    throw new AnaxError("INVALID_ARGUMENT", "openInWorker's second argument must be a plain object { workerUrl?, wasmUrl? }");
  }
  for (const name of Object.keys(where)) {
    if (name !== "workerUrl" && name !== "wasmUrl") {
      throw new AnaxError("INVALID_ARGUMENT", `unknown openInWorker option '${name}'; it takes workerUrl, wasmUrl`);
    }
  }
  const workerUrl = urlOption(where, "workerUrl");
  const wasmUrl = urlOption(where, "wasmUrl") ?? thisWasm?.href;
  // The worker host built into one module (pkg/anax.worker.js, from js/worker-host.js by
  // scripts/build-wasm.sh); named from the package root, so the URL holds from js/remote.js
  // and from the one-file browser entry in pkg/ alike.
  const url = workerUrl ?? new URL("../pkg/anax.worker.js", import.meta.url);
  let worker;
  try {
    worker = new Worker(url, { type: "module", name: "anax" });
  } catch (e) {
    // A malformed or cross-origin URL: the caller's to fix.
    throw new AnaxError("INVALID_ARGUMENT", `openInWorker could not start a worker from ${url}: ${e?.message ?? e}`);
  }
  installDispose(WorkerDb);
  const channel = new Channel(worker);
  try {
    const opened = await channel.controlled(0, "open", wasmUrl === undefined ? [options] : [options, wasmUrl]);
    return new WorkerDb(channel, opened.__handle);
  } catch (e) {
    worker.terminate();
    throw e;
  }
}
