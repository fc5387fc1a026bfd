//! A fusio file system as [`Storage`] (native, feature `fusio`), so that the builder takes the
//! file systems tonbo's does: any `DynFs` with `FsCas` for a table
//! ([`crate::DbBuilder::on_durable_fs`], [`crate::DbBuilder::object_store_with_fs`]), and a
//! plain `DynFs` for a log kept elsewhere ([`crate::WalConfig::segment_backend`]).
//!
//! Writes go through fusio's `put_conditional`, which on its local and in-memory backends
//! replaces an object atomically (a temp file renamed over it, under a lock file); a plain
//! overwrite reads the current tag first and swaps against it. Listing follows the backend's
//! shape: local directories are walked (fusio lists one directory level, directories
//! included, plus its own lock and temp files, which are skipped), key-value backends answer a
//! prefix at once. Fusio's dyn file interface has no fsync: an append is flushed to the OS
//! when `sync` returns, which outlives the process but not a power loss on a local disk.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use fusio::fs::FileSystemTag;
use fusio::path::Path;
use fusio::{CasCondition, DynFs, FsCas, OpenOptions, Read as _, Write as _};
use futures_util::StreamExt as _;

use super::{BoxFuture, ObjectMeta, PutMode, Storage, check_relative, clamp, content_etag};
use crate::error::{Error, Result};

/// A fusio file system that can also compare-and-swap, as a table's storage needs.
pub trait FusioFs: DynFs + FsCas {}

impl<T: DynFs + FsCas + ?Sized> FusioFs for T {}

#[derive(Clone)]
enum Backend {
    Cas(Arc<dyn FusioFs>),
    /// A log's own directory: one writer, no compare-and-swap needed but create-if-absent.
    Plain(Arc<dyn DynFs>),
}

/// [`Storage`] on a fusio file system under a root path.
#[derive(Clone)]
pub struct FusioStorage {
    fs: Backend,
    root: String,
}

impl std::fmt::Debug for FusioStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusioStorage")
            .field("root", &self.root)
            .field("cas", &matches!(self.fs, Backend::Cas(_)))
            .finish()
    }
}

/// How often an overwrite retries when another writer replaced the object between reading its
/// tag and swapping.
const OVERWRITE_ATTEMPTS: usize = 16;

fn io_not_found(e: &fusio::Error) -> bool {
    match e {
        fusio::Error::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        fusio::Error::Path(inner) | fusio::Error::Other(inner) => inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound),
        _ => false,
    }
}

fn failed(op: &'static str, path: &str, e: fusio::Error) -> Error {
    match e {
        fusio::Error::PreconditionFailed => {
            Error::Conflict(format!("{path} changed meanwhile ({op})"))
        }
        e if io_not_found(&e) => Error::NotFound(path.to_owned()),
        e => Error::storage(format!("fusio {op} of {path} failed: {e}")).during(op, path),
    }
}

impl FusioStorage {
    /// Storage under `root` (`"/var/data/table"` on a local file system, any name in memory)
    /// of a fusio file system that can compare-and-swap.
    pub fn new(fs: Arc<dyn FusioFs>, root: impl Into<String>) -> FusioStorage {
        FusioStorage {
            fs: Backend::Cas(fs),
            root: trim(root.into()),
        }
    }

    /// Storage on a fusio file system without compare-and-swap, for a write-ahead log that one
    /// writer owns: create-if-absent is checked, then written (no other writer races it), and
    /// replace-if-match is refused.
    pub fn plain(fs: Arc<dyn DynFs>, root: impl Into<String>) -> FusioStorage {
        FusioStorage {
            fs: Backend::Plain(fs),
            root: trim(root.into()),
        }
    }

    fn dyn_fs(&self) -> &dyn DynFs {
        match &self.fs {
            Backend::Cas(fs) => fs.as_ref(),
            Backend::Plain(fs) => fs.as_ref(),
        }
    }

    fn full(&self, path: &str) -> Result<Path> {
        check_relative(path)?;
        Ok(Path::from(self.joined(path)))
    }

    fn joined(&self, path: &str) -> String {
        if self.root.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.root)
        }
    }

    /// `p` (a path fusio reported) relative to the root, or `None` when outside it.
    fn relative(&self, p: &Path) -> Option<String> {
        let s: &str = p.as_ref();
        let s = s.trim_start_matches('/');
        if self.root.is_empty() {
            return Some(s.to_owned());
        }
        s.strip_prefix(self.root.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .map(str::to_owned)
    }

    async fn read_all(&self, path: &str) -> Result<Bytes> {
        let full = self.full(path)?;
        let mut file = self
            .dyn_fs()
            .open_options(&full, OpenOptions::default().read(true))
            .await
            .map_err(|e| failed("get", path, e))?;
        let (r, buf) = file.read_to_end_at(Vec::new(), 0).await;
        r.map_err(|e| failed("get", path, e))?;
        Ok(Bytes::from(buf))
    }

    async fn tagged(&self, path: &str) -> Result<Option<(Bytes, String)>> {
        match &self.fs {
            Backend::Cas(fs) => {
                let full = self.full(path)?;
                let found = fs
                    .load_with_tag(&full)
                    .await
                    .map_err(|e| failed("get", path, e))?;
                Ok(found.map(|(b, tag)| (Bytes::from(b), tag)))
            }
            Backend::Plain(_) => match self.read_all(path).await {
                Ok(b) => {
                    let tag = content_etag(&b);
                    Ok(Some((b, tag)))
                }
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    async fn write_plain(&self, path: &str, data: &Bytes) -> Result<()> {
        let full = self.full(path)?;
        let opts = OpenOptions::default()
            .create(true)
            .write(true)
            .truncate(true);
        let mut file = self
            .dyn_fs()
            .open_options(&full, opts)
            .await
            .map_err(|e| failed("put", path, e))?;
        let (r, _) = file.write_all(data.clone()).await;
        r.map_err(|e| failed("put", path, e))?;
        file.close().await.map_err(|e| failed("put", path, e))
    }

    async fn put_inner(&self, path: &str, data: Bytes, mode: PutMode) -> Result<ObjectMeta> {
        let meta = |etag: String| ObjectMeta {
            path: path.to_owned(),
            size: data.len() as u64,
            etag,
        };
        let fs = match &self.fs {
            Backend::Cas(fs) => fs,
            Backend::Plain(_) => {
                return match mode {
                    PutMode::IfMatch(_) => Err(Error::InvalidArgument(format!(
                        "this fusio file system has no compare-and-swap (FsCas), so {path} \
                         cannot be replaced conditionally; give the table one that has it"
                    ))),
                    PutMode::CreateNew if self.tagged(path).await?.is_some() => {
                        Err(Error::Conflict(format!("{path} already exists")))
                    }
                    _ => {
                        self.write_plain(path, &data).await?;
                        Ok(meta(content_etag(&data)))
                    }
                };
            }
        };
        let full = self.full(path)?;
        let swap =
            |condition: CasCondition| fs.put_conditional(&full, &data, None, None, condition);
        match mode {
            PutMode::CreateNew => swap(CasCondition::IfNotExists)
                .await
                .map(meta)
                .map_err(|e| failed("put", path, e)),
            PutMode::IfMatch(tag) => {
                swap(CasCondition::IfMatch(tag))
                    .await
                    .map(meta)
                    .map_err(|e| match e {
                        // Replacing a missing object is a lost race, as on every backend.
                        e if io_not_found(&e) => Error::Conflict(format!("{path} does not exist")),
                        e => failed("put", path, e),
                    })
            }
            PutMode::Overwrite => {
                for _ in 0..OVERWRITE_ATTEMPTS {
                    let condition = match fs.load_with_tag(&full).await {
                        Ok(Some((_, tag))) => CasCondition::IfMatch(tag),
                        Ok(None) => CasCondition::IfNotExists,
                        Err(e) => return Err(failed("put", path, e)),
                    };
                    match swap(condition).await {
                        Ok(tag) => return Ok(meta(tag)),
                        Err(fusio::Error::PreconditionFailed) => continue,
                        Err(e) if io_not_found(&e) => continue,
                        Err(e) => return Err(failed("put", path, e)),
                    }
                }
                Err(Error::transient(
                    format!("{path} kept changing while it was overwritten"),
                    None,
                )
                .during("put", path))
            }
        }
    }

    /// Every file under directory `dir` (a full path), depth first, for a local file system.
    async fn walk(&self, dir: String, out: &mut Vec<(String, u64)>) -> Result<()> {
        let mut pending = vec![dir];
        while let Some(dir) = pending.pop() {
            let entries = match self.dyn_fs().list(&Path::from(dir.clone())).await {
                Ok(s) => s.collect::<Vec<_>>().await,
                Err(e) if io_not_found(&e) => continue,
                Err(e) => return Err(failed("list", &dir, e)),
            };
            for entry in entries {
                let meta = match entry {
                    Ok(m) => m,
                    Err(e) if io_not_found(&e) => continue,
                    Err(e) => return Err(failed("list", &dir, e)),
                };
                let name: &str = meta.path.as_ref();
                let last = name.rsplit('/').next().unwrap_or(name);
                // fusio's own bookkeeping beside the objects: CAS lock files and temp files.
                if last.ends_with(".lock") || last.starts_with(".tmp-") {
                    continue;
                }
                // A directory lists; a file does not.
                match self.dyn_fs().list(&meta.path).await {
                    Ok(_) => pending.push(name.to_owned()),
                    Err(_) => out.push((name.to_owned(), meta.size)),
                }
            }
        }
        Ok(())
    }
}

fn trim(root: String) -> String {
    root.trim_matches('/').to_owned()
}

impl Storage for FusioStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read_all(path))
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let full = self.full(path)?;
            let mut file = self
                .dyn_fs()
                .open_options(&full, OpenOptions::default().read(true))
                .await
                .map_err(|e| failed("get_range", path, e))?;
            let len = file
                .size()
                .await
                .map_err(|e| failed("get_range", path, e))?;
            let r = clamp(range, len);
            // Bounded by the object's size, not by the caller's range.
            let want = usize::try_from(r.end - r.start)
                .map_err(|_| Error::InvalidArgument(format!("range {r:?} is too large")))?;
            if want == 0 {
                return Ok(Bytes::new());
            }
            let (res, buf) = file.read_exact_at(vec![0u8; want], r.start).await;
            res.map_err(|e| failed("get_range", path, e))?;
            Ok(Bytes::from(buf))
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(self.put_inner(path, data, mode))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            // The directory holding everything that starts with `prefix`.
            let dir = match prefix.rfind('/') {
                Some(i) => self.joined(prefix.get(..i).unwrap_or_default()),
                None => self.root.clone(),
            };
            let mut found: Vec<(String, u64)> = Vec::new();
            if self.dyn_fs().file_system() == FileSystemTag::Local {
                self.walk(format!("/{}", dir.trim_start_matches('/')), &mut found)
                    .await?;
            } else {
                let listed = match self.dyn_fs().list(&Path::from(dir.clone())).await {
                    Ok(s) => s.collect::<Vec<_>>().await,
                    Err(e) if io_not_found(&e) => Vec::new(),
                    Err(e) => return Err(failed("list", prefix, e)),
                };
                for m in listed {
                    let m = m.map_err(|e| failed("list", prefix, e))?;
                    found.push((m.path.as_ref().to_owned(), m.size));
                }
            }
            let mut out: Vec<ObjectMeta> = found
                .into_iter()
                .filter_map(|(p, size)| {
                    let rel = self.relative(&Path::from(p))?;
                    rel.starts_with(prefix).then(|| ObjectMeta {
                        path: rel,
                        size,
                        etag: String::new(),
                    })
                })
                .collect();
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let full = self.full(path)?;
            match self.dyn_fs().remove(&full).await {
                Ok(()) => Ok(()),
                Err(e) if io_not_found(&e) => Ok(()),
                Err(e) => Err(failed("delete", path, e)),
            }
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            Ok(self.tagged(path).await?.map(|(b, etag)| ObjectMeta {
                path: path.to_owned(),
                size: b.len() as u64,
                etag,
            }))
        })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let (bytes, etag) = self
                .tagged(path)
                .await?
                .ok_or_else(|| Error::NotFound(path.to_owned()))?;
            let meta = ObjectMeta {
                path: path.to_owned(),
                size: bytes.len() as u64,
                etag,
            };
            Ok((bytes, meta))
        })
    }

    fn supports_append(&self) -> bool {
        true
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let full = self.full(path)?;
            // Neither create nor truncate clears it: fusio opens for appending then.
            let opts = OpenOptions::default().create(true).write(true);
            let mut file = self
                .dyn_fs()
                .open_options(&full, opts)
                .await
                .map_err(|e| failed("append", path, e))?;
            let (r, _) = file.write_all(data).await;
            r.map_err(|e| failed("append", path, e))?;
            file.flush().await.map_err(|e| failed("append", path, e))?;
            let len = file.size().await.map_err(|e| failed("append", path, e))?;
            file.close().await.map_err(|e| failed("append", path, e))?;
            Ok(len)
        })
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        // Every append closed its file (flushed to the OS); fusio's dyn files cannot fsync.
        let _ = path;
        Box::pin(async { Ok(()) })
    }
}
