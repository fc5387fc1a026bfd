//! A store that passes every call to an in-memory one and adds up what is written where: bytes
//! under `manifest/` and `sst/`, and writes of `manifest/HEAD` (each a compare-and-swap
//! attempt, won or lost). Below the latency wrapper, so it sees what reaches the store.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use anax::storage::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use bytes::Bytes;

#[derive(Debug, Default)]
pub struct Tally {
    pub inner: MemoryStorage,
    manifest_bytes: AtomicU64,
    sst_bytes: AtomicU64,
    head_writes: AtomicU64,
}

impl Tally {
    pub fn manifest_bytes(&self) -> u64 {
        self.manifest_bytes.load(Ordering::Relaxed)
    }
    pub fn sst_bytes(&self) -> u64 {
        self.sst_bytes.load(Ordering::Relaxed)
    }
    pub fn head_writes(&self) -> u64 {
        self.head_writes.load(Ordering::Relaxed)
    }
}

impl Storage for Tally {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get(path)
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get_range(path, range)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        let n = data.len() as u64;
        if path.starts_with("manifest/") {
            self.manifest_bytes.fetch_add(n, Ordering::Relaxed);
        } else if path.starts_with("sst/") {
            self.sst_bytes.fetch_add(n, Ordering::Relaxed);
        }
        if path == "manifest/HEAD" {
            self.head_writes.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.put(path, data, mode)
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anax::Result<Vec<ObjectMeta>>> {
        self.inner.list(prefix)
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        self.inner.delete(path)
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Option<ObjectMeta>>> {
        self.inner.head(path)
    }
    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<(Bytes, ObjectMeta)>> {
        self.inner.get_object(path)
    }
}
