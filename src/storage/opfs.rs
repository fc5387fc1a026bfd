//! The browser's Origin Private File System as [`Storage`].
//!
//! Objects are files in nested directories under a root directory. Whole-object writes go
//! through `createWritable()` (the browser writes a swap file and swaps it in on `close()`, so
//! a put is atomic and durable when it resolves) on the main thread and in workers alike.
//! Appends (the WAL) use a `FileSystemSyncAccessHandle` in a dedicated worker (the fast path:
//! one open handle, writes at the end, `flush()` on sync) and `createWritable({ keepExistingData
//! })` on the main thread. Compare-and-swap runs under a Web Lock named after the object, so it
//! is atomic across tabs and workers of the origin; etags are CRC32C + size of the content.
//! A database with a write-ahead log has one writer at a time: [`Opfs::open`] takes an
//! exclusive Web Lock for the root and fails with `CONFLICT` while another tab or worker holds
//! it. One that seals every batch is opened by [`Opfs::open_shared`] in any number of tabs and
//! workers at once (reads take no lock: whole files are swapped in, never written in place).

use std::cell::RefCell;
use std::ops::Range;

use bytes::Bytes;
use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, File, FileSystemCreateWritableOptions, FileSystemDirectoryHandle as Dir,
    FileSystemFileHandle, FileSystemGetDirectoryOptions, FileSystemGetFileOptions,
    FileSystemHandle, FileSystemHandleKind, FileSystemReadWriteOptions,
    FileSystemSyncAccessHandle as SyncHandle, FileSystemWritableFileStream as Writable,
    StorageManager,
};

use super::js::get;
use super::web_locks::{Hold, with_lock};
use super::{BoxFuture, ObjectMeta, PutMode, Storage, content_etag};
use crate::error::{Error, Result};

fn js_err(what: &str, path: &str, e: &JsValue) -> Error {
    super::js::error("OPFS", what, path, e)
}

/// A promise's value as `T` (what the API promises; unchecked, as the spec fixes it).
async fn settle<T: JsCast>(p: Promise, what: &str, path: &str) -> Result<T> {
    JsFuture::from(p)
        .await
        .map(JsCast::unchecked_into)
        .map_err(|e| js_err(what, path, &e))
}

/// [`settle`] for the methods that may also throw before returning their promise.
async fn settle_or_throw<T: JsCast>(
    p: std::result::Result<Promise, JsValue>,
    what: &str,
    path: &str,
) -> Result<T> {
    settle(p.map_err(|e| js_err(what, path, &e))?, what, path).await
}

async fn subdir(dir: &Dir, name: &str, create: bool, path: &str) -> Result<Dir> {
    let o = FileSystemGetDirectoryOptions::new();
    o.set_create(create);
    settle(
        dir.get_directory_handle_with_options(name, &o),
        "getDirectoryHandle",
        path,
    )
    .await
}

/// The appender of a dedicated worker: one sync access handle kept open on the file being
/// appended to (they lock the file, so it is closed before any other access to it).
#[derive(Debug)]
struct Appender {
    path: String,
    handle: SyncHandle,
    /// The file's size: read once when the handle opens, then advanced by each append (no
    /// one else writes the file while this handle is open: other access releases it first).
    /// `getSize()` costs as much as the write itself in Chromium.
    size: f64,
}

/// The object other tabs swap new content into while this one may be looking it up (see
/// `Opfs::read`); the manifest's name for its head.
const SWAPPED: &str = "manifest/HEAD";

/// OPFS storage rooted at a directory path (e.g. `"anax/mydb"`).
#[derive(Debug)]
pub struct Opfs {
    root: Dir,
    name: String,
    sync_handles: bool,
    /// Opened by [`Opfs::open_shared`]: other tabs and workers write here at the same time.
    shared: bool,
    /// This handle has read or written the manifest head: the table exists (see `read`).
    head_seen: std::rc::Rc<std::cell::Cell<bool>>,
    appender: RefCell<Option<Appender>>,
    /// Resolving this releases the root's writer lock.
    release: RefCell<Option<Function>>,
}

impl Drop for Opfs {
    fn drop(&mut self) {
        if let Some(a) = self.appender.borrow_mut().take() {
            a.handle.close();
        }
        if let Some(r) = self.release.borrow_mut().take() {
            let _ = r.call0(&JsValue::UNDEFINED);
        }
    }
}

impl Opfs {
    /// Opens (creating) the directory `path` under the origin's OPFS root and takes the
    /// database's writer lock; `CONFLICT` when another tab or worker holds it.
    pub async fn open(path: &str) -> Result<Self> {
        Self::open_waiting(path, 0).await
    }

    /// [`Opfs::open`], waiting up to `lock_wait_ms` for another tab or worker to give the
    /// writer lock up (a reloaded page whose old worker is still closing, a tab handing over)
    /// before `CONFLICT`; 0 does not wait.
    pub async fn open_waiting(path: &str, lock_wait_ms: u32) -> Result<Self> {
        let me = Self::open_dir(path).await?;
        me.take_writer_lock(lock_wait_ms, false).await?;
        Ok(me)
    }

    /// Opens (creating) the directory `path` for a table every tab and worker of the origin
    /// writes at once: one with no write-ahead log (seal every batch), whose commits are
    /// compare-and-swaps of the manifest under its Web Lock, as on a bucket shared by several
    /// Workers. The writer lock is held shared: shared handles coexist, and a handle with a
    /// WAL (which takes it exclusively) and shared ones refuse each other (`CONFLICT`, after
    /// `lock_wait_ms`).
    pub async fn open_shared(path: &str, lock_wait_ms: u32) -> Result<Self> {
        let mut me = Self::open_dir(path).await?;
        me.shared = true;
        me.take_writer_lock(lock_wait_ms, true).await?;
        Ok(me)
    }

    async fn open_dir(path: &str) -> Result<Self> {
        // One spelling per directory, so "db", "/db" and "db/" share one writer lock.
        let normalized = path
            .split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if normalized.is_empty() {
            return Err(Error::InvalidArgument(
                "the OPFS path must name a directory, e.g. \"anax/mydb\"".into(),
            ));
        }
        let path = normalized.as_str();
        let global = js_sys::global();
        // `navigator.storage` is typed in web-sys only behind its unstable flag; the manager
        // itself is not.
        let storage = get(&get(&global, "navigator"), "storage");
        if storage.is_undefined() {
            return Err(Error::InvalidArgument(
                "OPFS is not available here (navigator.storage is missing); use a browser \
                 page or worker served over https or localhost"
                    .into(),
            ));
        }
        let storage: StorageManager = storage.unchecked_into();
        let mut dir: Dir = settle(storage.get_directory(), "getDirectory", path).await?;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            dir = subdir(&dir, part, true, path).await?;
        }
        // Sync access handles exist only in dedicated workers.
        let sync_handles = get(&global, "FileSystemSyncAccessHandle").is_function()
            && get(&global, "document").is_undefined();
        let me = Self {
            root: dir,
            name: path.to_owned(),
            sync_handles,
            shared: false,
            head_seen: Default::default(),
            appender: RefCell::new(None),
            release: RefCell::new(None),
        };
        Ok(me)
    }

    /// Holds `anax-writer:{path}` (exclusively, or `shared` with other shared handles) until
    /// this storage is dropped, waiting up to `wait_ms` for it.
    async fn take_writer_lock(&self, wait_ms: u32, shared: bool) -> Result<()> {
        let name = format!("anax-writer:{}", self.name);
        match super::web_locks::hold(&name, wait_ms, shared).await? {
            Hold::Unsupported => Ok(()),
            Hold::Granted(release) => {
                *self.release.borrow_mut() = Some(release);
                Ok(())
            }
            Hold::Refused => {
                let waited = if wait_ms == 0 {
                    String::new()
                } else {
                    format!(" (still after waiting {wait_ms} ms)")
                };
                Err(Error::Conflict(if shared {
                    format!(
                        "the database at OPFS '{}' is open with its write-ahead log in another tab \
                         or worker{waited}; open it there with durability \"sealEveryBatch\" too \
                         (then every tab can), or close it there first",
                        self.name
                    )
                } else {
                    format!(
                        "the database at OPFS '{}' is open in another tab or worker{waited}; close \
                         it there first, give storage.lockWaitMs to wait for it, or open it with \
                         durability \"sealEveryBatch\" in every tab to share it",
                        self.name
                    )
                }))
            }
        }
    }

    /// The directory holding `path` and the file name (creating directories when asked).
    async fn locate(&self, path: &str, create: bool) -> Result<(Dir, String)> {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let file = parts
            .pop()
            .ok_or_else(|| Error::InvalidArgument(format!("invalid object path '{path}'")))?;
        let mut dir = self.root.clone();
        for p in parts {
            dir = subdir(&dir, p, create, path).await?;
        }
        Ok((dir, file.to_owned()))
    }

    async fn file(&self, path: &str, create: bool) -> Result<FileSystemFileHandle> {
        let (dir, name) = self.locate(path, create).await?;
        let o = FileSystemGetFileOptions::new();
        o.set_create(create);
        settle(
            dir.get_file_handle_with_options(&name, &o),
            "getFileHandle",
            path,
        )
        .await
    }

    /// Closes the worker's open append handle if it is on `path` (before other access).
    async fn release_appender(&self, path: &str) -> Result<()> {
        let open = self
            .appender
            .borrow()
            .as_ref()
            .is_some_and(|a| a.path == path);
        let taken = if open {
            self.appender.borrow_mut().take()
        } else {
            None
        };
        if let Some(a) = taken {
            a.handle.flush().map_err(|e| js_err("flush", path, &e))?;
            a.handle.close();
        }
        Ok(())
    }

    /// The file at `path` as it is now (a `File` is a snapshot of it).
    async fn snapshot(&self, path: &str) -> Result<File> {
        let handle = self.file(path, false).await?;
        settle(handle.get_file(), "getFile", path).await
    }

    /// Whether a missing `path` is to be looked up again after `tries` (see `read`).
    fn retry_head(&self, path: &str, tries: u32) -> bool {
        self.shared && path == SWAPPED && tries < 10 && self.head_seen.get()
    }

    async fn read(&self, path: &str, range: Option<Range<u64>>) -> Result<Bytes> {
        self.release_appender(path).await?;
        let mut tries = 0;
        loop {
            let file = match self.snapshot(path).await {
                // The manifest head, rewritten in place (a writable's close() replaces the file
                // with its swap file, `{name}.crswap`), must never read as missing on a shared
                // table. Once this handle has seen the head, a missing one is looked up again
                // for up to ~0.6 s; a new table's head, never seen, is missing at once. (A
                // guard: the "head disappeared during a commit" the Chromium tests met was the
                // snapshot read below, not a lookup.)
                Err(Error::NotFound(_)) if self.retry_head(path, tries) => {
                    tries += 1;
                    crate::runtime::timer::sleep(1 << tries.min(7)).await;
                    continue;
                }
                other => other?,
            };
            let blob: Blob = match range.clone() {
                Some(r) => {
                    let r = super::clamp(r, file.size() as u64);
                    file.slice_with_f64_and_f64(r.start as f64, r.end as f64)
                        .map_err(|e| js_err("slice", path, &e))?
                }
                None => file.into(),
            };
            match JsFuture::from(blob.array_buffer()).await {
                Ok(buf) => {
                    if path == SWAPPED {
                        self.head_seen.set(true);
                    }
                    return Ok(Bytes::from(Uint8Array::new(&buf).to_vec()));
                }
                // A `File` is a snapshot: when another tab swaps a new content in (a manifest
                // commit) or deletes the file (GC) before its bytes are read, reading it
                // fails (`NotReadableError`, or `NotFoundError` for the replaced file). Look
                // the file up again: the new content, or NOT_FOUND, is the answer.
                Err(e)
                    if tries < 3
                        && matches!(
                            get(&e, "name").as_string().as_deref(),
                            Some("NotReadableError" | "NotFoundError")
                        ) =>
                {
                    tries += 1;
                }
                Err(e) => return Err(js_err("arrayBuffer", path, &e)),
            }
        }
    }

    async fn write_whole(&self, path: &str, data: &[u8]) -> Result<()> {
        self.release_appender(path).await?;
        let handle = self.file(path, true).await?;
        let w: Writable = settle(handle.create_writable(), "createWritable", path).await?;
        settle_or_throw::<JsValue>(w.write_with_u8_array(data), "write", path).await?;
        // close() swaps the new content in atomically.
        settle::<JsValue>(w.close(), "close", path).await?;
        Ok(())
    }
}

impl Storage for Opfs {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(path, None))
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let b = self.read(path, None).await?;
            let meta = ObjectMeta {
                path: path.to_owned(),
                size: b.len() as u64,
                etag: content_etag(&b),
            };
            Ok((b, meta))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(path, Some(range)))
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let meta = ObjectMeta {
                path: path.to_owned(),
                size: data.len() as u64,
                etag: content_etag(&data),
            };
            if mode == PutMode::Overwrite {
                self.write_whole(path, &data).await?;
                return Ok(meta);
            }
            // Check and write under the object's Web Lock: atomic for the whole origin. The
            // lock's callback must own what it uses, so it re-opens the directory handle.
            let root = self.root.clone();
            let owned_path = path.to_owned();
            let lock = format!("anax-object:{}/{path}", self.name);
            let me = Opfs {
                root,
                name: self.name.clone(),
                sync_handles: false,
                // A conditional put's check reads the head as any read does (see `read`).
                shared: self.shared,
                head_seen: self.head_seen.clone(),
                appender: RefCell::new(None),
                release: RefCell::new(None),
            };
            self.release_appender(path).await?;
            with_lock(&lock, async move {
                let current = match me.read(&owned_path, None).await {
                    Ok(b) => Some(content_etag(&b)),
                    Err(Error::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                match (&mode, current) {
                    (PutMode::CreateNew, Some(_)) => {
                        return Err(Error::Conflict(format!("{owned_path} already exists")));
                    }
                    (PutMode::IfMatch(want), cur) if cur.as_ref() != Some(want) => {
                        return Err(Error::Conflict(format!(
                            "{owned_path} changed since it was read"
                        )));
                    }
                    _ => {}
                }
                me.write_whole(&owned_path, &data).await?;
                Ok(JsValue::UNDEFINED)
            })
            .await?;
            if path == SWAPPED {
                self.head_seen.set(true);
            }
            Ok(meta)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut stack = vec![(self.root.clone(), String::new())];
            while let Some((dir, base)) = stack.pop() {
                let it = dir.entries();
                loop {
                    let step: js_sys::IteratorNext =
                        settle_or_throw(it.next(), "entries", prefix).await?;
                    if step.done() {
                        break;
                    }
                    // Each step is a [name, handle] pair.
                    let pair: js_sys::Array = step.value().unchecked_into();
                    let name = pair.get(0).as_string().unwrap_or_default();
                    let handle: FileSystemHandle = pair.get(1).unchecked_into();
                    let full = if base.is_empty() {
                        name
                    } else {
                        format!("{base}/{name}")
                    };
                    if handle.kind() == FileSystemHandleKind::Directory {
                        // Only descend where the prefix can still match.
                        let dir_prefix = format!("{full}/");
                        if dir_prefix.starts_with(prefix) || prefix.starts_with(&dir_prefix) {
                            stack.push((handle.unchecked_into(), full));
                        }
                    } else if full.starts_with(prefix) {
                        self.release_appender(&full).await?;
                        let handle: FileSystemFileHandle = handle.unchecked_into();
                        let file: File = settle(handle.get_file(), "getFile", &full).await?;
                        let size = file.size() as u64;
                        out.push(ObjectMeta {
                            path: full,
                            size,
                            etag: String::new(),
                        });
                    }
                }
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.release_appender(path).await?;
            let (dir, name) = match self.locate(path, false).await {
                Ok(x) => x,
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            match settle::<JsValue>(dir.remove_entry(&name), "removeEntry", path).await {
                Ok(_) | Err(Error::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            match self.get_object(path).await {
                Ok((_, m)) => Ok(Some(m)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn supports_append(&self) -> bool {
        true
    }
    fn conditional_writes_native(&self) -> bool {
        true
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            if !self.sync_handles {
                // Main thread: a writable stream that keeps the file, written at its end.
                let handle = self.file(path, true).await?;
                let file: File = settle(handle.get_file(), "getFile", path).await?;
                let size = file.size();
                let o = FileSystemCreateWritableOptions::new();
                o.set_keep_existing_data(true);
                let w: Writable = settle(
                    handle.create_writable_with_options(&o),
                    "createWritable",
                    path,
                )
                .await?;
                settle_or_throw::<JsValue>(w.seek_with_f64(size), "seek", path).await?;
                settle_or_throw::<JsValue>(w.write_with_u8_array(&data), "write", path).await?;
                settle::<JsValue>(w.close(), "close", path).await?;
                return Ok(size as u64 + data.len() as u64);
            }
            let current = self.appender.borrow().as_ref().map(|a| a.path.clone());
            if current.as_deref() != Some(path) {
                if let Some(old) = current {
                    self.release_appender(&old).await?;
                }
                let handle = self.file(path, true).await?;
                let h: SyncHandle = settle(
                    handle.create_sync_access_handle(),
                    "createSyncAccessHandle",
                    path,
                )
                .await?;
                let size = match h.get_size() {
                    Ok(n) => n,
                    Err(e) => {
                        h.close();
                        return Err(js_err("getSize", path, &e));
                    }
                };
                *self.appender.borrow_mut() = Some(Appender {
                    path: path.to_owned(),
                    handle: h,
                    size,
                });
            }
            let (h, size) = self
                .appender
                .borrow()
                .as_ref()
                .map(|a| (a.handle.clone(), a.size))
                .ok_or_else(|| Error::Internal("no OPFS append handle".into()))?;
            // Sync access handle calls are synchronous; offsets are doubles (no 2 GiB limit).
            let at = FileSystemReadWriteOptions::new();
            at.set_at(size);
            let written = match h.write_with_u8_array_and_options(&data, &at) {
                Ok(n) => n,
                Err(e) => {
                    // The size is unknown after a failed write: reopen (and re-read it) next time.
                    self.release_appender(path).await.ok();
                    return Err(js_err("write", path, &e));
                }
            };
            if written as usize != data.len() {
                self.release_appender(path).await.ok();
                return Err(Error::storage(format!(
                    "OPFS append {path}: wrote {written} of {} bytes",
                    data.len()
                )));
            }
            if let Some(a) = self.appender.borrow_mut().as_mut() {
                a.size = size + written;
            }
            Ok(size as u64 + data.len() as u64)
        })
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let h = self
                .appender
                .borrow()
                .as_ref()
                .filter(|a| a.path == path)
                .map(|a| a.handle.clone());
            if let Some(h) = h {
                h.flush().map_err(|e| js_err("flush", path, &e))?;
            }
            // Main-thread appends are durable when their writable closes.
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let open = self.appender.borrow().as_ref().map(|a| a.path.clone());
            if let Some(p) = open {
                self.release_appender(&p).await?;
            }
            if let Some(r) = self.release.borrow_mut().take() {
                let _ = r.call0(&JsValue::UNDEFINED);
            }
            Ok(())
        })
    }
}
