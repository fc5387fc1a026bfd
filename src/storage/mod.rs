//! The one narrow async storage interface every layer above uses, and its backends.
//!
//! Objects are immutable blobs addressed by a `/`-separated path under the database root. The
//! only mutable object (the manifest head) moves by compare-and-swap: [`PutMode::CreateNew`]
//! (create-if-absent) and [`PutMode::IfMatch`] (replace only the version you read). A lost race
//! is always [`crate::Error::Conflict`], whatever the backend said.
//!
//! Futures are not `Send`: Anax runs on a single-threaded executor (wasm has no other), and the
//! browser/Workers backends hold JS values.

#[cfg(target_arch = "wasm32")]
mod bucket;
pub mod conformance;
mod counting;
#[cfg(not(target_arch = "wasm32"))]
mod disk;
mod fault;
#[cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
mod fusio;
#[cfg(target_arch = "wasm32")]
pub(crate) mod js;
#[cfg(not(target_arch = "wasm32"))]
mod latency;
mod memory;
#[cfg(target_arch = "wasm32")]
mod nodedir;
#[cfg(target_arch = "wasm32")]
mod opfs;
#[cfg(not(target_arch = "wasm32"))]
mod pid_lock;
mod prefixed;
mod retry;
pub mod s3;
#[cfg(target_arch = "wasm32")]
mod web_locks;

use std::fmt::Debug;
use std::ops::Range;

use bytes::Bytes;

use crate::error::{Error, Result};

#[cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
pub use self::fusio::{FusioFs, FusioStorage};
#[cfg(target_arch = "wasm32")]
pub use bucket::JsBucket;
pub use counting::{CountingStorage, RequestCounts};
#[cfg(not(target_arch = "wasm32"))]
pub use disk::DiskStorage;
pub use fault::{FaultMode, FaultStorage};
#[cfg(not(target_arch = "wasm32"))]
pub use latency::{Latency, LatencyStorage};
pub use memory::MemoryStorage;
#[cfg(target_arch = "wasm32")]
pub use nodedir::NodeDir;
#[cfg(target_arch = "wasm32")]
pub use opfs::Opfs;
pub use prefixed::Prefixed;
pub use retry::{DEFAULT_RETRY, Retrying};

pub use crate::runtime::{BoxFuture, MaybeSendSync};

/// What a listing or a write reports about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's path.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// An opaque version tag: equal tags mean equal contents of this path.
    pub etag: String,
}

/// How a put treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Fail with a conflict if the path exists.
    CreateNew,
    /// Replace only if the current version's etag is this one; else a conflict.
    IfMatch(String),
}

/// An object store. Paths never start with `/`.
pub trait Storage: Debug + MaybeSendSync {
    /// The whole object; [`crate::Error::NotFound`] when absent.
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>>;
    /// Bytes `range` of the object (clamped to its end).
    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>>;
    /// Writes an object.
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>>;
    /// Every object whose path starts with `prefix`, sorted by path.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>>;
    /// Removes an object; removing an absent one succeeds.
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>>;
    /// The object's metadata, or `None`.
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>>;

    /// The whole object and the metadata of exactly that version (its etag is what a later
    /// `IfMatch` must name). The default asks `head` first, then `get`: the etag is then never
    /// newer than the bytes, so a compare-and-swap based on it can only fail, never clobber.
    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let meta = self
                .head(path)
                .await?
                .ok_or_else(|| Error::NotFound(path.to_owned()))?;
            let bytes = self.get(path).await?;
            Ok((bytes, meta))
        })
    }

    /// Whether this backend's conditional writes are Anax's own code (memory, local disk,
    /// Node's `dir`, OPFS) rather than a server's: a new table then skips the check that a
    /// server honours `If-None-Match`/`If-Match` (four calls, in sequence, before the first
    /// open returns). Wrappers forward it; anything else keeps the check.
    fn conditional_writes_native(&self) -> bool {
        false
    }

    /// Whether [`Storage::append`] and [`Storage::sync`] work: true for file-like backends
    /// (disk, OPFS, memory) that can host a write-ahead log; object stores cannot append.
    fn supports_append(&self) -> bool {
        false
    }

    /// Appends `data` to the object (creating it when absent) and returns its new length. The
    /// bytes are readable at once but only durable after [`Storage::sync`].
    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        let _ = data;
        Box::pin(async move {
            Err(Error::InvalidArgument(format!(
                "this storage backend cannot append to {path}: use a durability mode without a \
                 write-ahead log (seal every batch)"
            )))
        })
    }

    /// Makes every byte appended to the object so far durable.
    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        let _ = path;
        Box::pin(async { Ok(()) })
    }

    /// Releases what the backend holds for this database (open files, locks). Called by
    /// `Db::close`; the storage is not used afterwards.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Refuses an object path that could leave a directory it is joined to: empty, absolute, or
/// with an empty, `.` or `..` segment (or a backslash or NUL, which some file systems read
/// as something else).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn check_relative(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.contains(['\\', '\0'])
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Error::InvalidArgument(format!(
            "invalid object path '{path}'"
        )));
    }
    Ok(())
}

/// An etag from the content itself (CRC32C and size), for backends whose store gives none:
/// equal tags, equal bytes.
#[cfg_attr(
    all(not(target_arch = "wasm32"), not(feature = "fusio")),
    allow(dead_code)
)]
pub(crate) fn content_etag(bytes: &[u8]) -> String {
    format!("{:08x}-{:x}", crc32c::crc32c(bytes), bytes.len())
}

/// Clamps `range` to an object of `len` bytes.
pub(crate) fn clamp(range: Range<u64>, len: u64) -> Range<u64> {
    let end = range.end.min(len);
    range.start.min(end)..end
}

#[cfg(test)]
mod tests;
