//! The manifest's handle on an SST: its record at once, the open file (footer, page index,
//! bloom filters) fetched on first use and cached.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::{Sst, SstMeta, overlaps};
use crate::error::Result;
use crate::schema::TableSchema;
use crate::storage::Storage;

/// An SST named by the manifest: its record at once, its footer on first use (then cached, so
/// a warm lookup costs only data-page reads).
#[derive(Debug)]
pub struct SstHandle {
    /// The SST's record.
    pub meta: SstMeta,
    opened: std::sync::Mutex<Option<Arc<Sst>>>,
    /// Its tail from the tail pack (`super::pack`), already checked against the record:
    /// parsed on first use instead of fetched.
    seeded: std::sync::Mutex<Option<Bytes>>,
    /// The path holds a void marker (`super::void`): the file never arrived and never will,
    /// so it reads as empty.
    void: std::sync::atomic::AtomicBool,
}

impl SstHandle {
    /// A handle that opens the file when first read.
    pub fn lazy(meta: SstMeta) -> Self {
        Self {
            meta,
            opened: std::sync::Mutex::new(None),
            seeded: std::sync::Mutex::new(None),
            void: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A handle on an SST already open (just written); `cache_blocks` as for [`Self::open`].
    pub fn opened(sst: Arc<Sst>, cache_blocks: bool) -> Self {
        sst.set_cache_blocks(cache_blocks);
        Self {
            meta: sst.meta.clone(),
            opened: std::sync::Mutex::new(Some(sst)),
            seeded: std::sync::Mutex::new(None),
            void: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the footer is cached.
    pub fn is_open(&self) -> bool {
        self.opened.lock().map(|o| o.is_some()).unwrap_or(false)
    }

    /// Offers the SST's tail from a tail pack. Kept only if it is the tail the manifest
    /// records (same length and CRC32C) and the file is not open yet; returns whether it was.
    pub fn seed_tail(&self, size: u64, tail: Bytes) -> bool {
        if !self.meta.vouches_for_tail(size, &tail) || self.is_open() {
            return false;
        }
        match self.seeded.lock() {
            Ok(mut s) => {
                *s = Some(tail);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the file was found void (it reads as empty).
    pub fn is_void(&self) -> bool {
        self.void.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records that the path holds a void marker. Final: a marker is never replaced.
    pub fn mark_void(&self) {
        self.void.store(true, std::sync::atomic::Ordering::Release);
    }

    /// The open SST, fetching its footer the first time.
    /// `cache_blocks`: whether its point reads go through the process's block cache.
    pub async fn open(
        &self,
        storage: &dyn Storage,
        table: &TableSchema,
        cache_blocks: bool,
    ) -> Result<Arc<Sst>> {
        if let Some(sst) = self.opened.lock().ok().and_then(|o| o.clone()) {
            return Ok(sst);
        }
        let seeded = self.seeded.lock().ok().and_then(|mut s| s.take());
        let sst = match seeded.map(|tail| Sst::from_tail(table, self.meta.clone(), tail)) {
            Some(Ok(sst)) => Arc::new(sst),
            // A tail that matched its checksum and still fails to parse is damaged in the file
            // too; the ranged read below reports it as the file's, not the pack's.
            Some(Err(_)) | None => Arc::new(Sst::open(storage, table, self.meta.clone()).await?),
        };
        sst.set_cache_blocks(cache_blocks);
        if let Ok(mut o) = self.opened.lock() {
            *o = Some(sst.clone());
        }
        Ok(sst)
    }

    /// Whether the SST's key range intersects `range`.
    pub fn overlaps(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
        overlaps(&self.meta.min_key, &self.meta.max_key, lo, hi)
    }
}
