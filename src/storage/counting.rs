//! Request accounting: a wrapper that counts every call by kind. On object stores requests are
//! the bill (and, in Workers, the subrequest budget), so every handle counts its own.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::Result;

/// Storage requests by kind. Subtract two readings ([`RequestCounts::since`]) to get the cost of
/// the operations between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Whole-object GETs.
    pub get: u64,
    /// Ranged GETs.
    pub get_range: u64,
    /// Unconditional PUTs.
    pub put: u64,
    /// Conditional PUTs (create-if-absent or if-match).
    pub put_conditional: u64,
    /// LISTs.
    pub list: u64,
    /// DELETEs.
    pub delete: u64,
    /// HEADs.
    pub head: u64,
    /// Appends (write-ahead log; file-like backends only).
    pub append: u64,
    /// Syncs (write-ahead log; file-like backends only).
    pub sync: u64,
    /// Bytes returned by GETs.
    pub bytes_read: u64,
    /// Bytes sent by PUTs and appends.
    pub bytes_written: u64,
}

impl RequestCounts {
    /// The requests made after `earlier` was read.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get: self.get.saturating_sub(earlier.get),
            get_range: self.get_range.saturating_sub(earlier.get_range),
            put: self.put.saturating_sub(earlier.put),
            put_conditional: self.put_conditional.saturating_sub(earlier.put_conditional),
            list: self.list.saturating_sub(earlier.list),
            delete: self.delete.saturating_sub(earlier.delete),
            head: self.head.saturating_sub(earlier.head),
            append: self.append.saturating_sub(earlier.append),
            sync: self.sync.saturating_sub(earlier.sync),
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
        }
    }

    /// Every GET, ranged or whole.
    pub fn gets(&self) -> u64 {
        self.get + self.get_range
    }

    /// Every PUT, conditional or not.
    pub fn puts(&self) -> u64 {
        self.put + self.put_conditional
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.gets() + self.puts() + self.list + self.delete + self.head + self.append + self.sync
    }
}

#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    get_range: AtomicU64,
    put: AtomicU64,
    put_conditional: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    head: AtomicU64,
    append: AtomicU64,
    sync: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

/// `fut`, its failure naming the call and the object (see [`crate::error::Error::during`]).
fn named<'a, T: 'a>(
    operation: &'static str,
    path: &'a str,
    fut: BoxFuture<'a, Result<T>>,
) -> BoxFuture<'a, Result<T>> {
    Box::pin(async move { fut.await.map_err(|e| e.during(operation, path)) })
}

/// Counts the requests made through it, then forwards them. Every table's storage passes
/// through one, so it is also where a storage failure gets the call and object it was about.
#[derive(Debug, Clone)]
pub struct CountingStorage {
    inner: Arc<dyn Storage>,
    counters: Arc<Counters>,
}

impl CountingStorage {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// Another storage counted into the same tallies (a WAL kept elsewhere).
    pub fn sibling(&self, inner: Arc<dyn Storage>) -> Self {
        Self {
            inner,
            counters: self.counters.clone(),
        }
    }

    /// The requests made so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            get: r(&c.get),
            get_range: r(&c.get_range),
            put: r(&c.put),
            put_conditional: r(&c.put_conditional),
            list: r(&c.list),
            delete: r(&c.delete),
            head: r(&c.head),
            append: r(&c.append),
            sync: r(&c.sync),
            bytes_read: r(&c.bytes_read),
            bytes_written: r(&c.bytes_written),
        }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &Arc<dyn Storage> {
        &self.inner
    }
}

impl Storage for CountingStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        bump(&self.counters.get);
        Box::pin(async move {
            let b = self
                .inner
                .get(path)
                .await
                .map_err(|e| e.during("get", path))?;
            add(&self.counters.bytes_read, b.len());
            Ok(b)
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        bump(&self.counters.get_range);
        Box::pin(async move {
            let b = self.inner.get_range(path, range).await;
            let b = b.map_err(|e| e.during("get_range", path))?;
            add(&self.counters.bytes_read, b.len());
            Ok(b)
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        match mode {
            PutMode::Overwrite => bump(&self.counters.put),
            _ => bump(&self.counters.put_conditional),
        }
        add(&self.counters.bytes_written, data.len());
        named("put", path, self.inner.put(path, data, mode))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        bump(&self.counters.list);
        named("list", prefix, self.inner.list(prefix))
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        bump(&self.counters.delete);
        named("delete", path, self.inner.delete(path))
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        bump(&self.counters.head);
        named("head", path, self.inner.head(path))
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        bump(&self.counters.get);
        Box::pin(async move {
            let got = self.inner.get_object(path).await;
            let (b, meta) = got.map_err(|e| e.during("get_object", path))?;
            add(&self.counters.bytes_read, b.len());
            Ok((b, meta))
        })
    }

    fn supports_append(&self) -> bool {
        self.inner.supports_append()
    }
    fn conditional_writes_native(&self) -> bool {
        self.inner.conditional_writes_native()
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        bump(&self.counters.append);
        add(&self.counters.bytes_written, data.len());
        named("append", path, self.inner.append(path, data))
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        bump(&self.counters.sync);
        named("sync", path, self.inner.sync(path))
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::error::Error;
    use crate::storage::{FaultMode, FaultStorage, MemoryStorage};

    #[test]
    fn a_storage_failure_names_its_call_and_object_as_fields() {
        let store = |mode| {
            CountingStorage::new(Arc::new(FaultStorage::new(
                MemoryStorage::new(),
                1,
                mode,
                7,
            )))
        };
        let err = block_on(store(FaultMode::Fail).get("sst/L0/x.parquet")).unwrap_err();
        let s = err.storage_details().unwrap();
        assert_eq!(s.operation, Some("get"), "{s:?}");
        assert_eq!(s.path.as_deref(), Some("sst/L0/x.parquet"), "{s:?}");
        assert!(!s.retryable, "{s:?}");
        let err = block_on(store(FaultMode::Transient).list("wal/")).unwrap_err();
        let s = err.storage_details().unwrap();
        assert_eq!(
            (s.operation, s.path.as_deref()),
            (Some("list"), Some("wal/"))
        );
        assert!(s.retryable && err.is_retryable(), "{s:?}");
        let err = block_on(store(FaultMode::Fail).put("m/HEAD", Bytes::new(), PutMode::CreateNew));
        let s = err.unwrap_err();
        let s = s.storage_details().unwrap();
        assert_eq!(
            (s.operation, s.path.as_deref()),
            (Some("put"), Some("m/HEAD"))
        );
        // Other errors carry no storage details.
        assert!(
            Error::Conflict("x".into())
                .during("put", "p")
                .storage_details()
                .is_none()
        );
    }
}
