// Tabs and workers sharing one OPFS table. A table opened with `storage: { kind: "opfs" }` and
// `durability: "sealEveryBatch"` has no write-ahead log: every commit is an SST plus a
// compare-and-swap of the manifest (as Workers share a bucket), so the wasm side opens it
// without the writer lock and every tab may read and write it. What that leaves to this file is
// visibility: a handle sees other handles' commits when it re-reads the manifest. Each commit
// here posts a notice on a BroadcastChannel named after the table; every other handle on it
// re-reads the manifest when the notice arrives, and its reads started meanwhile wait for that,
// so a commit is in every other tab's next read as soon as its notice has been delivered.
// Where BroadcastChannel is missing, handles see other tabs' commits at `refresh()` or with
// `freshness: "strict"`, as on a bucket.

const SHARE = Symbol("anax.share");

/** The channel name of a table opened with `options`, or null when it is not shared this way. */
export function shareName(options) {
  const storage = options?.storage;
  if (typeof BroadcastChannel !== "function" || storage?.kind !== "opfs" || options?.durability !== "sealEveryBatch") return null;
  if (typeof storage.path !== "string") return null;
  // One spelling per directory, as the wasm side normalizes it.
  const path = storage.path.split("/").filter(Boolean).join("/");
  const table = typeof options.tableName === "string" ? options.tableName : "";
  return `anax-table:${path}:${table}`;
}

class Share {
  constructor(db, name, refresh) {
    this.db = db;
    this.refreshView = refresh;
    /** The refresh under way, which reads wait for; null when none is. */
    this.refreshing = null;
    /** A notice came while a refresh was under way: run another after it. */
    this.again = false;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = () => this.refresh();
  }

  notify() {
    try {
      this.channel.postMessage(0);
    } catch {
      // A closed channel (the handle is closing): nobody is left to tell from here.
    }
  }

  refresh() {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        try {
          await this.refreshView.call(this.db);
        } catch {
          // A failed refresh (a closed handle, a storage error) leaves the view as it was: the
          // read that follows reports its own error, or a later notice refreshes again.
        }
      } while (this.again);
    })().finally(() => {
      this.refreshing = null;
    });
  }

  close() {
    this.channel.close();
  }
}

/** Shares `db` with the other handles of the table `name` names (see shareName). */
export function share(db, name, refresh) {
  if (name && db && !db[SHARE]) db[SHARE] = new Share(db, name, refresh);
  return db;
}

/** `method` of a handle, announcing to the table's other handles once its commit resolved. */
export function announcing(method) {
  return function announced(...args) {
    const out = method.apply(this, args);
    const s = this?.[SHARE];
    if (!s || typeof out?.then !== "function") return out;
    return out.then((v) => {
      s.notify();
      return v;
    });
  };
}

/** A transaction's `commit`, announcing on the handle the transaction came from. */
export function announcingCommit(commit, dbOf) {
  return function committed(...args) {
    const out = commit.apply(this, args);
    const s = dbOf(this)?.[SHARE];
    if (!s || typeof out?.then !== "function") return out;
    return out.then((v) => {
      s.notify();
      return v;
    });
  };
}

/** A read `method` of a handle that first waits for a refresh a notice started. */
export function afterNotices(method) {
  return function read(...args) {
    const pending = this?.[SHARE]?.refreshing;
    return pending ? pending.then(() => method.apply(this, args)) : method.apply(this, args);
  };
}

/** `close`, also leaving the table's channel. */
export function closing(close) {
  return function closed(...args) {
    this?.[SHARE]?.close();
    return close.apply(this, args);
  };
}
