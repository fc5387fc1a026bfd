//! Local disk storage (native only). Writes go to a temporary file that is renamed (or
//! hard-linked, for create-if-absent) into place, so a reader never sees a partial object.
//!
//! I/O is synchronous `std::fs`: on a local disk a call is short, and the engine runs on a
//! single-threaded executor anyway. Compare-and-swap ([`PutMode::IfMatch`]) is atomic between
//! handles of one process (a process-wide lock), not yet across processes.
//!
//! Ranged reads reuse open file handles (an SST get touches several column pages of one file);
//! this handle's own puts and deletes drop the cached handle. Whole-object `get` always opens
//! the file afresh, so a reader that must see another process's replacement (the manifest head)
//! uses `get`.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage, clamp};
use crate::error::{Error, Result};

static CAS_LOCK: Mutex<()> = Mutex::new(());
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Open handles kept for ranged reads.
const MAX_OPEN_FILES: usize = 256;

/// An open file and its length (objects are replaced whole, never modified in place).
type OpenFile = std::sync::Arc<(fs::File, u64)>;

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    root: PathBuf,
    sync: bool,
    open: std::sync::Arc<Mutex<std::collections::HashMap<String, OpenFile>>>,
    /// The `LOCK` file, held exclusively while a writer has the directory open, and the
    /// `LOCK.pid` that tells Node's `dir` storage (which cannot see OS locks) the same.
    lock: std::sync::Arc<Mutex<Option<(fs::File, super::pid_lock::PidLock)>>>,
}

impl DiskStorage {
    /// Storage under `root` (created if missing). With `sync`, every put is fsynced (file and
    /// directory) before it resolves.
    pub fn new(root: impl Into<PathBuf>, sync: bool) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| {
            Error::storage(format!("cannot create directory {}: {e}", root.display()))
        })?;
        Ok(Self {
            root,
            sync,
            open: Default::default(),
            lock: Default::default(),
        })
    }

    /// Takes the directory's writer lock (an OS file lock on `LOCK`, held until
    /// [`Storage::close`] or the last clone is dropped, and released by the OS if the process
    /// dies). Two writers appending to one WAL would interleave frames in one segment, and
    /// replay would stop at the second writer's header: a second handle or process gets
    /// `CONFLICT` instead. `LOCK.pid` is taken too (see `pid_lock`), so a Node process
    /// opening the directory as `dir` storage sees this writer, and this one sees Node's.
    pub fn lock_writer(&self) -> Result<()> {
        let path = self.root.join("LOCK");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Conflict(format!(
                    "the database at {} is open for writing in another handle or process (it \
                     holds {}); close that one first",
                    self.root.display(),
                    path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        // On a conflict here the OS lock goes with `file`.
        let pid = super::pid_lock::PidLock::take(&self.root)?;
        *self
            .lock
            .lock()
            .map_err(|_| Error::Internal("disk lock poisoned".into()))? = Some((file, pid));
        Ok(())
    }

    fn file(&self, path: &str) -> Result<PathBuf> {
        let rel = Path::new(path);
        if path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Error::InvalidArgument(format!(
                "invalid object path '{path}'"
            )));
        }
        Ok(self.root.join(rel))
    }

    fn meta_of(&self, path: &str, md: &fs::Metadata) -> ObjectMeta {
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        // Every put writes a new file, so (inode, mtime, size) changes with each version.
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(md);
        #[cfg(not(unix))]
        let inode = 0u64;
        ObjectMeta {
            path: path.to_owned(),
            size: md.len(),
            etag: format!("{inode:x}-{mtime:x}-{:x}", md.len()),
        }
    }

    fn write_tmp(&self, target: &Path, data: &[u8]) -> Result<PathBuf> {
        let dir = target
            .parent()
            .ok_or_else(|| Error::Internal("object path without a parent".into()))?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        if self.sync {
            f.sync_all().map_err(io_err(&tmp))?;
        }
        Ok(tmp)
    }

    fn sync_dir(&self, target: &Path) -> Result<()> {
        if self.sync
            && let Some(dir) = target.parent()
        {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
        }
        Ok(())
    }

    fn forget(&self, path: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(path);
        }
    }

    /// An open handle and the file's length (files are replaced whole, never modified).
    fn cached_file(&self, path: &str) -> Result<OpenFile> {
        if let Some(f) = self.open.lock().ok().and_then(|o| o.get(path).cloned()) {
            return Ok(f);
        }
        let p = self.file(path)?;
        let file = fs::File::open(&p).map_err(not_found_or(path, &p))?;
        let len = file.metadata().map_err(io_err(&p))?.len();
        let f = std::sync::Arc::new((file, len));
        if let Ok(mut open) = self.open.lock() {
            if open.len() >= MAX_OPEN_FILES {
                open.clear();
            }
            open.insert(path.to_owned(), f.clone());
        }
        Ok(f)
    }

    fn put_sync(&self, path: &str, data: &[u8], mode: &PutMode) -> Result<ObjectMeta> {
        self.forget(path);
        let target = self.file(path)?;
        let tmp = self.write_tmp(&target, data)?;
        let result = match mode {
            PutMode::Overwrite => fs::rename(&tmp, &target).map_err(io_err(&target)),
            PutMode::CreateNew => match fs::hard_link(&tmp, &target) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(Error::Conflict(format!("{path} already exists")))
                }
                Err(e) => Err(io_err(&target)(e)),
            },
            PutMode::IfMatch(etag) => {
                let _guard = CAS_LOCK
                    .lock()
                    .map_err(|_| Error::Internal("disk CAS lock poisoned".into()))?;
                match fs::metadata(&target) {
                    Ok(md) if &self.meta_of(path, &md).etag == etag => {
                        fs::rename(&tmp, &target).map_err(io_err(&target))
                    }
                    Ok(_) | Err(_) => {
                        Err(Error::Conflict(format!("{path} changed since it was read")))
                    }
                }
            }
        };
        if !matches!(mode, PutMode::Overwrite) || result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.sync_dir(&target)?;
        let md = fs::metadata(&target).map_err(io_err(&target))?;
        Ok(self.meta_of(path, &md))
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err(&dir))?;
                let p = entry.path();
                let md = entry.metadata().map_err(io_err(&p))?;
                if md.is_dir() {
                    stack.push(p);
                    continue;
                }
                let Ok(rel) = p.strip_prefix(&self.root) else {
                    continue;
                };
                let rel = rel.to_string_lossy().replace('\\', "/");
                let hidden = rel
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".tmp-"));
                if !hidden && rel.starts_with(prefix) {
                    out.push(self.meta_of(&rel, &md));
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

#[cfg(unix)]
fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::storage(format!("{}: {e}", path.display()))
}

fn not_found_or(path: &str, file: &Path) -> impl Fn(std::io::Error) -> Error {
    let path = path.to_owned();
    let file = file.to_path_buf();
    move |e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound(path.clone())
        } else {
            Error::storage(format!("{}: {e}", file.display()))
        }
    }
}

impl Storage for DiskStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let f = self.file(path)?;
            fs::read(&f)
                .map(Bytes::from)
                .map_err(not_found_or(path, &f))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let cached = self.cached_file(path)?;
            let (file, len) = &*cached;
            let r = clamp(range, *len);
            let mut buf = vec![0u8; (r.end - r.start) as usize];
            read_at(file, &mut buf, r.start).map_err(|e| Error::storage(format!("{path}: {e}")))?;
            Ok(Bytes::from(buf))
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move { self.put_sync(path, &data, &mode) })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move { self.list_sync(prefix) })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let f = self.file(path)?;
            self.forget(path);
            match fs::remove_file(&f) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(&f)(e)),
            }
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            let f = self.file(path)?;
            match fs::metadata(&f) {
                Ok(md) => Ok(Some(self.meta_of(path, &md))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(&f)(e)),
            }
        })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            // One descriptor for both: files are replaced by rename, so the bytes and the
            // metadata belong to the same inode, i.e. the same version.
            let f = self.file(path)?;
            let mut file = fs::File::open(&f).map_err(not_found_or(path, &f))?;
            let md = file.metadata().map_err(io_err(&f))?;
            let mut buf = Vec::with_capacity(md.len() as usize);
            std::io::Read::read_to_end(&mut file, &mut buf).map_err(io_err(&f))?;
            Ok((Bytes::from(buf), self.meta_of(path, &md)))
        })
    }

    fn supports_append(&self) -> bool {
        true
    }
    fn conditional_writes_native(&self) -> bool {
        true
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Ok(mut lock) = self.lock.lock() {
                lock.take();
            }
            Ok(())
        })
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let f = self.file(path)?;
            // Appended files change length: drop any cached read handle.
            self.forget(path);
            let dir = f
                .parent()
                .ok_or_else(|| Error::Internal("object path without a parent".into()))?;
            let created = !f.exists();
            if created {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&f)
                .map_err(io_err(&f))?;
            file.write_all(&data).map_err(io_err(&f))?;
            if created {
                // A new file is only durable once its directory entry is.
                self.sync_dir(&f)?;
            }
            Ok(file.metadata().map_err(io_err(&f))?.len())
        })
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let f = self.file(path)?;
            match fs::OpenOptions::new().append(true).open(&f) {
                Ok(file) => file.sync_data().map_err(io_err(&f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(&f)(e)),
            }
        })
    }
}
