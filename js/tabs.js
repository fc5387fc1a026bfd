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

// A handle dropped without close() leaves its channel when it is collected: the channel's
// listener keeps the Share alive, so the Share holds its handle weakly.
const dropped = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((share) => share.close()) : null;

/** The channel name of a table opened with `options`, or null when it is not shared this way. */
export function shareName(options) {
  const storage = options?.storage;
  if (typeof BroadcastChannel !== "function" || storage?.kind !== "opfs" || options?.durability !== "sealEveryBatch") return null;
  if (typeof storage.path !== "string") return null;
  // One spelling per directory, as the wasm side normalizes it; a directory holds one table.
  return `anax-table:${storage.path.split("/").filter(Boolean).join("/")}`;
}

// Made apart from Share's constructor: a closure over `db` there would share its scope with the
// channel's listener, which would then hold the handle strongly.
function weakly(db) {
  return typeof WeakRef === "function" ? new WeakRef(db) : { deref: () => db };
}

/**
 * `options` for opening a shared table: unless the caller chose `compaction.automatic`, the
 * handle's automatic jobs are turned off and run here instead (see Share.maintain), one tab
 * at a time. Returns [options, whether this file runs the jobs].
 */
export function sharedOptions(options) {
  if (options?.compaction?.automatic !== undefined) return [options, false];
  return [{ ...options, compaction: { ...options?.compaction, automatic: false } }, true];
}

class Share {
  constructor(db, name, refresh, compacts = false) {
    this.db = weakly(db);
    /** Whether this file runs the handle's compaction jobs (sharedOptions). */
    this.compacts = compacts;
    this.compactLock = `anax-compact:${name}`;
    /** The job round under way; null when none is. */
    this.maintaining = null;
    /** A commit came while a round ran: run another after it. */
    this.maintainAgain = false;
    this.refreshView = refresh;
    /** The refresh under way; null when none is. */
    this.running = null;
    /** The refresh promised to notices that came while one was under way; null when none. */
    this.queued = null;
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

  /**
   * What a read must wait for: the refresh that covers every notice received so far (the
   * queued one, else the one under way). A read waits for at most two refreshes, however
   * fast notices come.
   */
  get pending() {
    return this.queued ?? this.running;
  }

  refresh() {
    // A refresh already promised to start after the running one covers this notice too.
    if (this.queued) return;
    if (this.running) {
      this.queued = this.running.then(() => {
        this.queued = null;
        return this.run();
      });
      return;
    }
    this.run();
  }

  run() {
    const p = (async () => {
      try {
        const db = this.db.deref();
        if (!db) return this.close();
        await this.refreshView.call(db);
      } catch {
        // A failed refresh (a closed handle, a storage error) leaves the view as it was: the
        // read that follows reports its own error, or a later notice refreshes again.
      }
    })();
    this.running = p;
    p.then(() => {
      if (this.running === p) this.running = null;
    });
    return p;
  }

  /**
   * After a commit: the compaction jobs the strategy wants, run by one tab at a time. Every tab
   * sees the same files, so without this each would merge the same L0 files and all but one
   * would lose its compare-and-swap (the work and the OPFS writes wasted). A tab that finds
   * the lock taken skips: the holder's round, and the next commit's, cover the files. Runs
   * after the commit resolved, so a put never waits for a merge.
   */
  maintain() {
    if (!this.compacts) return;
    if (this.maintaining) {
      this.maintainAgain = true;
      return;
    }
    const locks = globalThis.navigator?.locks;
    this.maintaining = (async () => {
      do {
        this.maintainAgain = false;
        const db = this.db.deref();
        if (!db) return;
        try {
          if (typeof locks?.request === "function") {
            await locks.request(this.compactLock, { ifAvailable: true }, async (lock) => {
              if (lock) await db.compactPending(4);
            });
          } else {
            await db.compactPending(4);
          }
        } catch {
          // A job that lost its race or a handle closing: the next commit tries again.
        }
      } while (this.maintainAgain);
    })().finally(() => {
      this.maintaining = null;
    });
  }

  close() {
    this.channel.close();
    dropped?.unregister(this);
  }
}

/**
 * Shares `db` with the other handles of the table `name` names (see shareName); `compacts`:
 * this file runs its compaction jobs (see sharedOptions).
 */
export function share(db, name, refresh, compacts = false) {
  if (name && db && !db[SHARE]) {
    db[SHARE] = new Share(db, name, refresh, compacts);
    dropped?.register(db, db[SHARE], db[SHARE]);
  }
  return db;
}

/**
 * `method` of a handle (or, with `handleOf`, of an object made by one: a transaction),
 * announcing to the table's other handles once its commit resolved.
 */
export function announcing(method, handleOf = (self) => self) {
  return function announced(...args) {
    const out = method.apply(this, args);
    const s = handleOf(this)?.[SHARE];
    if (!s || typeof out?.then !== "function") return out;
    return out.then((v) => {
      s.notify();
      s.maintain();
      return v;
    });
  };
}

/** A read `method` of a handle that first waits for a refresh a notice started. */
export function afterNotices(method) {
  return function read(...args) {
    const pending = this?.[SHARE]?.pending;
    return pending ? pending.then(() => method.apply(this, args)) : method.apply(this, args);
  };
}

/**
 * `close`, then a notice (with `commitAckMode: "fast"` the close publishes what the handle's
 * puts left unpublished), then leaving the table's channel.
 */
export function closing(close) {
  return function closed(...args) {
    const s = this?.[SHARE];
    const out = close.apply(this, args);
    if (!s) return out;
    return Promise.resolve(out).finally(() => {
      s.notify();
      s.close();
    });
  };
}
