// `storage: { kind: "dir", path }` in Node: a directory of the local file system, reached
// through the small synchronous interface the wasm side's `NodeDir` calls (src/storage/
// nodedir.rs). Synchronous on purpose: wasm runs one thread, so each call (a compare-and-swap
// included) runs to its end before any other, as the native disk backend's calls do; and a
// point read that hits the page cache finishes within the call instead of costing a turn of
// the event loop.
//
// The guarantees are the native disk backend's: an object write goes to a temporary file,
// is fsynced, then renamed (or, for create-if-absent, hard-linked) into place, and the
// directory is fsynced, so a put is durable and atomic when it returns; appends (the WAL) are
// made durable by `sync`. Etags are inode, mtime (ns) and size, as the native backend makes
// them: every write makes a new file, so they change with each version.
//
// One writer per directory: `lock` creates `LOCK.pid` exclusively, naming the process (pid,
// host, a random token). A lock whose process is gone (same host, pid not running) is broken;
// one held by a live process, or by another host (whose processes cannot be checked from
// here), is a conflict the caller reports.
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";

/** Read handles kept open at once (files are replaced whole, never changed in place). */
const MAX_OPEN = 64;
const LOCK = "LOCK.pid";
const TMP = ".tmp-";

function etagOf(st) {
  return `${st.ino.toString(16)}-${st.mtimeNs.toString(16)}-${st.size.toString(16)}`;
}

function meta(path, st) {
  return { path, size: Number(st.size), etag: etagOf(st) };
}

const missing = (e) => e?.code === "ENOENT" || e?.code === "ENOTDIR";

/** Whether process `pid` runs on this host (EPERM: it runs, as another user). */
function alive(pid) {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e?.code === "EPERM";
  }
}

function readFully(fd, into, position) {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === into.length ? into : into.subarray(0, done);
}

/** Writes all of `bytes` at the descriptor's position (a write may take only part). */
function writeFully(fd, bytes) {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** The `dir` storage interface over the directory `root` (created when absent). */
export function dirFs(root) {
  if (typeof root !== "string" || root.length === 0) {
    throw Object.assign(new Error('storage.path must be a non-empty directory path for kind "dir"'), { code: "EINVAL" });
  }
  const base = nodePath.resolve(root);
  const token = randomBytes(12).toString("hex");
  const host = hostname();
  const reading = new Map();
  const appending = new Map();
  let tmpCounter = 0;
  let locked = false;

  const full = (p) => nodePath.join(base, ...p.split("/"));

  function forget(p) {
    const fd = reading.get(p);
    if (fd !== undefined) {
      reading.delete(p);
      fs.closeSync(fd);
    }
  }

  function readFd(p) {
    let fd = reading.get(p);
    if (fd === undefined) {
      fd = fs.openSync(full(p), "r");
      if (reading.size >= MAX_OPEN) {
        const [oldest, old] = reading.entries().next().value;
        reading.delete(oldest);
        fs.closeSync(old);
      }
      reading.set(p, fd);
    }
    return fd;
  }

  function syncDir(dir) {
    let fd;
    try {
      fd = fs.openSync(dir, "r");
      fs.fsyncSync(fd);
    } catch (e) {
      // Windows cannot open or fsync a directory; its renames are durable without it.
      if (process.platform !== "win32") throw e;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  function writeTmp(target, bytes) {
    const dir = nodePath.dirname(target);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = nodePath.join(dir, `${TMP}${process.pid}-${token}-${tmpCounter++}`);
    const fd = fs.openSync(tmp, "w");
    try {
      writeFully(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return tmp;
  }

  function readLock(file) {
    try {
      const o = JSON.parse(fs.readFileSync(file, "utf8"));
      return o && typeof o === "object" ? o : {};
    } catch (e) {
      if (missing(e)) return null;
      // Cut or foreign contents: nobody this code can check holds it.
      return {};
    }
  }

  function describeHolder(o) {
    if (!o || o.pid === undefined) return `an unknown holder (${nodePath.join(base, LOCK)} cannot be read)`;
    return `process ${o.pid} on host ${o.host}`;
  }

  return {
    /** The whole object. */
    read(p) {
      return fs.readFileSync(full(p));
    },

    /** Bytes [start, end) of the object, clamped to its end. */
    readRange(p, start, end) {
      const fd = readFd(p);
      const size = fs.fstatSync(fd).size;
      const from = Math.min(start, size);
      const to = Math.min(end, size);
      return readFully(fd, Buffer.allocUnsafe(to - from), from);
    },

    /** The whole object and the metadata of exactly that version (one descriptor for both). */
    readObject(p) {
      const fd = fs.openSync(full(p), "r");
      try {
        const st = fs.fstatSync(fd, { bigint: true });
        const bytes = readFully(fd, Buffer.allocUnsafe(Number(st.size)), 0);
        return { bytes, ...meta(p, st) };
      } finally {
        fs.closeSync(fd);
      }
    },

    /** The object's metadata, or null. */
    head(p) {
      try {
        const st = fs.statSync(full(p), { bigint: true });
        return st.isFile() ? meta(p, st) : null;
      } catch (e) {
        if (missing(e)) return null;
        throw e;
      }
    },

    /**
     * Writes the object durably: `mode` "overwrite", "create" (null if it exists) or "match"
     * (null unless its etag is `etag`). The metadata of what was written, or null on conflict.
     */
    write(p, bytes, mode, etag) {
      forget(p);
      const target = full(p);
      const tmp = writeTmp(target, bytes);
      try {
        if (mode === "create") {
          try {
            fs.linkSync(tmp, target);
          } catch (e) {
            if (e?.code === "EEXIST") return null;
            throw e;
          }
        } else {
          if (mode === "match") {
            let current;
            try {
              current = etagOf(fs.statSync(target, { bigint: true }));
            } catch (e) {
              if (missing(e)) return null;
              throw e;
            }
            if (current !== etag) return null;
          }
          fs.renameSync(tmp, target);
        }
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      syncDir(nodePath.dirname(target));
      return meta(p, fs.statSync(target, { bigint: true }));
    },

    /** Every object whose path starts with `prefix` (temporary files and the lock left out). */
    list(prefix) {
      const out = [];
      const stack = [""];
      while (stack.length > 0) {
        const rel = stack.pop();
        let entries;
        try {
          entries = fs.readdirSync(rel ? full(rel) : base, { withFileTypes: true });
        } catch (e) {
          if (missing(e)) continue;
          throw e;
        }
        for (const entry of entries) {
          const p = rel ? `${rel}/${entry.name}` : entry.name;
          if (entry.isDirectory()) {
            // Only directories that can hold a match.
            if (prefix.startsWith(`${p}/`) || p.startsWith(prefix)) stack.push(p);
          } else if (entry.isFile() && !entry.name.startsWith(TMP) && !(rel === "" && entry.name === LOCK) && p.startsWith(prefix)) {
            try {
              out.push(meta(p, fs.statSync(full(p), { bigint: true })));
            } catch (e) {
              if (!missing(e)) throw e;
            }
          }
        }
      }
      return out;
    },

    /** Removes the object; an absent one is fine. */
    delete(p) {
      forget(p);
      const fd = appending.get(p);
      if (fd !== undefined) {
        appending.delete(p);
        fs.closeSync(fd);
      }
      fs.rmSync(full(p), { force: true });
    },

    /** Appends to the object (created when absent); its new length. Durable after `sync`. */
    append(p, bytes) {
      forget(p);
      let fd = appending.get(p);
      if (fd === undefined) {
        const target = full(p);
        const created = !fs.existsSync(target);
        if (created) fs.mkdirSync(nodePath.dirname(target), { recursive: true });
        fd = fs.openSync(target, "a");
        appending.set(p, fd);
        // A new file is only durable once its directory entry is.
        if (created) syncDir(nodePath.dirname(target));
      }
      writeFully(fd, bytes);
      return fs.fstatSync(fd).size;
    },

    /** Makes what was appended to the object durable. */
    sync(p) {
      const fd = appending.get(p);
      if (fd !== undefined) fs.fdatasyncSync(fd);
    },

    /** Takes the directory's writer lock: null when taken, else who holds it. */
    lock() {
      fs.mkdirSync(base, { recursive: true });
      const file = nodePath.join(base, LOCK);
      const me = JSON.stringify({ pid: process.pid, host, token });
      for (let attempt = 0; attempt < 4; attempt++) {
        try {
          const fd = fs.openSync(file, "wx");
          try {
            fs.writeSync(fd, me);
            fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
          syncDir(base);
          locked = true;
          return null;
        } catch (e) {
          if (e?.code !== "EEXIST") throw e;
        }
        const holder = readLock(file);
        if (holder === null) continue; // released meanwhile
        if (holder.host !== host || alive(holder.pid)) return describeHolder(holder);
        // Its process is gone: move the lock aside, and make sure what moved is that stale
        // lock, not a live one another process took after it broke the same stale lock.
        const aside = `${file}.stale-${token}`;
        try {
          fs.renameSync(file, aside);
        } catch (e) {
          if (missing(e)) continue;
          throw e;
        }
        const moved = readLock(aside);
        if (moved?.token === holder.token) {
          fs.rmSync(aside, { force: true });
          continue;
        }
        // A live lock: put it back (unless yet another process took the name meanwhile).
        try {
          fs.linkSync(aside, file);
        } catch {
          // Left aside for inspection; the name is held by someone else now.
          return describeHolder(moved);
        }
        fs.rmSync(aside, { force: true });
        return describeHolder(moved);
      }
      return describeHolder(readLock(file));
    },

    /** Closes every handle and gives the writer lock up (if it is still this process's). */
    close() {
      for (const fd of reading.values()) fs.closeSync(fd);
      reading.clear();
      for (const fd of appending.values()) fs.closeSync(fd);
      appending.clear();
      if (locked) {
        locked = false;
        const file = nodePath.join(base, LOCK);
        if (readLock(file)?.token === token) fs.rmSync(file, { force: true });
      }
    },
  };
}
